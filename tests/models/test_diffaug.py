"""DiffAugment: only translation and cutout, and no output pixel ever mixes bands."""

import pytest
import torch

from hsilib.models.diffaug import cutout, diff_augment, translation


def _spectra_come_from_input_or_zero(x, y):
    for b in range(x.shape[0]):
        inp = x[b].flatten(1).T  # pixels x bands
        out = y[b].flatten(1).T
        zero = (out == 0).all(1)
        # every non-zero output spectrum equals some input spectrum exactly
        match = (out[:, None, :] == inp[None, :, :]).all(-1).any(1)
        assert bool((zero | match).all())


@pytest.mark.parametrize("policy", [("translation",), ("cutout",), ("translation", "cutout")])
def test_augmentation_never_mixes_bands(policy):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(6, 16, 12, 12, generator=gen) + 0.1  # strictly non-zero, all spectra distinct
    for _ in range(5):
        y = diff_augment(x, policy, generator=gen)
        assert y.shape == x.shape
        _spectra_come_from_input_or_zero(x, y)


def test_translation_shifts_by_integer_offsets_and_cutout_zeros_a_square():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(32, 4, 16, 16, generator=gen) + 0.1
    y = translation(x, generator=gen)
    moved = [not torch.equal(x[i], y[i]) for i in range(32)]
    assert any(moved)  # shifts of up to 2 px happen
    c = cutout(x, generator=gen)
    zeros = (c == 0).all(1).flatten(1).sum(1)
    assert zeros.max() <= 64 and zeros.max() > 0  # at most a (16/2)^2 square, per image


def test_reproducible_with_a_seeded_generator():
    x = torch.rand(4, 16, 8, 8)
    a = diff_augment(x, generator=torch.Generator().manual_seed(1))
    b = diff_augment(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", ["color", "brightness", "saturation", "contrast"])
def test_colour_ops_are_refused(bad):
    with pytest.raises(ValueError, match="spectrum-safe"):
        diff_augment(torch.zeros(1, 16, 8, 8), (bad,))
