"""Tiny seeded fake data in the real file formats, for the tests (torchgeo style).

``python tests/fakedata.py OUT`` writes the same thing as :func:`make_fake_standin`::

    OUT/hsidermoscopy/{MMCube,DNCube,OtherCube}/<stem>.mat   one H x W x 16 array each
    OUT/truth/<stem>.npz                                     labels (uint8), field (bool)
    OUT/truth/lesions.csv                                    one row per lesion
    OUT/rgb/<class>/<id>.png, OUT/rgb/index.csv              unpaired RGB images

Cubes are a bright circular dermoscope field over black corners, smooth skin-like spectra, and
one or two dark elliptical blobs (the lesions) with a darker, bluer-absorbing spectrum. The
blobs never touch the field border, so a segmenter should find every one of them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

WAVELENGTHS = np.arange(465, 631, 11, dtype=np.float64)
FOLDERS = {"MM": "MMCube", "DN": "DNCube", "Other": "OtherCube"}
OTHER_SUBTYPES = ("SK", "Lentigo", "Nv", "IEC")


def skin_spectrum() -> np.ndarray:
    """A normal-skin-like reflectance: ~0.32 flat, rising to ~0.55 at 630 nm."""
    red = 1.0 / (1.0 + np.exp(-(WAVELENGTHS - 590.0) / 10.0))
    return (0.32 + 0.23 * red).astype(np.float32)


def lesion_spectrum(darkness: float) -> np.ndarray:
    """Skin times melanin-like attenuation (stronger at short wavelengths)."""
    atten = np.exp(-darkness * (WAVELENGTHS / 500.0) ** -3)
    return (skin_spectrum() * atten).astype(np.float32)


def ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float,
            angle: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    c, s = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * c + (yy - cy) * s) / rx
    v = (-(xx - cx) * s + (yy - cy) * c) / ry
    return u**2 + v**2 <= 1.0


def field_mask(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    return (yy - h / 2 + 0.5) ** 2 + (xx - w / 2 + 0.5) ** 2 <= (0.47 * w) ** 2


def fake_cube(rng: np.random.Generator, shape: tuple[int, int] = (68, 128),
              n_lesions: int = 1, hair: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cube (float32 H x W x 16), its lesion label map and its field mask."""
    h, w = shape
    field = field_mask(shape)
    labels = np.zeros(shape, np.uint8)
    centres = [(h / 2, w * 0.3), (h / 2, w * 0.7)] if n_lesions == 2 else [(h / 2, w / 2)]
    for k, (cy, cx) in enumerate(centres, start=1):
        ry = rng.uniform(0.18, 0.28) * h
        rx = ry * rng.uniform(0.9, 1.4)
        if n_lesions == 2:
            rx = min(rx, 0.13 * w)
        cy += rng.uniform(-2, 2)
        cx += rng.uniform(-2, 2)
        labels[ellipse(shape, cy, cx, ry, rx, rng.uniform(0, np.pi)) & field] = k
    cube = np.empty((h, w, 16), np.float32)
    cube[:] = skin_spectrum()
    for k in range(1, n_lesions + 1):
        cube[labels == k] = lesion_spectrum(rng.uniform(0.8, 1.6))
    if hair:  # a 1-2 px dark line across the field, crossing the lesion
        y = np.clip((np.arange(w) * rng.uniform(-0.3, 0.3) + rng.uniform(0.3, 0.7) * h),
                    0, h - 2).astype(int)
        cube[y, np.arange(w)] *= 0.15
        cube[y + 1, np.arange(w)] *= 0.15
    cube *= (1.0 + 0.02 * rng.standard_normal(cube.shape)).astype(np.float32)
    cube[~field] = 0.003 * np.abs(rng.standard_normal((int((~field).sum()), 16)))
    return cube.astype(np.float32), labels, field


def make_fake_standin(out: str | Path, *, n: tuple[int, int, int] = (3, 4, 2),
                      shape: tuple[int, int] = (68, 128), seed: int = 0, hair: bool = True,
                      n_rgb: int = 6) -> Path:
    """Write the fake stand-in under ``out`` (layout above) and return ``out``.

    Variety that the loader must cope with, as the real files do: the array key differs per
    class folder ("cube", "data", "hsi") and DN cubes are stored as float64.
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    root, truth = out / "hsidermoscopy", out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    rows = []
    for (cls, folder), count, key in zip(FOLDERS.items(), n, ("cube", "data", "hsi"),
                                         strict=True):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(1, count + 1):
            subtype = OTHER_SUBTYPES[(i - 1) % 4] if cls == "Other" else cls
            stem = f"{subtype}_{i:04d}"
            n_lesions = 2 if i == 2 else 1
            cube, labels, field = fake_cube(rng, shape, n_lesions, hair=hair and i == 1)
            arr = cube.astype(np.float64) if cls == "DN" else cube
            scipy.io.savemat(root / folder / f"{stem}.mat", {key: arr})
            np.savez(truth / f"{stem}.npz", labels=labels, field=field)
            for k in range(1, n_lesions + 1):
                rows.append({"stem": stem, "class": cls, "subtype": subtype, "lesion_index": k,
                             "area_px": int((labels == k).sum())})
    pd.DataFrame(rows).to_csv(truth / "lesions.csv", index=False)
    make_fake_rgb(out / "rgb", n=n_rgb, seed=seed)
    return out


def fake_predictions(gaps: dict[str, float], seeds: tuple[int, ...] = (0, 1, 2),
                     seed: int = 0, replicates: dict[str, tuple[int, ...]] | None = None
                     ) -> pd.DataFrame:
    """Saved-predictions table (notebook 06 layout) for configs on 10 val + 20 test crops, half
    melanoma; the test crops come two per source image. ``gaps[config]`` is how far apart the
    classes' mean ``p_mm`` lie (more: better); a config named in ``replicates`` has one run per
    seed and generator replicate, the others one per seed (``generator_seed`` -1)."""
    rng = np.random.default_rng(seed)
    replicates = replicates or {}
    rows = []
    for split, n in (("val", 10), ("test", 20)):
        y = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
        ids = [f"{split}{i}" for i in range(n)]
        sources = [f"src{i // 2}" for i in range(n)] if split == "test" else ids
        for s in seeds:
            for config, gap in gaps.items():
                for g in replicates.get(config, (-1,)):
                    p = np.clip(0.5 + gap * (y - 0.5) + 0.15 * rng.standard_normal(n), 0, 1)
                    rows.append(pd.DataFrame({
                        "config": config, "seed": s, "generator_seed": g, "split": split,
                        "id": ids, "source": sources, "label": y, "p_mm": p,
                        "is_synthetic": False, "is_duplicate": False}))
    return pd.concat(rows, ignore_index=True)


def make_fake_rgb(out: str | Path, n: int = 6, size: int = 48, seed: int = 0) -> Path:
    """RGB stand-in set: ``<class>/<id>.png`` (uint8) and ``index.csv``."""
    import cv2

    out = Path(out)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        cls = ("MM", "DN", "Other")[i % 3]
        img = np.full((size, size + 8, 3), (200, 170, 150), np.uint8)
        blob = ellipse((size, size + 8), size / 2, size / 2 + 4, size / 4, size / 3, i)
        img[blob] = (90, 60, 40)
        img = np.clip(img + rng.integers(-5, 6, img.shape), 0, 255).astype(np.uint8)
        (out / cls).mkdir(parents=True, exist_ok=True)
        ident = f"rgb_{i:04d}"
        cv2.imwrite(str(out / cls / f"{ident}.png"), img[..., ::-1])  # OpenCV writes BGR
        rows.append({"id": ident, "class": cls, "subtype": cls, "path": f"{cls}/{ident}.png"})
    pd.DataFrame(rows).to_csv(out / "index.csv", index=False)
    return out


def make_big_fake_standin(out: str | Path, *, n: tuple[int, int, int] = (85, 175, 70),
                          shape: tuple[int, int] = (272, 512), seed: int = 0) -> Path:
    """Full-size fake dataset (for benchmarks when the stand-in generator is not at hand)."""
    return make_fake_standin(out, n=n, shape=shape, seed=seed, hair=True, n_rgb=0)


if __name__ == "__main__":
    print(make_fake_standin(sys.argv[1] if len(sys.argv) > 1 else "tests/_fakedata"))


def write_fake_crops(folder, n_per_class, synthetic=False, seed=0, classes=("MM", "DN"),
                 sources=None):
    """Crop folder per the data contract; melanoma crops are darker in the blue bands. Real
    crops come two per source image; a synthetic crop is its own source unless ``sources``
    (crop number -> source) says otherwise. ``n_per_class``: a count or {class: count}."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = []
    for cls in classes:
        n = n_per_class[cls] if isinstance(n_per_class, dict) else n_per_class
        for k in range(n):
            cid = f"{'syn_' if synthetic else ''}{cls}_{k:03d}"
            cube = rng.uniform(0.2, 0.6, (20, 20, 16)).astype(np.float32)
            if cls == "MM":
                cube[..., :6] *= 0.6
            np.savez(folder / f"{cid}.npz", cube=cube, mask=np.ones((20, 20), np.uint8))
            source = f"{cls}_{k // 2:04d}" if not synthetic else cid
            source = sources[k] if sources is not None else source
            rows.append({"id": cid, "source": source, "class": cls,
                         "label": int(cls == "MM"), "subtype": cls, "lesion_index": k % 2 + 1,
                         "y0": 0, "x0": 0, "y1": 20, "x1": 20, "mask_area": 400,
                         "path": f"{cid}.npz", "is_synthetic": synthetic,
                         "generator": "fastgan" if synthetic else "",
                         "checkpoint_sha": "", "seed": seed if synthetic else -1})
    pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)
    return pd.DataFrame(rows)


def write_fake_run(root, n_per_class=12, k_folds=3, seed=0):
    """The inputs notebook 01 leaves in a run folder for the generator and classifier
    notebooks: ``artifacts/crops/`` (:func:`write_fake_crops`), ``artifacts/splits/splits.csv``
    (grouped by source), ``kfold.csv`` (``k_folds`` folds) and ``normalisation.json`` (fitted
    on the training crops). Returns the crop index and the split table."""
    from hsilib.data.datasets import fit_train_normaliser
    from hsilib.data.splits import grouped_kfold, make_splits

    root = Path(root)
    index = write_fake_crops(root / "artifacts" / "crops", n_per_class, seed=seed)
    splits_dir = root / "artifacts" / "splits"
    splits_dir.mkdir(parents=True, exist_ok=True)
    table = make_splits(index, seed=seed)
    table.to_csv(splits_dir / "splits.csv", index=False)
    grouped_kfold(index, k=k_folds, seed=seed).to_csv(splits_dir / "kfold.csv", index=False)
    fit_train_normaliser(root / "artifacts" / "crops", table).save(
        splits_dir / "normalisation.json")
    return index, table
