"""The generator-study layer of notebooks 02-05: one way to train, sample, evaluate, record,
export and audit a generator family, whatever the family.

=====================  =========================================================================
idea                   module
=====================  =========================================================================
replicate data         :mod:`~hsilib.study.generators.data`: the training and validation crops
                       of each class for a replicate (a generator seed on notebook 01's split,
                       or a cross-validation fold with its own table and training-split
                       normaliser), masks, source images, the [0, 1] <-> [-1, 1] conversions
the study              :mod:`~hsilib.study.generators.study`: :class:`GeneratorStudy` (the
                       replicates and their names ``g0`` / ``f0``, training seeds, data,
                       reflectance; :meth:`~GeneratorStudy.train` one run,
                       :meth:`~GeneratorStudy.train_family` one per class and replicate;
                       sample, evaluate with the metric protocol, record in
                       ``generator_metrics.csv``, export, audit) and :class:`Family`
tables               :mod:`~hsilib.study.generators.tables`: checks 5 and 7, training budgets,
                       two families side by side, family means of recorded results
notebook 02            :mod:`~hsilib.study.generators.arms`: the ablation's arms
notebooks 02, 04       :mod:`~hsilib.study.generators.camera`: the stand-in's camera
                       photographs cut like the crops (the RGB-to-HS models' second input)
notebook 03, part II   :mod:`~hsilib.study.generators.latent`: SeFa traversals, inversion
notebook 04            :mod:`~hsilib.study.generators.conditional`: shape fidelity,
                       RGB <-> 16-band reconstructions, shared vs per-class generators
notebook 05            :mod:`~hsilib.study.generators.vae`: reconstructions, sample scores,
                       the KL-weight sweep
=====================  =========================================================================

The text the notebooks generate from these tables lives in
:mod:`hsilib.study.generator_conclusions`.
"""

from .data import ReplicateData, convert
from .study import Family, GeneratorRun, GeneratorStudy, lighter_protocol

__all__ = ["Family", "GeneratorRun", "GeneratorStudy", "ReplicateData", "convert",
           "lighter_protocol"]
