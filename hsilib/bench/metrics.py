"""Benchmarks: the generator-metric suite (registered with hsilib.bench.register).

``metrics.protocol_200`` is the headline cost of the evaluation protocol:
:func:`evaluate_generator` on 200 synthetic vs 200 held-out real images of 64 x 64 x 16 (plus
200 training images for the floors and the memorisation check), Inception16 features at the
``quick`` profile's ``MetricsConfig.feature_size`` (139 px; InceptionV3 at 299 px takes ~50 s
for this suite on 2 CPU cores, so only the GPU ``full`` profile keeps 299), the chromophore
distances on 1000 pixels per set included, with the quick profile's equal-size repeats,
bootstrap intervals and detectability probe. The parts are timed separately to show where the
time goes. Measured on the idle 2-core development machine: 26.4 s, of which about 10 s are the
two detectability probes (value and floor).
"""

from __future__ import annotations

from . import register

N, SIZE = 200, 64


def _sets(seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    # smooth positive spectra with a darker blob, like normalised lesion crops
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, SIZE), torch.linspace(-1, 1, SIZE),
                            indexing="ij")
    ramp = torch.linspace(0.3, 0.8, 16).view(1, 16, 1, 1)

    def one_set():
        c = torch.rand(N, 2, 1, 1, generator=g) - 0.5
        blob = torch.exp(-((xx - c[:, :1]) ** 2 + (yy - c[:, 1:]) ** 2) / 0.2)
        noise = 0.02 * torch.randn(N, 16, SIZE, SIZE, generator=g)
        return (ramp * (1 - 0.6 * blob) + noise).clamp(0, 1)

    return one_set(), one_set(), one_set()


def _cfg():
    from .. import config

    return config.resolve("quick", "metrics")


@register("metrics.protocol_200", group="metrics",
          note="evaluate_generator, 200 vs 200 (+200 train) x 64x64x16, quick feature_size",
          unit="images", repeats=1)
def _protocol(cfg):
    from ..metrics.distribution import Inception16
    from ..metrics.protocol import evaluate_generator

    syn, train, held = _sets()
    mcfg = _cfg()
    net = Inception16(feature_size=mcfg.feature_size)
    return lambda: len(evaluate_generator(syn, train, held, cfg=mcfg, extractor=net,
                                          to_reflectance=lambda x: 0.6 * x)) and 3 * N


@register("metrics.inception_features_200", group="metrics",
          note="Inception16 features of 200 images 64x64x16, quick feature_size", unit="images")
def _features(cfg):
    from ..metrics.distribution import Inception16, extract_features

    syn, _, _ = _sets()
    mcfg = _cfg()
    net = Inception16(feature_size=mcfg.feature_size)
    return lambda: len(extract_features(syn, net, batch_size=mcfg.batch_size))


@register("metrics.chromophore_inversion_10k", group="metrics",
          note="physics.invert_spectra on 10 000 stand-in-like spectra", unit="spectra")
def _inversion(cfg):
    import numpy as np

    from .. import WAVELENGTHS_NM
    from ..metrics.physics import invert_spectra
    from ..standin.optics import skin_reflectance

    rng = np.random.default_rng(0)
    n = 10_000
    y = skin_reflectance(WAVELENGTHS_NM, f_mel_epi=rng.uniform(0.01, 0.3, n),
                         blood=rng.uniform(0.002, 0.04, n), sat=rng.uniform(0.4, 0.95, n),
                         mus_scale=rng.uniform(0.7, 1.4, n))
    return lambda: len(invert_spectra(y))
