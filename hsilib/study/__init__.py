"""The study logic of the classifier notebooks (06, later 07 and 08), apart from training
(:mod:`hsilib.train`) and from figures (:mod:`hsilib.plotting`).

=====================  =========================================================================
idea                   module
=====================  =========================================================================
the plan               :mod:`hsilib.study.plan`: :class:`~hsilib.study.plan.Experiment`,
                       :func:`~hsilib.study.plan.plan_experiments`, ``BASELINE``, ``MAIN``
running the grid       :mod:`hsilib.study.grid`: :func:`~hsilib.study.grid.run_grid` runs every
                       (experiment, seed) cell once, stores each atomically, skips stored cells
                       on rerun; the executor (where cells run) is pluggable
statistics             :mod:`hsilib.study.stats`: per-seed metrics, summary tables with CIs,
                       paired comparisons with Holm's correction, confusion counts
generated prose        :mod:`hsilib.study.conclusions`: the closing text, from the numbers
=====================  =========================================================================

Melanoma is the positive class in every number.
"""
