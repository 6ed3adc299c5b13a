"""Worked answers to the "Try this" exercises of the notebooks, computed from a run folder.

One module per notebook (``nb01_preprocessing`` ... ``nb09_explainability``); every function
takes the run folder (``runs/quick``, say) and reads only the files the notebooks wrote there,
so an answer can be checked against any run, and ``tests/test_solutions.py`` checks them against
the test suite's ``smoke`` run. A missing file fails early, naming the notebook that writes it.
"""
