"""Training batches for the generators: deterministic per-step samplers of dict batches.

A generator's trainer (:class:`hsilib.train.trainer.Trainer`) asks its sampler for
``batch(step, k)``: the ``k``-th batch of step ``step`` (``k > 0`` for extra critic updates), a
dict with ``image`` and, as present, ``label``, ``mask``, ``rgb``. Every sampler here derives
that batch from ``(seed, step, k)`` alone, with no iterator state, so a run resumed at step t
sees the batches an uninterrupted run would have seen.

- :class:`TensorSampler`: batches of in-memory tensors (images and what belongs to each image);
- :class:`UnpairedSampler`: batches of two unpaired sets, cubes and RGB images drawn
  independently (the RGB-to-hyperspectral SHS-GAN of notebook 02, CycleGAN in notebook 04);
- :func:`flip_rotate`: the default augmentation, a random flip and 90-degree rotation per item;
- :func:`affine_crop`: the study's shift-scale-rotate and random crop on top of it (geometric
  only), chosen by a generator config's ``train_augment`` (:func:`augmentation`).

Introduced in notebook 03 (the trainer of every generator family)::

    sampler = TensorSampler({"image": images, "mask": masks}, batch_size=8, seed=0)
    batch = sampler.batch(step=10)              # the same dict at every call
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

#: seed offset of the RGB side of an :class:`UnpairedSampler` (independent of the cube side)
RGB_SEED_OFFSET = 1_000_003


def flip_rotate(item: dict[str, torch.Tensor], rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """One random horizontal/vertical flip and 90-degree rotation (lesions have no
    orientation), the same for every image-like entry of ``item`` (``image``, ``mask``,
    ``rgb``: tensors with at least 2 dims, the last two spatial); labels pass unchanged.
    Pure pixel permutations: spectra are never changed or mixed."""
    flip_w, flip_h, turns = rng.random() < 0.5, rng.random() < 0.5, int(rng.integers(4))

    def move(x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            return x
        x = x.flip(-1) if flip_w else x
        x = x.flip(-2) if flip_h else x
        return torch.rot90(x, turns, dims=(-2, -1))

    return {k: move(v) for k, v in item.items()}


#: The study's shift-scale-rotate (albumentations ``Affine``, applied with probability 0.75)
#: and random crop (``SmallestMaxSize(1.125 size)`` + ``RandomCrop(size)``) of
#: :func:`hsilib.data.datasets.train_transforms`
AFFINE_P, SHIFT, SCALE, ROTATE_DEG, CROP_ZOOM = 0.75, 0.0625, (0.9, 1.1), 20.0, 1.125
#: entries resampled with nearest neighbour (they are labels of pixels, not measurements)
NEAREST = ("mask",)


def affine_crop(item: dict[str, torch.Tensor], rng: np.random.Generator
                ) -> dict[str, torch.Tensor]:
    """:func:`flip_rotate`, then the study's shift-scale-rotate and random crop, one geometric
    transform for every image-like entry of ``item`` (every band of ``image``, its ``mask``,
    its ``rgb``); labels pass unchanged.

    With probability :data:`AFFINE_P` a shift of up to :data:`SHIFT` of the side per axis, a
    zoom in :data:`SCALE` and a rotation of up to :data:`ROTATE_DEG` degrees; then the image
    is enlarged by :data:`CROP_ZOOM` and a random window of the original side is kept. Both
    are one resampling (``grid_sample``, reflection at the borders): bilinear for images, so
    each output spectrum is a convex combination of neighbouring input spectra with the same
    weights in every band (a constant image stays constant; bands are never mixed), nearest
    for :data:`NEAREST` entries (a mask stays binary and moves with its image)."""
    item = flip_rotate(item, rng)
    # output -> input coordinates in [-1, 1]: the crop window of the zoomed image, then the
    # inverse of the affine map
    shift = rng.uniform(-1, 1, 2) * (CROP_ZOOM - 1) / CROP_ZOOM  # window centre
    crop = np.array([[1 / CROP_ZOOM, 0, shift[0]], [0, 1 / CROP_ZOOM, shift[1]], [0, 0, 1]])
    affine = np.eye(3)
    if rng.random() < AFFINE_P:
        t = rng.uniform(-SHIFT, SHIFT, 2) * 2  # a fraction of the side in [-1, 1] units
        zoom, angle = rng.uniform(*SCALE), math.radians(rng.uniform(-ROTATE_DEG, ROTATE_DEG))
        c, s = math.cos(angle), math.sin(angle)
        forward = np.array([[zoom * c, -zoom * s, t[0]], [zoom * s, zoom * c, t[1]], [0, 0, 1]])
        affine = np.linalg.inv(forward)
    theta = torch.from_numpy((affine @ crop)[:2]).float()[None]

    def move(name: str, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            return x
        flat = x.reshape(1, -1, *x.shape[-2:]).float()
        grid = F.affine_grid(theta, list(flat.shape), align_corners=False)
        out = F.grid_sample(flat, grid, mode="nearest" if name in NEAREST else "bilinear",
                            padding_mode="reflection", align_corners=False)
        return out.reshape(x.shape).to(x.dtype)

    return {k: move(k, v) for k, v in item.items()}


#: the generators' training augmentations by name (a generator config's ``train_augment``)
AUGMENTATIONS: dict[str, Callable] = {"flip_rotate": flip_rotate, "affine_crop": affine_crop}


def augmentation(name: str) -> Callable:
    """The training augmentation called ``name`` (:data:`AUGMENTATIONS`)."""
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown training augmentation {name!r}; choose one of "
                         f"{', '.join(AUGMENTATIONS)}")
    return AUGMENTATIONS[name]


class TensorSampler:
    """Batches from in-memory tensors of equal length N, a pure function of ``(seed, step, k)``.

    ``data`` maps names (``image``, ``label``, ``mask``, ``rgb``) to tensors whose first
    dimension indexes the same N items; a bare tensor means ``{"image": tensor}``. Each batch
    draws ``batch_size`` items (with replacement only when N is smaller). ``augment(item,
    rng)`` (default :func:`flip_rotate`; None for none) runs per item with the step's NumPy
    generator.
    """

    def __init__(self, data: Mapping[str, torch.Tensor] | torch.Tensor, batch_size: int,
                 seed: int = 0, augment: Callable | None = flip_rotate) -> None:
        data = {"image": data} if isinstance(data, torch.Tensor) else dict(data)
        image = data.get("image")
        if image is None or image.dim() != 4 or len(image) == 0:
            raise ValueError("data['image'] must be a non-empty N x C x H x W tensor, got "
                             f"{None if image is None else tuple(image.shape)}")
        bad = [k for k, v in data.items() if len(v) != len(image)]
        if bad:
            raise ValueError(f"data entries {bad} do not have {len(image)} items like 'image'")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.data, self.batch_size, self.seed, self.augment = data, batch_size, seed, augment

    def __len__(self) -> int:
        return len(self.data["image"])

    def batch(self, step: int, k: int = 0) -> dict[str, torch.Tensor]:
        """The ``k``-th batch of step ``step`` (k > 0 for extra critic updates)."""
        rng = np.random.default_rng([self.seed, step, k])
        idx = torch.as_tensor(rng.choice(len(self), self.batch_size,
                                         replace=len(self) < self.batch_size))
        batch = {name: v[idx] for name, v in self.data.items()}
        if self.augment is None:
            return batch
        items = [self.augment({n: v[i] for n, v in batch.items()}, rng)
                 for i in range(self.batch_size)]
        return {n: torch.stack([it[n] for it in items]) for n in batch}


class UnpairedSampler:
    """Batches of two unpaired sets: ``image`` from ``cubes`` and ``rgb`` from ``rgb``.

    Each side is a :class:`TensorSampler` with its own flips and rotations; the RGB side's seed
    is ``seed + RGB_SEED_OFFSET``, so the two draws are independent, and a batch is a pure
    function of ``(seed, step, k)`` as the trainer's resume needs (the trainer sets ``seed``
    from a checkpoint). ``len`` is the number of cubes (the ids a trainer records are the
    cubes'). ``rgb`` (M x C x H x W) must have the cubes' side; M may differ from N.
    ``augment`` as in :class:`TensorSampler`, for both sides.
    """

    def __init__(self, cubes: torch.Tensor, rgb: torch.Tensor, batch_size: int,
                 seed: int = 0, augment: Callable | None = flip_rotate) -> None:
        if rgb.dim() != 4 or rgb.shape[-2:] != cubes.shape[-2:]:
            raise ValueError(f"rgb must be N x C x {cubes.shape[-2]} x {cubes.shape[-1]} (the "
                             f"cubes' side), got {tuple(rgb.shape)}")
        self.cubes = TensorSampler({"image": cubes}, batch_size, seed, augment)
        self.rgb = TensorSampler({"image": rgb}, batch_size, seed + RGB_SEED_OFFSET, augment)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.cubes)

    def batch(self, step: int, k: int = 0) -> dict[str, torch.Tensor]:
        self.cubes.seed, self.rgb.seed = self.seed, self.seed + RGB_SEED_OFFSET
        return {"image": self.cubes.batch(step, k)["image"],
                "rgb": self.rgb.batch(step, k)["image"]}
