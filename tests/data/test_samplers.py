"""The generators' samplers: batches are pure functions of (seed, step, k), masks and labels
move with their images, flips and rotations only permute pixels, and the two sides of an
unpaired batch are drawn independently."""

import numpy as np
import pytest
import torch

from hsilib.data.samplers import RGB_SEED_OFFSET, TensorSampler, UnpairedSampler, flip_rotate


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
