"""Perceptual scores of the CIE renderings (MS-GMSD, MDSI, HaarPSI): piq's own values on a
hand-made pair, the best value for identical images, and their rows in the protocol."""

from __future__ import annotations

import numpy as np
import piq
import pytest
import torch

from hsilib import WAVELENGTHS_NM, config
from hsilib.metrics import perceptual, protocol
from hsilib.standin.rendering import cube_to_rgb


def _hand_made_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 2-image reflectance sets, 40 px: skin with a brown disc, and the same scene with a
    larger, darker disc shifted by 4 px (a lesion that grew)."""
    yy, xx = np.mgrid[0:40, 0:40]
    wl = np.linspace(0, 1, 16)[:, None, None]
    skin = 0.3 + 0.35 * wl

    def scene(radius, depth, shift):
        disc = ((yy - 20 - shift) ** 2 + (xx - 20) ** 2) < radius ** 2
        return skin * np.where(disc, np.exp(-depth * (1.1 - wl)), 1.0)

    a = np.stack([scene(8, 0.8, 0), scene(5, 1.2, 2)])
    b = np.stack([scene(10, 1.4, 4), scene(5, 1.2, 3)])
    return torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)


def test_the_rendering_is_the_cie_rendering_of_notebook_01():
    a, _ = _hand_made_pair()
    want = cube_to_rgb(a[0].permute(1, 2, 0).numpy().astype(np.float64), WAVELENGTHS_NM)
    got = perceptual.render_srgb(a)[0].permute(1, 2, 0).numpy()
    assert got.shape == (40, 40, 3)
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_scores_equal_piq_on_a_hand_made_pair():
    a, b = _hand_made_pair()
    x, y = perceptual.render_srgb(a), perceptual.render_srgb(b)
    got = perceptual.perceptual_terms(a, b)
    want = {"MS_GMSD": piq.multi_scale_gmsd(x, y, data_range=1.0, reduction="none"),
            "MDSI": piq.mdsi(x, y, data_range=1.0, reduction="none"),
            "HaarPSI": piq.haarpsi(x, y, data_range=1.0, reduction="none")}
    assert set(got) == set(perceptual.BEST) == set(want)
    for k in want:
        assert got[k].shape == (2,)
        torch.testing.assert_close(got[k], want[k])
    # the pair that differs more (image 0: larger, darker, shifted disc) scores worse
    assert got["MS_GMSD"][0] > got["MS_GMSD"][1] > 0
    assert got["MDSI"][0] > got["MDSI"][1] > 0
    assert got["HaarPSI"][0] < got["HaarPSI"][1] < 1


@pytest.mark.parametrize("side", [12, 40])
def test_identical_images_score_the_best_value(side):
    a, _ = _hand_made_pair()
    a = torch.nn.functional.interpolate(a, size=(side, side), mode="bilinear")
    scores = perceptual.perceptual_terms(a, a.clone())
    for k, best in perceptual.BEST.items():
        torch.testing.assert_close(scores[k], torch.full((2,), best), atol=1e-5, rtol=0)
    # small renderings are enlarged to the side MS-GMSD needs
    assert perceptual.render_srgb(a).shape[-1] == max(side, perceptual.MIN_SIDE)


def test_bad_input_is_refused_early():
    a, b = _hand_made_pair()
    with pytest.raises(ValueError, match="N x 3 x S x S"):
        perceptual.perceptual_scores(perceptual.render_srgb(a), perceptual.render_srgb(b[:1]))
    with pytest.raises(ValueError, match="N x B x H x W"):
        perceptual.render_srgb(a[0])


def _cfg() -> config.MetricsConfig:
    return config.MetricsConfig(batch_size=5, n_boot=50, n_boot_set=10, n_repeats=1,
                                probe_epochs=0, n_pixels=1000, n_pixels_physics=100)


class _Mean(torch.nn.Module):
    score_name = "FD_mean"

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_protocol_rows_pair_like_ssim_with_a_real_vs_real_floor(smooth_images):
    held = smooth_images(8, size=32, seed=4)
    gen = torch.Generator().manual_seed(0)
    perm = torch.tensor([3, 0, 6, 1, 7, 2, 5, 4])
    # noisy copies: each synthetic image pairs with its own original, each training image
    # with held[perm[i]] (nearest neighbours by construction)
    noisy = (held + 0.02 * torch.randn(held.shape, generator=gen)).clamp(1e-3, 1)
    train = (held[perm] + 0.04 * torch.randn(held.shape, generator=gen)).clamp(1e-3, 1)

    def to_refl(x):
        return 0.8 * x

    table = protocol.evaluate_generator(noisy, train, held, extractor=_Mean(), cfg=_cfg(),
                                        to_reflectance=to_refl).set_index("metric")
    direct = perceptual.perceptual_terms(to_refl(noisy), to_refl(held))
    floor = perceptual.perceptual_terms(to_refl(train), to_refl(held[perm]))
    for k in perceptual.BEST:
        assert table.kind[k] == "paired to nearest real"
        assert table.value[k] == pytest.approx(float(direct[k].double().mean()), rel=1e-5)
        assert table.floor[k] == pytest.approx(float(floor[k].double().mean()), rel=1e-5)
        assert table.ci_low[k] <= table.value[k] <= table.ci_high[k]
        assert "rendered to sRGB" in table.note[k]
    # held-out copies reach the best value; without reflectance there is no rendering
    copies = protocol.evaluate_generator(held.clone(), train, held, extractor=_Mean(),
                                         cfg=_cfg(), to_reflectance=to_refl)
    copies = copies.set_index("metric")
    for k, best in perceptual.BEST.items():
        assert copies.value[k] == pytest.approx(best, abs=1e-5)
    plain = protocol.evaluate_generator(noisy, train, held, extractor=_Mean(), cfg=_cfg())
    assert not set(perceptual.BEST) & set(plain.metric)
