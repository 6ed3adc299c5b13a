"""Export synthetic crops from any generator checkpoint, in the crop-folder format of notebook 01.

The classifiers (notebook 06) read these folders with the same
:class:`~hsilib.data.datasets.CropDataset` as the real crops. Every crop is flagged
``is_synthetic=True`` and carries the generator name, the first 12 hex digits of the
checkpoint's SHA-256 and the export seed; values are reflectance (the normaliser's inverse of
the generator's [-1, 1] output), masks are all zeros. Any family registered in
:mod:`hsilib.models.registry` exports the same way: the checkpoint names its family, and the
images come from the objective's ``sample(n, seed=..., **condition)``.

Optional quality filtering keeps the ``filter_top_fraction`` of generated samples that the
trained critic (the objective's ``score``) rates highest (discriminator-based rejection
sampling, as used with StyleGAN2 for dermoscopy): ``ceil(n / fraction)`` samples are drawn
and the best ``n`` kept. The kept fraction and the scores are recorded in ``export.json``
beside ``index.csv``.

The writing half is :func:`write_synthetic`: images in the generator's [-1, 1] range in, a
flagged crop folder out. Notebook 06 also feeds it REAL training crops (normalised to [-1, 1]),
to check that the export path keeps the labels and the spectra (train on that folder, test
real: it must score like training on the real crops).

Introduced in notebook 03 (one export per class and generator seed ``g``)::

    table = export_synthetic(run.checkpoints / "fastgan_mm_g0.pt",
                             run.synthetic("fastgan_mm_g0"), n=100, cls="MM",
                             normaliser=norm, seed=0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .data.crop_folder import write_crop_folder
from .data.normaliser import BandNormaliser
from .labels import LABELS
from .models import registry
from .paths import atomic_path, check_output_dir
from .runtime import device as pick_device


def export_synthetic(checkpoint: str | Path, out_dir: str | Path, *, n: int, cls: str,
                     normaliser: BandNormaliser | str | Path, seed: int = 0,
                     batch_size: int = 32, filter_top_fraction: float = 1.0,
                     generator_name: str | None = None, condition: dict[str, Any] | None = None,
                     device: Any = "auto") -> pd.DataFrame:
    """Write ``n`` synthetic crops of class ``cls`` from ``checkpoint`` into ``out_dir``.

    Returns the written ``index.csv`` table. ``normaliser`` (or its JSON path) must be the one
    the generator was trained with (``splits/normalisation.json``); ``condition`` goes to the
    objective's ``sample`` (e.g. a class for a conditional generator). Ids are
    ``<generator_name>_<cls lower>_<NNNN>``, the name defaulting to the checkpoint's family.
    The folder is replaced atomically; an ``out_dir`` that holds (or lies inside) the checkpoint
    or the normaliser file is refused before anything is generated.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 < filter_top_fraction <= 1:
        raise ValueError(f"filter_top_fraction must be in (0, 1], got {filter_top_fraction}")
    if cls not in LABELS:
        raise ValueError(f"cls must be one of {list(LABELS)}, got {cls!r}")
    inputs = (checkpoint, None if isinstance(normaliser, BandNormaliser) else normaliser)
    check_output_dir(out_dir, inputs)  # never replace a folder holding an input
    objective, ckpt = registry.load(checkpoint, pick_device(device))
    generator_name = generator_name or ckpt["family"]
    sha = registry.file_sha256(checkpoint)
    condition = condition or {}
    filtering = filter_top_fraction < 1
    n_draw = math.ceil(n / filter_top_fraction) if filtering else n
    images = objective.sample(n_draw, seed=seed, batch_size=batch_size, **condition)
    scores = objective.score(images, **condition).numpy() if filtering else None
    keep = np.sort(np.argsort(-scores, kind="stable")[:n]) if filtering else np.arange(n)
    table = write_synthetic(images[torch.as_tensor(keep)], out_dir, cls=cls,
                            normaliser=normaliser, generator=generator_name,
                            checkpoint_sha=sha, seed=seed, inputs=inputs)
    sidecar = {"checkpoint": str(checkpoint), "checkpoint_sha": sha, "family": ckpt["family"],
               "step": ckpt["step"], "generator": generator_name,
               "class": cls, "seed": seed, "n": n, "n_generated": n_draw,
               # a per-image condition (masks, RGB images) is recorded by its shape
               "condition": {k: f"tensor {list(v.shape)}" if torch.is_tensor(v) else v
                             for k, v in condition.items()},
               "filter_top_fraction": filter_top_fraction, "kept_fraction": n / n_draw,
               "kept_indices": keep.tolist(),
               "scores": None if scores is None else [float(s) for s in scores]}
    with atomic_path(Path(out_dir) / "export.json") as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2))
    return table



def write_synthetic(images: torch.Tensor, out_dir: str | Path, *, cls: str,
                    normaliser: BandNormaliser | str | Path, generator: str,
                    checkpoint_sha: str = "", seed: int = -1,
                    sources: Sequence[str] | None = None,
                    inputs: Sequence[str | Path | None] = ()) -> pd.DataFrame:
    """Write ``images`` (N x B x S x S in the generator's [-1, 1] range) as a synthetic crop
    folder of class ``cls``; returns its ``index.csv`` table.

    Values are mapped back to reflectance with ``normaliser``'s inverse ("symmetric" range);
    every crop is flagged ``is_synthetic`` with ``generator``, ``checkpoint_sha`` and ``seed``;
    masks are all zeros. Ids are ``<generator>_<cls lower>_<NNNN>``; each crop's ``source`` is
    its own id unless ``sources`` gives one per image (real crops passed through this path keep
    their source image, so the leakage check of the classifiers still sees it). The folder is
    replaced atomically; it may not hold (or lie inside) any of ``inputs`` (the files it was
    made from; a normaliser given by path counts too). Images with NaN or inf values are
    refused, naming the generator and the images: a broken generator never becomes a folder of
    crops.
    """
    if cls not in LABELS:
        raise ValueError(f"cls must be one of {list(LABELS)}, got {cls!r}")
    if images.ndim != 4:
        raise ValueError(f"images must be N x B x S x S, got shape {tuple(images.shape)}")
    if sources is not None and len(sources) != len(images):
        raise ValueError(f"sources has {len(sources)} entries for {len(images)} images")
    if not isinstance(normaliser, BandNormaliser):
        inputs = (*inputs, normaliser)
        normaliser = BandNormaliser.load(normaliser)
    check_output_dir(out_dir, inputs)
    bad = ~torch.isfinite(images.detach()).flatten(1).all(1)
    if bad.any():
        rows = bad.nonzero().flatten().tolist()
        raise ValueError(f"{generator} ({cls}): {len(rows)} of {len(images)} generated images "
                         f"hold NaN or inf (images {rows[:10]}); nothing was written to "
                         f"{out_dir}")
    cubes = normaliser.inverse(images.detach().cpu().float(), "symmetric").numpy()
    size = images.shape[-1]
    prefix = f"{generator}_{cls.lower()}"

    def items():
        for i, cube in enumerate(cubes):
            sid = f"{prefix}_{i + 1:04d}"
            row = {"id": sid, "source": sid if sources is None else str(sources[i]),
                   "class": cls, "label": LABELS[cls], "subtype": cls, "lesion_index": 1,
                   "y0": 0, "x0": 0, "y1": size, "x1": size, "mask_area": 0,
                   "is_synthetic": True, "generator": generator,
                   "checkpoint_sha": checkpoint_sha, "seed": seed}
            yield row, cube.transpose(1, 2, 0), None  # image B x H x W -> cube H x W x B

    return write_crop_folder(out_dir, items(), inputs=inputs)
