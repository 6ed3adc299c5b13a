"""Writing stand-in data sets: the HSIDermoscopy-layout cube folder and the unpaired RGB set.

:func:`generate_standin` writes a folder in the real data set's layout plus ground truth (each
cube's CIE rendering and its photograph by an RGB camera among them), and
:func:`generate_rgb_set` an unpaired RGB-only set (the stand-in for MILK10K/ISIC images) taken
with the same camera. Both
run one task per image, in parallel when asked, and keep a complete folder made with the same
parameters (``standin.json``, written last). They replace an existing folder only when it is
the stand-in's own (:func:`hsilib.paths.atomic_dir`'s marker rule; a folder of an earlier
version is recognised by its ``standin.json``): a user's data set or RGB images are never
deleted. All randomness comes from per-image generators
seeded by ``(seed, class, index)`` (:func:`hsilib.standin.scene.image_rng`), so the number of
worker processes never changes the result.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np

from ..paths import OUTPUT_MARKER, atomic_dir, atomic_path, check_output_dir
from .imaging import camera_rgb, render_cube, render_rgb
from .lesion import OTHER_SUBTYPES
from .scene import BASE_SHAPE, CLASS_CODE, image_rng, sample_scene

#: Version of the generated data: a cached folder of another version is regenerated. Raise it
#: whenever the simulator's output changes (3: layered dermis joins the one-layer model smoothly;
#: 4: a wider field of view and a soft lesion-size cap keep crop boxes inside the field).
VERSION = 4
OTHER_SHARES = (0.35, 0.2, 0.3, 0.15)  # of the 70 "Other" cubes
#: the last entry of the seed of each image's camera stream (:func:`camera_rng`)
CAMERA_STREAM = 0xCA3E
#: ``truth/<stem>_<CAMERA_SUFFIX>.png``: each cube's paired camera photograph
CAMERA_SUFFIX = "camera_rgb"


def plan_standin(n_mm: int = 85, n_dn: int = 175, n_other: int = 70) -> list[tuple]:
    """(class, subtype, index, stem) of every cube; Other split by :data:`OTHER_SHARES`."""
    plan = [("MM", "MM", i, f"MM_{i + 1:04d}") for i in range(n_mm)]
    plan += [("DN", "DN", i, f"DN_{i + 1:04d}") for i in range(n_dn)]
    raw = np.asarray(OTHER_SHARES) * n_other
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: n_other - counts.sum()]] += 1
    i = 0
    for sub, c in zip(OTHER_SUBTYPES, counts, strict=True):
        for j in range(c):
            plan.append(("Other", sub, i, f"{sub}_{j + 1:04d}"))
            i += 1
    return plan


def camera_rng(seed: int, cls: str, index: int) -> np.random.Generator:
    """The random stream of one image's paired camera photograph: seeded apart from
    :func:`~hsilib.standin.scene.image_rng` (which draws the scene and the cube), so adding the
    photograph leaves every cube, truth map and rendering as it was."""
    return np.random.default_rng(np.random.SeedSequence(
        [int(seed), CLASS_CODE[cls], int(index), CAMERA_STREAM]))


def make_image(cls: str, subtype: str, index: int, seed: int, scale: float) -> dict:
    """Everything of one stand-in image: scene, acquired cube, its sRGB rendering (CIE 1931 +
    D65, noise-free) and ``camera_rgb``, the same scene photographed by the unpaired RGB set's
    camera (:func:`~hsilib.standin.imaging.camera_rgb`, its own stream :func:`camera_rng`)."""
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    rng = image_rng(seed, cls, index)
    shape = (max(round(BASE_SHAPE[0] * scale), 16), max(round(BASE_SHAPE[1] * scale), 16))
    scene = sample_scene(cls, rng, shape=shape, subtype=subtype if cls == "Other" else None)
    cube = render_cube(scene, rng, scale=scale)
    downsample = 2 if min(shape) >= 64 else 1
    rgb = render_rgb(scene, downsample=downsample)
    photo = camera_rgb(scene, camera_rng(seed, cls, index), downsample=downsample)
    return {"scene": scene, "cube": cube, "rgb": rgb, "camera_rgb": photo}


def _write_one(task) -> list[dict]:
    cls, subtype, index, stem, seed, scale, cubes, truth = task
    import scipy.io

    out = make_image(cls, subtype, index, seed, scale)
    scene = out["scene"]
    folder = Path(cubes) / f"{cls}Cube"
    with atomic_path(folder / f"{stem}.mat") as tmp:
        scipy.io.savemat(tmp, {"cube": out["cube"]}, do_compression=False)
    truth = Path(truth)
    with atomic_path(truth / f"{stem}.npz") as tmp:
        np.savez_compressed(tmp, labels=scene.labels, field=scene.field, haze=scene.haze,
                            **scene.maps)
    for key, suffix in (("rgb", "rgb"), ("camera_rgb", CAMERA_SUFFIX)):
        with atomic_path(truth / f"{stem}_{suffix}.png") as tmp:
            cv2.imwrite(str(tmp), cv2.cvtColor(out[key], cv2.COLOR_RGB2BGR))
    return [{"stem": stem, "class": cls, **row} for row in scene.lesions]


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _run_tasks(fn, tasks, workers: int, progress: bool, desc: str) -> list:
    if workers > 1:
        from ..runtime import process_pool

        with process_pool(workers, initializer=_worker_init) as pool:
            it = pool.map(fn, tasks, chunksize=max(1, len(tasks) // (8 * workers)))
            if progress:
                from ..runtime import progress as bar
                it = bar(it, total=len(tasks), desc=desc, unit="cube")
            return list(it)
    it = tasks
    if progress:
        from ..runtime import progress as bar
        it = bar(tasks, total=len(tasks), desc=desc, unit="cube")
    return [fn(t) for t in it]


def _is_complete(root: Path, params: dict, expected: list[Path]) -> bool:
    stamp = root / "standin.json"
    if not stamp.exists():
        return False
    try:
        if json.loads(stamp.read_text()) != params:
            return False
    except (OSError, json.JSONDecodeError):
        return False
    return all(p.exists() for p in expected)


def check_standin_outputs(out_dir, *, cubes: bool = True, rgb: bool = True) -> None:
    """Raise :class:`hsilib.paths.OutputFolderError` now if :func:`generate_standin`
    (``cubes``) or :func:`generate_rgb_set` (``rgb``) would refuse to replace a folder under
    ``out_dir``, so that a caller writing both fails before writing either."""
    root = Path(out_dir)
    subs = (["hsidermoscopy", "truth"] if cubes else []) + (["rgb"] if rgb else [])
    for sub in subs:
        record = root / ("rgb" if sub == "rgb" else "") / "standin.json"
        _adopt_earlier_version(root / sub, record)
        check_output_dir(root / sub)


def _adopt_earlier_version(folder: Path, record: Path) -> None:
    """Mark ``folder`` as the stand-in's when ``record`` (its ``standin.json``) shows that an
    earlier version of this writer made it (folders written before the marker rule carry no
    marker); anything else is left for :func:`hsilib.paths.atomic_dir` to judge."""
    if not folder.is_dir() or (folder / OUTPUT_MARKER).exists():
        return
    try:
        stamp = json.loads(record.read_text())
    except (OSError, ValueError):
        return
    if isinstance(stamp, dict) and "version" in stamp and "seed" in stamp:
        (folder / OUTPUT_MARKER).write_text("written by an earlier hsilib stand-in writer\n")


def generate_standin(out_dir, *, n_mm: int = 85, n_dn: int = 175, n_other: int = 70,
                     scale: float = 1.0, seed: int = 0, workers: int = 1,
                     progress: bool = True) -> Path:
    """Write the stand-in HSIDermoscopy folder and its ground truth under ``out_dir``.

    Layout: ``out_dir/hsidermoscopy/{MMCube,DNCube,OtherCube}/<stem>.mat`` (key "cube", float32
    H x W x 16) and ``out_dir/truth/`` (``<stem>.npz`` with labels, field and chromophore maps,
    ``<stem>_rgb.png``, the CIE rendering, ``<stem>_camera_rgb.png``, the camera photograph of
    the same scene (:func:`make_image`), ``lesions.csv``). ``standin.json`` (the parameters) is
    written last: a complete folder for the same parameters is returned at once; anything else
    (a folder written before the camera photographs, too) is regenerated. Returns ``out_dir``.
    """
    import pandas as pd

    for name, v in (("n_mm", n_mm), ("n_dn", n_dn), ("n_other", n_other)):
        if int(v) < 0:
            raise ValueError(f"generate_standin: {name} must be >= 0, got {v}")
    root = Path(out_dir)
    params = dict(n_mm=int(n_mm), n_dn=int(n_dn), n_other=int(n_other), scale=float(scale),
                  seed=int(seed), version=VERSION)
    plan = plan_standin(n_mm, n_dn, n_other)
    expected = [root / "hsidermoscopy" / f"{c}Cube" / f"{s}.mat" for c, _, _, s in plan]
    expected += [root / "truth" / f"{s}_{CAMERA_SUFFIX}.png" for _, _, _, s in plan]
    expected += [root / "truth" / "lesions.csv"]
    if _is_complete(root, params, expected):
        return root
    for sub in ("hsidermoscopy", "truth"):
        _adopt_earlier_version(root / sub, root / "standin.json")
    with ExitStack() as stack:  # both folders replace the old ones only when complete
        cubes, truth = (stack.enter_context(atomic_dir(root / sub))
                        for sub in ("hsidermoscopy", "truth"))
        (root / "standin.json").unlink(missing_ok=True)
        tasks = [(c, sub, i, stem, int(seed), float(scale), str(cubes), str(truth))
                 for c, sub, i, stem in plan]
        rows = _run_tasks(_write_one, tasks, workers, progress, "stand-in cubes")
        table = pd.DataFrame([r for rs in rows for r in rs])
        with atomic_path(truth / "lesions.csv") as tmp:
            table.to_csv(tmp, index=False)
    with atomic_path(root / "standin.json") as tmp:
        tmp.write_text(json.dumps(params, indent=1))
    return root


#: Class mix of the unpaired RGB set, ISIC-like: mostly benign.
RGB_MIX = (("MM", "MM", 0.15), ("DN", "DN", 0.25), ("Other", "Nv", 0.35), ("Other", "SK", 0.12),
           ("Other", "Lentigo", 0.08), ("Other", "IEC", 0.05))


def _rgb_one(task) -> dict:
    i, seed, size, root = task  # root: the folder being written (a temporary one)
    rng = image_rng(seed, "rgb", i)
    k = rng.choice(len(RGB_MIX), p=[m[2] for m in RGB_MIX])
    cls, subtype, _ = RGB_MIX[k]
    scene = sample_scene(cls, rng, shape=(size, size), subtype=subtype if cls == "Other" else None,
                         rgb_look=True)
    rgb = camera_rgb(scene, rng, downsample=2 if size >= 64 else 1)  # a different camera
    ident = f"rgb_{i + 1:05d}"
    path = Path(cls) / f"{ident}.png"
    with atomic_path(Path(root) / path) as tmp:
        cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return {"id": ident, "class": cls, "subtype": subtype, "path": str(path)}


def generate_rgb_set(out_dir, *, n: int, size: int = 256, seed: int = 0, workers: int = 1,
                     progress: bool = False) -> Path:
    """Write ``n`` unpaired RGB dermoscopy images to ``out_dir/rgb/<class>/<id>.png`` and
    ``out_dir/rgb/index.csv`` (id, class, subtype, path relative to ``rgb/``). Same physics
    as the cubes, independent seeds, a different framing and camera, no cube. Returns the
    ``rgb`` folder. A complete folder for the same parameters is kept as it is; any other is
    replaced only when the stand-in wrote it (a folder of the user's images is refused)."""
    import pandas as pd

    if int(n) < 1 or int(size) < 16:
        raise ValueError(f"generate_rgb_set: need n >= 1 and size >= 16, got {n}, {size}")
    root = Path(out_dir) / "rgb"
    params = dict(n=int(n), size=int(size), seed=int(seed), version=VERSION)
    if _is_complete(root, params, [root / "index.csv"]):
        return root
    _adopt_earlier_version(root, root / "standin.json")
    with atomic_dir(root) as folder:
        tasks = [(i, int(seed), int(size), str(folder)) for i in range(int(n))]
        rows = _run_tasks(_rgb_one, tasks, workers, progress, "RGB images")
        pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)
        (folder / "standin.json").write_text(json.dumps(params, indent=1))
    return root
