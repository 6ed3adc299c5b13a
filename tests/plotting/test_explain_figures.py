"""Notebook 09's figures on small made-up inputs: what they draw, and the figure rules."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from hsilib import WAVELENGTHS_NM  # noqa: E402
from hsilib.plotting import explain as figs  # noqa: E402

WL = np.asarray(WAVELENGTHS_NM, float)
RNG = np.random.default_rng(0)


def test_attribution_maps_share_one_stretch_per_method(keeps_rules):
    refl = torch.as_tensor(RNG.uniform(0.1, 0.6, (3, 16, 8, 8)), dtype=torch.float32)
    maps = {"ig": torch.randn(3, 8, 8), "gradcam": torch.rand(3, 8, 8)}
    fig = figs.plot_attribution_maps(refl, maps, ["MM\na", "DN\nb", "MM\nc"], WL)
    ig = [ax.images[0] for ax in fig.axes if ax.get_title() == figs.MAP_NAMES["ig"]]
    lim = float(maps["ig"].abs().max())
    assert len(ig) == 3 and all(im.get_clim() == (-lim, lim) for im in ig)
    grey = [ax.images[0] for ax in fig.axes if ax.get_title() == "band mean (false-RGB)"]
    assert len({im.get_clim() for im in grey}) == 1
    keeps_rules(fig)


def test_band_maps_and_band_choice(keeps_rules):
    a = torch.randn(16, 8, 8)
    fig = figs.plot_band_maps(a, torch.rand(16, 8, 8), WL, "IG per band")
    bands = [ax.images[0] for ax in fig.axes if ax.get_title().endswith(" nm")]
    assert len(bands) == 16 and {im.get_clim() for im in bands} == {(-float(a.abs().max()),
                                                                     float(a.abs().max()))}
    keeps_rules(fig)
    fig = figs.plot_band_choice(RNG.random(16), [3, 0], WL)
    colours = [p.get_facecolor() for p in fig.axes[0].patches]
    assert colours[3] == colours[0] != colours[1]
    keeps_rules(fig)


def test_relevance_spectra_and_chromophores(keeps_rules):
    rows = [dict(method=m, seed="all", **{"class": c}, region=r, wavelength_nm=w, mean=v,
                 lo=v - 0.1, hi=v + 0.1, n_crops=4)
            for m in ("ig", "gradcam") for c in ("MM", "DN") for r in ("lesion", "skin")
            for w, v in zip(WL, RNG.normal(size=16), strict=True)]
    fig = figs.plot_relevance_spectra(pd.DataFrame(rows), ["ig", "gradcam"])
    assert len(fig.axes) == 4 and len(fig.axes[0].get_lines()) >= 3
    keeps_rules(fig)
    absorption = pd.DataFrame({"wavelength_nm": WL, **{k: np.linspace(1, 10, 16)
                                                       for k in figs.ABSORBER_COLOURS}})
    rel = RNG.random(16)
    fig = figs.plot_chromophore_agreement(WL, rel, rel - 0.1, rel + 0.1, RNG.random(16),
                                          absorption, "IG vs chromophores")
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), rel / (rel + 0.1).max())
    keeps_rules(fig)


def test_variants_and_synthetic_families(keeps_rules):
    u = pd.DataFrame([dict(metric="auroc", config=c, mean=0.7, **{f"{k}_{e}": 0.7 + s * 0.1
                     for k in ("runs", "boot", "delong") for e, s in (("lo", -1), ("hi", 1))})
                      for c in ("bands16", "rgb", "grey")])
    fig = figs.plot_variants(u, {"bands16": "16 bands"})
    keeps_rules(fig)
    fams = ["fastgan", "vae", "shsgan_critic_3d_sn_fft", "stylegan2"]
    spectra = {(f, "MM"): RNG.normal(size=(2, 16)) for f in [*fams, "real"]}
    fig = figs.plot_family_spectra(spectra, "MM", WL)
    real = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "real (validation)"]
    assert real and real[0].get_color() == "black"
    keeps_rules(fig)
    table = pd.DataFrame({"class": "MM", "family": fams, "value": [0.1, 0.2, 0.3, 0.4],
                          "ci_low": 0.05, "ci_high": 0.5, "floor": 0.08})
    keeps_rules(figs.plot_family_distances(table, "MM"))
