"""The oracle ladder of notebook 08: a perfect generator and graded, known corruptions of it.

The **oracle** draws fresh stand-in lesions of both classes from the simulator's own
distribution (:mod:`hsilib.standin.oracle`: new seeds, never seen by any split) and crops them
with notebook 01's pipeline (automatic segmentation of the whole cube, crops kept inside the
dermoscope field): the crops a flawless generator would produce. Each **rung** of the ladder is
the oracle with one known corruption at one strength ``level`` in (0, 1] (0: the clean oracle),
applied to the same lesions, so that the corruption is the only difference between rungs:

==================== ========================================================================
kind                 what level 1 means (:func:`parameter` gives the value at any level)
==================== ========================================================================
melanin              epidermal and dermal melanin x 2 everywhere, re-rendered from the truth
blood                blood volume x 3 everywhere, re-rendered
scattering           dermal reduced scattering x 2 everywhere, re-rendered
blur                 Gaussian blur of sigma 2 px per 64 px of crop side, every band alike
noise                added Gaussian noise of 0.04 reflectance
spectral_smoothing   Gaussian smoothing along the bands, sigma 2 bands
misregistration      every band shifted by its own integer offset of up to 3 px per 64 px
diversity            every crop a flipped or rotated copy of one lesion (n^(1 - level) lesions)
exaggeration         the lesion's melanin and blood excess x 2 in melanoma, / 2 in nevus
label_noise          half of each class's crops replaced by crops of the other class
fingerprint          a dark frame (1 px per 16 px of side) at half the reflectance
==================== ========================================================================

The chromophore rungs and the exaggeration are rendered again from the lesion's stored truth
maps (no new scene is sampled); the others act on the clean crops. Every rung is written as a
synthetic crop folder per class (``is_synthetic``, no lesion mask, as a generator's export),
with ``oracle.json`` beside it: a rerun with the same parameters reads the folder instead of
drawing again (:func:`build_ladder`). Introduced in notebook 08.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import ORACLE_CORRUPTIONS
from ..data.crop_folder import iter_cubes, read_index, write_crop_folder
from ..data.cropping import crop_in_field
from ..data.segmentation import segment_lesions
from ..labels import LABELS
from ..paths import atomic_path
from ..quiet import expected_warnings
from ..standin import oracle as so
from ..standin.acquisition import shift_bands
from ..standin.scene import BASE_SHAPE

#: Every corruption kind, in the order of the module docstring's table (the config's list).
CORRUPTIONS = ORACLE_CORRUPTIONS
#: Kinds rendered again from the truth maps (the others change the clean crops).
RENDERED = ("melanin", "blood", "scattering", "exaggeration")
CLEAN = "clean"
#: The clean oracle's state name (every ladder state is ``oracle_<rung>``).
CLEAN_STATE = f"oracle_{CLEAN}"
CLASSES = ("MM", "DN")
#: Raise when the ladder's output changes: cached rungs of another version are drawn again.
VERSION = 1
SIDECAR = "oracle.json"
#: The value of each kind at level 1 and what it is (module docstring).
LEVEL_ONE = {"melanin": (2.0, "melanin factor"), "blood": (3.0, "blood factor"),
             "scattering": (2.0, "scattering factor"),
             "blur": (2.0, "blur sigma (px per 64 px)"), "noise": (0.04, "noise SD (reflectance)"),
             "spectral_smoothing": (2.0, "smoothing sigma (bands)"),
             "misregistration": (3.0, "largest band shift (px per 64 px)"),
             "diversity": (1.0, "exponent of n lost"), "exaggeration": (2.0, "lesion-cue factor"),
             "label_noise": (0.5, "share of crops of the other class"),
             "fingerprint": (0.5, "frame darkening")}


@dataclass(frozen=True)
class Rung:
    """One state of the ladder: corruption ``kind`` at ``level`` (kind ``clean``: level 0)."""

    kind: str
    level: float

    @property
    def name(self) -> str:
        return CLEAN if self.kind == CLEAN else f"{self.kind}_{self.level:g}"


def state_name(rung: Rung) -> str:
    """A rung's state name in notebook 08's tables: ``oracle_<rung>``."""
    return f"oracle_{rung.name}"


def plan(kinds: Sequence[str], levels: Sequence[float]) -> list[Rung]:
    """The clean oracle, then every kind of ``kinds`` at every level of ``levels``."""
    unknown = sorted(set(kinds) - set(CORRUPTIONS))
    if unknown:
        raise ValueError(f"unknown corruption kinds {unknown}; choose from {CORRUPTIONS}")
    bad = [v for v in levels if not 0 < v <= 1]
    if bad or not levels:
        raise ValueError(f"levels must be one or more values in (0, 1], got {list(levels)}")
    return [Rung(CLEAN, 0.0)] + [Rung(k, float(v)) for k in kinds for v in sorted(levels)]


def parameter(kind: str, level: float) -> float:
    """The corruption's value at ``level``: linear from none (level 0) to :data:`LEVEL_ONE`
    (a factor goes from 1, the diversity exponent and the shares from 0)."""
    if kind == CLEAN:
        return 0.0
    top, _ = LEVEL_ONE[kind]
    factor = kind in ("melanin", "blood", "scattering", "exaggeration")
    return 1.0 + (top - 1.0) * level if factor else top * level


def describe(rungs: Sequence[Rung]) -> pd.DataFrame:
    """One row per rung: name, kind, level, the corruption's value and what it is."""
    return pd.DataFrame([{"rung": r.name, "kind": r.kind, "level": r.level,
                          "value": parameter(r.kind, r.level),
                          "meaning": LEVEL_ONE.get(r.kind, (0, "the oracle itself"))[1]}
                         for r in rungs])


# --------------------------------------------------------------------------------------------
# Corruptions of crops (N x S x S x B reflectance)
# --------------------------------------------------------------------------------------------
def _rng(seed: int, rung: Rung, cls: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), CORRUPTIONS.index(rung.kind), CLASSES.index(cls),
                                  int(round(rung.level * 1000))])


def dihedral(cube: np.ndarray, k: int) -> np.ndarray:
    """Transform ``k`` (0-7) of the 8 flips and rotations of an H x W x B cube."""
    out = np.rot90(cube, k % 4, axes=(0, 1))
    return np.ascontiguousarray(out[:, ::-1] if k >= 4 else out)


def corrupt(crops: np.ndarray, rung: Rung, *, cls: str, other: np.ndarray,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The crops of one class (N x S x S x B reflectance) under a crop-level corruption, and for
    each output crop the position of the clean crop it came from (in ``crops``, or ``N + j``
    for crop ``j`` of ``other``, the other class's clean crops, used by ``label_noise``)."""
    from scipy import ndimage

    n, size = len(crops), crops.shape[1]
    value, rng = parameter(rung.kind, rung.level), _rng(seed, rung, cls)
    origin = np.arange(n)
    if rung.kind == "blur":
        s = value * size / 64
        out = np.stack([ndimage.gaussian_filter(c, (s, s, 0), mode="reflect") for c in crops])
    elif rung.kind == "noise":
        out = np.maximum(crops + rng.normal(0, value, crops.shape).astype(np.float32), 0)
    elif rung.kind == "spectral_smoothing":
        out = ndimage.gaussian_filter1d(crops, value, axis=-1, mode="nearest")
    elif rung.kind == "misregistration":
        m = max(1, round(value * size / 64))
        out = np.stack([shift_bands(c, rng.integers(-m, m + 1, (c.shape[-1], 2)))
                        for c in crops])
    elif rung.kind == "diversity":
        k = max(1, round(n ** (1 - value)))
        origin = np.arange(n) % k
        out = np.stack([dihedral(crops[o], i // k) for i, o in enumerate(origin)])
    elif rung.kind == "label_noise":
        swap = np.sort(rng.choice(n, round(value * n), replace=False))
        origin = origin.copy()
        origin[swap] = n + np.arange(len(swap)) % len(other)
        out = np.concatenate([crops, other])[origin]
    elif rung.kind == "fingerprint":
        w = max(1, round(size / 16))
        frame = np.ones((size, size, 1), np.float32)
        frame[:w], frame[-w:], frame[:, :w], frame[:, -w:] = (1 - value,) * 4
        out = crops * frame
    else:
        raise ValueError(f"corrupt: {rung.kind!r} is not a crop-level corruption")
    return np.asarray(out, np.float32), origin


# --------------------------------------------------------------------------------------------
# Drawing the lesions: one worker call per oracle image
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OracleSpec:
    """What the oracle's crops depend on: the stand-in's ``scale`` (``standin.json``), the
    oracle's ``seed``, crops per class (``counts``), notebook 01's crop ``size``, ``crop_scale``
    and segmentation ``min_area`` (pixels at this scale)."""

    scale: float
    seed: int
    counts: Mapping[str, int]
    size: int
    crop_scale: float
    min_area: int

    def stamp(self, rung: Rung) -> dict[str, Any]:
        return {"version": VERSION, "scale": self.scale, "seed": self.seed,
                "counts": dict(self.counts), "size": self.size, "crop_scale": self.crop_scale,
                "min_area": self.min_area, "kind": rung.kind, "level": rung.level}


def _scene(image: so.OracleImage, rung: Rung):
    if rung.kind == "exaggeration":
        return so.exaggerate_lesion(image.scene, image.cls, parameter(rung.kind, rung.level))
    return so.shift_chromophores(image.scene, **{rung.kind: parameter(rung.kind, rung.level)})


def image_crops(task: tuple) -> dict[str, list[np.ndarray]]:
    """Worker: the crops of one oracle image, clean (``"clean"``) and for every rendered rung
    of the task (by rung name), each cut with the clean cube's masks and boxes' rule
    (notebook 01's :func:`~hsilib.data.segmentation.segment_lesions` and
    :func:`~hsilib.data.cropping.crop_in_field`)."""
    cls, index, spec, rendered = task
    image = so.draw_image(cls, index, spec.seed, spec.scale)
    cube = so.render(image)
    # images without a lesion give no crop, as in notebook 01
    with expected_warnings("segmentation_notes"):
        masks = segment_lesions(cube, min_area=spec.min_area, name=image.stem)
    out = {CLEAN: [c["cube"] for c in crop_in_field(cube, masks, spec.size, spec.crop_scale)]}
    for rung in rendered:
        other = so.render(image, _scene(image, rung))
        out[rung.name] = [c["cube"] for c in crop_in_field(other, masks, spec.size,
                                                           spec.crop_scale)]
    return out


def draw_crops(spec: OracleSpec, cls: str, rendered: Sequence[Rung], *, workers: int = 1
               ) -> tuple[dict[str, np.ndarray], list[str]]:
    """``spec.counts[cls]`` clean crops of class ``cls`` (images 0, 1, ... in order, each with
    every crop notebook 01 would cut from it) and the same crops of every rendered rung;
    returns ``({rung name: N x S x S x B}, each crop's source image)``."""
    need, got, sources, index = spec.counts[cls], {}, [], 0
    pool = None
    if workers > 1:
        from ..runtime import process_pool

        pool = process_pool(workers)
    try:
        while len(sources) < need:
            chunk = max(2, math.ceil((need - len(sources)) * 1.1))
            tasks = [(cls, i, spec, tuple(rendered)) for i in range(index, index + chunk)]
            results = pool.map(image_crops, tasks) if pool else map(image_crops, tasks)
            for (_, i, _, _), crops in zip(tasks, results, strict=True):
                for name, cubes in crops.items():
                    got.setdefault(name, []).extend(cubes)
                sources += [so.image_stem(cls, i)] * len(crops[CLEAN])
            index += chunk
    finally:
        if pool is not None:
            pool.shutdown()
    return {k: np.stack(v[:need]) for k, v in got.items()}, sources[:need]


# --------------------------------------------------------------------------------------------
# The ladder on disk
# --------------------------------------------------------------------------------------------
def is_current(folder: Path, spec: OracleSpec, rung: Rung) -> bool:
    """True when ``folder`` holds this rung's crops for ``spec`` (its ``oracle.json``)."""
    try:
        return json.loads((Path(folder) / SIDECAR).read_text()) == spec.stamp(rung)
    except (OSError, ValueError):
        return False


def _write(folder: Path, cubes: np.ndarray, sources: Sequence[str], truth: Sequence[str],
           cls: str, spec: OracleSpec, rung: Rung, seed: int) -> None:
    size = cubes.shape[1]

    def items():
        for i, (cube, src, true_cls) in enumerate(zip(cubes, sources, truth, strict=True)):
            sid = f"oracle_{rung.name}_{cls.lower()}_{i + 1:04d}"
            yield ({"id": sid, "source": src, "class": cls, "label": LABELS[cls],
                    "subtype": true_cls, "lesion_index": 1, "y0": 0, "x0": 0, "y1": size,
                    "x1": size, "mask_area": 0, "is_synthetic": True,
                    "generator": f"oracle_{rung.name}", "checkpoint_sha": "none",
                    "seed": seed}, cube, None)

    write_crop_folder(folder, items())
    with atomic_path(folder / SIDECAR) as tmp:
        tmp.write_text(json.dumps(spec.stamp(rung), indent=1))


def build_ladder(spec: OracleSpec, rungs: Sequence[Rung], folder_of: Callable[[str], Path], *,
                 prefix: str = "08_oracle_", workers: int = 1) -> pd.DataFrame:
    """Every rung of ``rungs`` as one crop folder per class,
    ``folder_of(f"{prefix}{rung}_{cls}")`` (e.g. ``run.synthetic``, which makes it
    ``artifacts/synthetic/08_oracle_blur_0.5_mm``), drawn only where the folder is not current
    (:func:`is_current`). Returns one row per rung and class: ``state`` (``oracle_<rung>``),
    ``rung``, ``kind``, ``level``, ``class``, ``folder``, ``n`` and ``cached`` (read from an
    earlier run)."""
    if not rungs or rungs[0].kind != CLEAN:
        raise ValueError("build_ladder: the rungs must start with the clean oracle (plan())")
    folder = {(r.name, c): Path(folder_of(f"{prefix}{r.name}_{c.lower()}")) for r in rungs
              for c in CLASSES}
    stale = {r.name for r in rungs for c in CLASSES
             if not is_current(folder[r.name, c], spec, r)}
    clean, sources = {}, {}
    need_draw = bool(stale & ({CLEAN} | {r.name for r in rungs if r.kind in RENDERED}))
    for cls in CLASSES:
        if need_draw:
            rendered = [r for r in rungs if r.kind in RENDERED and r.name in stale]
            crops, sources[cls] = draw_crops(spec, cls, rendered, workers=workers)
            for r in [rungs[0], *rendered]:
                if r.name in stale:
                    _write(folder[r.name, cls], crops[r.name], sources[cls],
                           [cls] * len(sources[cls]), cls, spec, r, spec.seed)
            clean[cls] = crops[CLEAN]
        elif stale:
            table = read_index(folder[CLEAN, cls])
            clean[cls] = np.stack(list(iter_cubes(table)))
            sources[cls] = table["source"].tolist()
    for r in rungs:
        if r.name not in stale or r.kind in RENDERED or r.kind == CLEAN:
            continue
        for cls, other in zip(CLASSES, CLASSES[::-1], strict=True):
            cubes, origin = corrupt(clean[cls], r, cls=cls, other=clean[other], seed=spec.seed)
            src = np.asarray(sources[cls] + sources[other], dtype=object)[origin]
            truth = np.asarray([cls] * len(clean[cls]) + [other] * len(clean[other]))[origin]
            _write(folder[r.name, cls], cubes, src.tolist(), truth.tolist(), cls, spec, r,
                   spec.seed)
    return pd.DataFrame([{"state": state_name(r), "rung": r.name, "kind": r.kind,
                          "level": r.level, "class": c, "folder": folder[r.name, c],
                          "n": spec.counts[c], "cached": r.name not in stale}
                         for r in rungs for c in CLASSES])


def ladder_folders(built: pd.DataFrame) -> dict[str, dict[str, Path]]:
    """``{state: {"MM": folder, "DN": folder}}`` of :func:`build_ladder`'s table."""
    return {s: dict(zip(g["class"], g["folder"], strict=True))
            for s, g in built.groupby("state", sort=False)}


def standin_params(standin_dir: str | Path, data_dir: str | Path | None) -> dict | None:
    """The stand-in's parameters (``standin.json``: scale, seed, ...) when the run's crops come
    from the stand-in, None when they come from real data (``data_dir`` set: no simulator
    knows their distribution, so there is no oracle). A stand-in run without its
    ``standin.json`` raises, naming notebook 01."""
    if data_dir is not None:
        return None
    path = Path(standin_dir) / "standin.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run notebook 01 on the stand-in first (or "
                                "set DATA_DIR to the real data the crops came from)")
    return json.loads(path.read_text())


def min_area(min_lesion_px: int, scale: float) -> int:
    """Notebook 01's smallest lesion (``min_lesion_px`` at the camera's 272 x 512) at the
    stand-in's ``scale`` (:func:`hsilib.data.explore.min_area_for` on a cube of that size)."""
    h, w = (max(round(s * scale), 16) for s in BASE_SHAPE)
    return max(1, round(min_lesion_px * h * w / (BASE_SHAPE[0] * BASE_SHAPE[1])))


def rung_table(built: pd.DataFrame) -> pd.DataFrame:
    """One row per ladder state of :func:`build_ladder`'s table: ``state``, ``rung``, ``kind``,
    ``level``, the corruption's ``value`` and what it is (``meaning``), ``cached``."""
    t = built.drop_duplicates("state")[["state", "rung", "kind", "level", "cached"]]
    about = describe([Rung(k, v) for k, v in zip(t["kind"], t["level"], strict=True)])
    return t.reset_index(drop=True).assign(value=about["value"], meaning=about["meaning"])


def strongest(rungs: pd.DataFrame) -> list[str]:
    """The clean oracle and the strongest rung of every kind (states of :func:`rung_table`)."""
    top = rungs.sort_values("level").drop_duplicates("kind", keep="last")
    return [*top.loc[top["kind"] == CLEAN, "state"], *top.loc[top["kind"] != CLEAN, "state"]]
