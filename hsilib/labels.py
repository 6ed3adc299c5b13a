"""The lesion classes and their labels: the one map every module reads.

Melanoma (MM) is the positive class of every classifier and metric; dysplastic nevi (DN) are the
negative class; "Other" lesions belong to the data set but not to the binary task (label -1).
"""

CLASSES = ("MM", "DN", "Other")
LABELS = {"MM": 1, "DN": 0, "Other": -1}
POSITIVE_CLASS = "MM"
BINARY_CLASSES = ("MM", "DN")  # the classes of the melanoma-vs-nevus task, positive first
