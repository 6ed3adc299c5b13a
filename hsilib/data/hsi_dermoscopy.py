"""HSIDermoscopy: the 16-band hyperspectral dermoscopy data set, real or stand-in, on disk.

Gu, Partridge & Zhou, "Hyperspectral dermoscopy" (OR 2.0 / ISIC workshop, LNCS 2018): 330
cubes of 16 bands (465-630 nm in 11 nm steps) from a 4 x 4 snapshot-mosaic camera, about
272 x 512 pixels each, as MATLAB ``.mat`` files in three folders::

    <root>/MMCube/*.mat      melanoma (label 1)
    <root>/DNCube/*.mat      dysplastic nevus (label 0)
    <root>/OtherCube/*.mat   other lesions (label -1); the subtype is in the file name

The project's stand-in (:mod:`hsilib.standin`) writes the same layout, so everything
downstream reads either. ENVI files (``.hdr`` + ``.img``) in the same layout are read too, and
:func:`export_envi` / :func:`export_envi_set` write them with wavelength metadata.

Reading and writing one cube is :mod:`hsilib.data.cube_io`; the unpaired RGB dermoscopy domain
(:func:`load_rgb_folder`) is :mod:`hsilib.data.rgb_folder`. Their names are re-exported here,
where the notebooks import them.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from ..labels import LABELS
from ..paths import atomic_dir
from .cube_io import (  # noqa: F401 (re-exported: the notebooks import them here)
    ENVI_CHECKSUM_KEY,
    CubeFormatError,
    DataScaleWarning,
    DatasetNotFoundError,
    check_scales,
    cube_scale,
    export_envi,
    import_envi,
    load_cube,
    save_cube,
    validate_cube,
)
from .rgb_folder import RGB_SUFFIXES, load_rgb_folder  # noqa: F401 (re-exported)

CLASS_FOLDERS = {"MM": "MMCube", "DN": "DNCube", "Other": "OtherCube"}
#: Subtype tokens seen in the real file names (matched case-insensitively), canonical spelling.
SUBTYPE_TOKENS = ("IEC", "Lentigo", "Nv", "SK", "Melt", "BCC", "AK", "MM", "DN")
CUBE_SUFFIXES = (".mat", ".hdr")


class SubtypeWarning(UserWarning):
    """An ``OtherCube`` file name names no known subtype (it is counted as ``unknown``)."""


class SkippedFilesWarning(UserWarning):
    """Cube files of a data set folder that are not read (in sub-folders of a class folder)."""


def export_envi_set(dataset: HSIDermoscopy, out_dir: str | os.PathLike,
                    overwrite: bool = False) -> Path:
    """Write every cube of ``dataset`` as ENVI in the same class-folder layout.

    The set is written into a temporary folder, then renamed onto ``out_dir`` in one step; the
    result opens with ``HSIDermoscopy(out_dir)``. ``out_dir`` may not overlap the data set's
    own folder, and an existing one is replaced only when the project wrote it
    (:func:`hsilib.paths.atomic_dir`).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: exists; pass overwrite=True to replace it")
    with atomic_dir(out_dir, (dataset.root,)) as tmp:
        for folder in CLASS_FOLDERS.values():
            (tmp / folder).mkdir()
        for _, row in dataset.index.iterrows():
            export_envi(tmp / CLASS_FOLDERS[row["class"]] / f"{row.stem}.hdr",
                        load_cube(row.path), dataset.wavelengths_nm)
    return out_dir


# --------------------------------------------------------------------------------------------
# The data set of files
# --------------------------------------------------------------------------------------------
def parse_subtype(stem: str, cls: str) -> str:
    """Subtype from a file name: MM/DN for those folders; for Other, the first known token
    (``SUBTYPE_TOKENS``, case-insensitive, e.g. ``sk_12`` -> ``SK``), else ``"unknown"``.

    A name glued to a token counts only when the token is followed by a digit, a non-letter or
    ``cube`` (``Lentigo3a``, ``SKcube``); ``Skin_01`` is not SK."""
    if cls in ("MM", "DN"):
        return cls
    canon = {t.lower(): t for t in SUBTYPE_TOKENS}
    for token in re.split(r"[^A-Za-z]+", stem):
        if token.lower() in canon:
            return canon[token.lower()]
    for token in SUBTYPE_TOKENS:  # glued names such as "Lentigo3a" or "SKcube"
        if re.match(rf"{token}(?:$|[^A-Za-z]|cube)", stem, flags=re.IGNORECASE):
            return token
    return "unknown"


ALL_BANDS = tuple(f"{w}nm" for w in WAVELENGTHS_NM)
RGB_BANDS = tuple(ALL_BANDS[int(np.abs(np.asarray(WAVELENGTHS_NM) - t).argmin())]
                  for t in (630, 542, 465))


class HSIDermoscopy:
    """The files of an HSIDermoscopy folder (real or stand-in), read lazily.

    ``ds[i]`` is a dict: ``cube`` (float32 H x W x 16), ``label`` (1 MM / 0 DN / -1 Other),
    ``class``, ``subtype``, ``stem``, ``path``, ``wavelengths_nm``. ``ds.index`` is the table
    of files (stem, class, label, subtype, path). Sizes may differ between cubes.
    """

    wavelengths_nm = np.asarray(WAVELENGTHS_NM, dtype=np.float32)
    all_bands = ALL_BANDS
    #: False-colour bands nearest 630 / 542 / 465 nm (red, green, blue)
    rgb_bands = RGB_BANDS
    classes = tuple(CLASS_FOLDERS)

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        missing = [f for f in CLASS_FOLDERS.values() if not (self.root / f).is_dir()]
        if missing:
            raise DatasetNotFoundError(
                f"{self.root}: not an HSIDermoscopy folder, missing {', '.join(missing)}. "
                f"Point DATA_DIR at the folder that holds {', '.join(CLASS_FOLDERS.values())}.")
        rows, nested = [], []
        for cls, folder in CLASS_FOLDERS.items():
            for path in sorted((self.root / folder).iterdir()):
                if path.suffix.lower() in CUBE_SUFFIXES and not path.name.startswith("."):
                    rows.append({"stem": path.stem, "class": cls, "label": LABELS[cls],
                                 "subtype": parse_subtype(path.stem, cls), "path": path})
                elif path.is_dir() and not path.name.startswith("."):
                    nested += [p for p in sorted(path.rglob("*"))
                               if p.suffix.lower() in CUBE_SUFFIXES]
        if nested:
            import warnings

            warnings.warn(
                f"{len(nested)} cube file(s) lie in sub-folders of the class folders and are "
                f"not read (only the files directly in {', '.join(CLASS_FOLDERS.values())} "
                f"are): {', '.join(str(p.relative_to(self.root)) for p in nested[:10])}",
                SkippedFilesWarning, stacklevel=2)
        if not rows:
            raise DatasetNotFoundError(f"{self.root}: no .mat or .hdr cubes in the class folders")
        self.index = pd.DataFrame(rows)
        unknown = self.index.path[self.index.subtype == "unknown"]
        if len(unknown):
            import warnings

            warnings.warn(
                f"{len(unknown)} OtherCube file name(s) name no known subtype "
                f"({', '.join(SUBTYPE_TOKENS)}); their subtype is 'unknown': "
                f"{', '.join(p.name for p in unknown[:10])}", SubtypeWarning, stacklevel=2)
        dup = self.index.stem[self.index.stem.duplicated()]
        if len(dup):
            raise ValueError(f"{self.root}: file stems must be unique, repeated: {list(dup)}")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.index.iloc[i]
        return {"cube": load_cube(row.path), "label": int(row.label), "class": row["class"],
                "subtype": row.subtype, "stem": row.stem, "path": row.path,
                "wavelengths_nm": self.wavelengths_nm}

    def band_indices(self, names: tuple[str, ...]) -> list[int]:
        return [self.all_bands.index(n) for n in names]

    def false_colour(self, cube: np.ndarray) -> np.ndarray:
        """H x W x 3 float of the ``rgb_bands``, each scaled by its 99th percentile."""
        rgb = cube[..., self.band_indices(self.rgb_bands)]
        return np.clip(rgb / (np.percentile(rgb, 99, axis=(0, 1)) + 1e-6), 0, 1)

    def counts(self) -> pd.DataFrame:
        """Images per class and subtype."""
        return self.index.groupby(["class", "subtype"]).size().rename("images").reset_index()

    def __repr__(self) -> str:
        n = self.index["class"].value_counts().to_dict()
        return f"HSIDermoscopy({str(self.root)!r}, {len(self)} cubes: {n})"
