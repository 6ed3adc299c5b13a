"""Every figure of the notebooks, one module per subject; nothing here computes a statistic.

=====================  =========================================================================
idea                   module
=====================  =========================================================================
saving a figure,       :mod:`hsilib.plotting.core` (:func:`savefig`, re-exported here as
smoothing a curve      ``plotting.savefig``: PNG and PDF, atomic, code names in words;
                       :func:`running_mean` and :func:`smoothing_window` for loss curves)
house style,           :mod:`hsilib.plotting.style` (code names in words, palette with real data
figure rules           in black, type sizes) and :mod:`hsilib.plotting.rules` (each figure's
                       record in its PNG; the rules checked on it)
the data (nb 01)       :mod:`hsilib.plotting.data`: cubes and single bands, segmentation
                       overlays, crop grids, lesion and skin spectra per class
generators (nb 03-05)  :mod:`hsilib.plotting.gan`: real vs synthetic sample grids, mean
                       spectra, loss curves
classifiers (nb 06)    :mod:`hsilib.plotting.classifiers`: bars with CIs, learning curves, ROC
                       curves, confusion matrices (numbers from :mod:`hsilib.study.stats`)
metric correlation     :mod:`hsilib.plotting.correlation`: the oracle ladder's crops, the
(nb 08)                calibration heat map, utilities per state, the ladder and the run's
                       generators on each metric's axis, metric x utility heat map and forest
                       plot with the study's |r| bound, metric x metric matrix
explainability (nb 09) :mod:`hsilib.plotting.explain`: relevance spectra with the absorbers
                       marked, attribution maps, chromophore agreement, input variants' AUROC,
                       the synthetic families' relevance and distances
=====================  =========================================================================

The figure modules import matplotlib (and torch) when imported; ``import hsilib.plotting``
alone does not.
"""

from .core import running_mean, savefig, smoothing_window

__all__ = ["running_mean", "savefig", "smoothing_window"]
