"""The generators' samplers: batches are pure functions of (seed, step, k), masks and labels
move with their images, flips and rotations only permute pixels, and the two sides of an
unpaired batch are drawn independently."""

from typing import get_args, get_type_hints

import numpy as np
import pytest
import torch

from hsilib import config
from hsilib.data.samplers import (
    AUGMENTATIONS,
    RGB_SEED_OFFSET,
    TensorSampler,
    UnpairedSampler,
    affine_crop,
    augmentation,
    flip_rotate,
)
from hsilib.train.trainer import make_trainer


def _images(n=10, size=32, bands=16, seed=1):
    return torch.rand(n, bands, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_sampler_is_a_pure_function_of_seed_and_step():
    imgs = _images(5)
    s = TensorSampler(imgs, 4, seed=3)
    assert torch.equal(s.batch(10)["image"], s.batch(10)["image"])
    assert not torch.equal(s.batch(10)["image"], s.batch(11)["image"])
    assert not torch.equal(s.batch(10, k=0)["image"], s.batch(10, k=1)["image"])
    with pytest.raises(ValueError, match="N x C x H x W"):
        TensorSampler(imgs[0], 4)
    with pytest.raises(ValueError, match=r"\['label'\]"):
        TensorSampler({"image": imgs, "label": torch.zeros(4)}, 4)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        TensorSampler(imgs, 0)


def test_dict_batches_move_masks_with_their_images():
    imgs = _images(6, size=8)
    masks = (imgs[:, 0] > 0).float()  # a mask that is a function of the image's band 0
    labels = torch.arange(6)
    s = TensorSampler({"image": imgs, "mask": masks, "label": labels}, 5, seed=0)
    for step in range(5):
        b = s.batch(step)
        assert torch.equal(b["mask"], (b["image"][:, 0] > 0).float())  # same flips and turns
        for img, lab in zip(b["image"], b["label"], strict=True):  # labels follow their images
            src = imgs[lab]
            assert torch.equal(torch.sort(img.flatten()).values, torch.sort(src.flatten()).values)


def test_flip_rotate_only_permutes_pixels():
    x = torch.rand(16, 8, 8)
    y = flip_rotate({"image": x, "label": torch.tensor(1)}, np.random.default_rng(0))
    assert y["label"] == 1
    sa, sb = x.flatten(1).T, y["image"].flatten(1).T
    assert torch.equal(sa[torch.argsort(sa[:, 0])], sb[torch.argsort(sb[:, 0])])


def test_unpaired_sampler_draws_the_two_sides_independently_and_deterministically():
    cubes, rgb = _images(6), torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    s = UnpairedSampler(cubes, rgb, 3, seed=5)
    a, b = s.batch(7, 1), s.batch(7, 1)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["rgb"], b["rgb"])
    assert a["image"].shape == (3, 16, 32, 32) and a["rgb"].shape == (3, 3, 32, 32)
    assert len(s) == 6  # the cubes are the training images
    # each side is the TensorSampler of its own seed: the RGB side is offset, not shared
    assert torch.equal(a["image"], TensorSampler(cubes, 3, seed=5).batch(7, 1)["image"])
    assert torch.equal(a["rgb"], TensorSampler(rgb, 3, seed=5 + RGB_SEED_OFFSET).batch(7, 1)[
        "image"])
    s.seed = 6  # what a trainer does when it resumes from a checkpoint
    assert torch.equal(s.batch(7, 1)["rgb"],
                       TensorSampler(rgb, 3, seed=6 + RGB_SEED_OFFSET).batch(7, 1)["image"])
    plain = UnpairedSampler(cubes, rgb, 3, seed=5, augment=None)  # no flips: drawn cubes as is
    idx = np.random.default_rng([5, 0, 0]).choice(6, 3, replace=False)
    assert torch.equal(plain.batch(0)["image"], cubes[torch.as_tensor(idx)])
    with pytest.raises(ValueError, match="rgb must be"):
        UnpairedSampler(cubes, torch.rand(4, 3, 16, 16), 2)


# --------------------------------------------------------------------------------------------
# The study's shift-scale-rotate and random crop (a generator config's train_augment)
# --------------------------------------------------------------------------------------------
def test_affine_crop_keeps_a_constant_spectrum_at_every_pixel():
    """Geometric only: on an image whose every pixel has one spectrum, every output pixel has
    that spectrum (bilinear weights sum to one, the same in every band)."""
    spectrum = torch.linspace(0.05, 0.9, 16)
    x = spectrum.view(16, 1, 1).expand(16, 24, 24).clone()
    for seed in range(20):
        y = affine_crop({"image": x}, np.random.default_rng(seed))["image"]
        assert y.shape == x.shape
        torch.testing.assert_close(y, x, atol=1e-6, rtol=0)


def test_affine_crop_moves_masks_with_their_images():
    """A mask drawn into band 0 of the image: after the transform the mask (nearest
    neighbour) still marks where band 0 is bright, both have moved, and the mask stays
    binary. Every other band, constant, keeps its value."""
    mask = torch.zeros(32, 32)
    mask[6:18, 9:25] = 1
    image = torch.full((16, 32, 32), 0.3)
    image[0] = mask
    moved = 0
    for seed in range(20):
        out = affine_crop({"image": image, "mask": mask, "label": torch.tensor(1)},
                          np.random.default_rng(seed))
        m, band = out["mask"], out["image"][0]
        assert set(m.unique().tolist()) <= {0.0, 1.0} and out["label"] == 1
        assert ((band > 0.5).float() != m).float().mean() < 0.05  # only rim pixels differ
        torch.testing.assert_close(out["image"][1:], image[1:], atol=1e-6, rtol=0)
        moved += not torch.equal(m, mask)
    assert moved == 20


def test_train_augment_chooses_the_sampler_augmentation():
    imgs = _images(4, size=32)
    assert set(AUGMENTATIONS) == set(get_args(
        get_type_hints(config.GeneratorConfig)["train_augment"]))
    plain = make_trainer(config.resolve("smoke", "vae"), imgs, seed=0, device="cpu")
    geo = make_trainer(config.resolve("smoke", "vae", train_augment="affine_crop"), imgs,
                       seed=0, device="cpu")
    assert plain.sampler.augment is flip_rotate and geo.sampler.augment is affine_crop
    assert augmentation("affine_crop") is affine_crop
    with pytest.raises(ValueError, match="unknown training augmentation 'colour'"):
        augmentation("colour")
