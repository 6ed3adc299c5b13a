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

Also here: :func:`load_rgb_folder` for the unpaired RGB dermoscopy domain (a folder of PNG/JPG
images, e.g. MILK10K, or the stand-in's ``rgb/`` set).

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from ..labels import LABELS
from ..paths import atomic_dir, atomic_path

CLASS_FOLDERS = {"MM": "MMCube", "DN": "DNCube", "Other": "OtherCube"}
#: Subtype tokens seen in the real file names (matched case-insensitively), canonical spelling.
SUBTYPE_TOKENS = ("IEC", "Lentigo", "Nv", "SK", "Melt", "BCC", "AK", "MM", "DN")
CUBE_SUFFIXES = (".mat", ".hdr")


class DatasetNotFoundError(FileNotFoundError):
    """The data set folder (or one of its class folders) does not exist."""


class CubeFormatError(ValueError):
    """A cube file is unreadable or holds something other than a finite H x W x B array."""


class DataScaleWarning(UserWarning):
    """Cubes of one data set differ in scale by orders of magnitude (raw counts beside
    reflectance?)."""


class SubtypeWarning(UserWarning):
    """An ``OtherCube`` file name names no known subtype (it is counted as ``unknown``)."""


# --------------------------------------------------------------------------------------------
# One cube: read, validate, write
# --------------------------------------------------------------------------------------------
def validate_cube(cube: Any, source: str | os.PathLike = "<array>",
                  n_bands: int = len(WAVELENGTHS_NM), integer_scale: float | None = None
                  ) -> np.ndarray:
    """Return ``cube`` as float32 H x W x ``n_bands`` reflectance; raise :class:`CubeFormatError`
    naming ``source`` when it is not one.

    Accepted: a real floating-point array (reflectance, about 0 to 1; small negative values
    from dark-current subtraction are kept) of shape H x W x ``n_bands`` with H, W >= 1, finite
    values and at least one value above 0. Integer arrays (raw camera counts) are accepted only
    with ``integer_scale``, the count that means reflectance 1 (e.g. 4095 for a 12-bit white
    reference): the cube is divided by it. Refused: booleans, complex or non-numeric data,
    integers without a scale, a wrong rank or band count, an empty image, NaN/inf, and a cube
    with no positive value (not reflectance).
    """
    arr = np.asarray(cube)
    if arr.dtype.kind == "b":
        raise CubeFormatError(f"{source}: a boolean array (a mask?), not a reflectance cube")
    if arr.dtype.kind not in "iuf":
        raise CubeFormatError(f"{source}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise CubeFormatError(
            f"{source}: expected a 3-D cube H x W x {n_bands}, got shape {arr.shape}")
    if arr.shape[-1] != n_bands:
        raise CubeFormatError(
            f"{source}: expected {n_bands} bands on the last axis, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CubeFormatError(f"{source}: empty image, shape {arr.shape}")
    if arr.dtype.kind in "iu":
        if integer_scale is None:
            raise CubeFormatError(
                f"{source}: integer data (dtype {arr.dtype}, values {arr.min()}..{arr.max()}) "
                "looks like raw camera counts, not reflectance; convert it to reflectance "
                "(float), or pass integer_scale=<the count of reflectance 1>")
        if not integer_scale > 0:
            raise CubeFormatError(f"{source}: integer_scale must be > 0, got {integer_scale}")
        arr = arr.astype(np.float32) / np.float32(integer_scale)
    arr = arr.astype(np.float32, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise CubeFormatError(f"{source}: {int(bad.sum())} NaN/inf values in the cube")
    if not (arr > 0).any():
        raise CubeFormatError(f"{source}: no value above 0 (max {float(arr.max()):g}): not "
                              "reflectance")
    return arr


def cube_scale(cube: np.ndarray) -> float:
    """A cube's scale: the 99th percentile of its values (reflectance: about 0.3 to 1)."""
    return float(np.percentile(cube, 99))


def check_scales(scales: dict[str, float], ratio: float = 100.0) -> str | None:
    """Warn (:class:`DataScaleWarning`) when the cube scales (:func:`cube_scale`, by file) of
    one data set differ by more than ``ratio``: raw counts beside reflectance would make any
    global normaliser squash the reflectance cubes to near zero. Returns the message or None."""
    import warnings

    values = {k: v for k, v in scales.items() if v > 0}
    if len(values) < 2:
        return None
    lo, hi = min(values, key=values.get), max(values, key=values.get)
    if values[hi] <= ratio * values[lo]:
        return None
    med = float(np.median(list(values.values())))
    odd = sorted(k for k, v in values.items() if v > 10 * med or v < med / 10)
    msg = (f"cube scales differ by {values[hi] / values[lo]:.3g}x: {hi} (99th percentile "
           f"{values[hi]:g}) vs {lo} ({values[lo]:g}); raw counts beside reflectance? Files "
           f"far from the median scale {med:g}: {odd[:10]}")
    warnings.warn(msg, DataScaleWarning, stacklevel=2)
    return msg


def _read_mat(path: Path) -> np.ndarray:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to MATLAB v7.3 (HDF5) files
        return _read_mat_v73(path)
    except Exception as err:  # truncated, not a MAT file, ...
        raise CubeFormatError(f"{path}: unreadable MAT file ({type(err).__name__}: {err})") from err
    arrays = {k: v for k, v in content.items() if not k.startswith("__")}
    if len(arrays) != 1:
        raise CubeFormatError(
            f"{path}: expected exactly one array in the MAT file, found {sorted(arrays)}")
    return next(iter(arrays.values()))


def _read_mat_v73(path: Path) -> np.ndarray:
    try:
        import h5py
    except ImportError as err:
        raise CubeFormatError(
            f"{path}: a MATLAB v7.3 (HDF5) file; reading it needs h5py (pip install h5py), "
            "or re-save it in MATLAB with save(..., '-v7')") from err
    with h5py.File(path, "r") as f:
        names = [k for k in f if not k.startswith("#")]
        if len(names) != 1:
            raise CubeFormatError(f"{path}: expected one dataset in the v7.3 file, got {names}")
        # MATLAB is column-major: h5py sees the axes reversed (B x W x H)
        return np.asarray(f[names[0]]).transpose(2, 1, 0)


#: Header field in which :func:`export_envi` records the SHA-256 of the data file it wrote.
ENVI_CHECKSUM_KEY = "hsilib data sha256"


def _sha256(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_envi(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an ENVI pair, checking first that the data file fits the header: its size must be
    header offset + lines x samples x bands x bytes per value, and the data file's SHA-256
    must match the one :func:`export_envi` recorded (when the header has it)."""
    import spectral.io.envi as envi

    try:
        img = envi.open(str(path))
    except Exception as err:
        raise CubeFormatError(
            f"{path}: unreadable ENVI file ({type(err).__name__}: {err})") from err
    data = Path(img.filename)
    meta = img.metadata
    try:
        expected = int(meta.get("header offset", 0)) + (
            img.nrows * img.ncols * img.nbands * np.dtype(img.dtype).itemsize)
    except (TypeError, ValueError) as err:
        raise CubeFormatError(f"{path}: unreadable ENVI header ({err})") from err
    size = data.stat().st_size
    if size != expected:
        raise CubeFormatError(
            f"{path}: the data file {data} has {size} bytes, the header says {expected} "
            f"({img.nrows} lines x {img.ncols} samples x {img.nbands} bands of "
            f"{np.dtype(img.dtype).name}): header and data do not belong together (an "
            "interrupted export?)")
    recorded = meta.get(ENVI_CHECKSUM_KEY)
    if recorded and _sha256(data) != recorded:
        raise CubeFormatError(
            f"{path}: the data file {data} is not the one this header was written with "
            "(checksum differs): header and data do not belong together (an interrupted "
            "export?)")
    try:
        cube = np.asarray(img.load())
    except Exception as err:
        raise CubeFormatError(
            f"{path}: unreadable ENVI file ({type(err).__name__}: {err})") from err
    wl = meta.get("wavelength")
    return cube, (np.asarray([float(w) for w in wl], np.float32) if wl else None)


def load_cube(path: str | os.PathLike, n_bands: int = len(WAVELENGTHS_NM),
              integer_scale: float | None = None) -> np.ndarray:
    """Read one cube file (``.mat`` of any key name and float type, or ENVI ``.hdr``) as float32
    H x W x B reflectance, validated (:func:`validate_cube`: integer counts need
    ``integer_scale``); every error names the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such cube file")
    if path.suffix.lower() == ".hdr":
        cube = _read_envi(path)[0]
    elif path.suffix.lower() == ".mat":
        cube = _read_mat(path)
    else:
        raise CubeFormatError(f"{path}: unknown cube format (expected .mat or ENVI .hdr)")
    return validate_cube(cube, path, n_bands, integer_scale)


def save_cube(path: str | os.PathLike, cube: np.ndarray, key: str = "cube") -> Path:
    """Write ``cube`` (validated, float32) to a ``.mat`` file under ``key``, atomically."""
    import scipy.io

    path = Path(path)
    cube = validate_cube(cube, path, np.asarray(cube).shape[-1])
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, {key: cube}, appendmat=False)
    return path


# --------------------------------------------------------------------------------------------
# ENVI export / import (.hdr + .img) with wavelength metadata
# --------------------------------------------------------------------------------------------
def export_envi(hdr_path: str | os.PathLike, cube: np.ndarray,
                wavelengths_nm: Any = WAVELENGTHS_NM) -> Path:
    """Write ``cube`` as ENVI ``<name>.hdr`` + ``<name>.img`` with its wavelengths (nm).

    Both files are written into a temporary folder beside the target and renamed into place
    (the header last). The header records the data file's size (its shape) and SHA-256, and
    reading checks both, so a pair broken by an interruption between the two renames (a new
    data file under an old header) is an error, never a cube of the wrong shape.
    """
    import spectral.io.envi as envi

    hdr_path = Path(hdr_path).with_suffix(".hdr")
    cube = validate_cube(cube, hdr_path, np.asarray(cube).shape[-1])
    if len(wavelengths_nm) != cube.shape[-1]:
        raise ValueError(f"{hdr_path}: {len(wavelengths_nm)} wavelengths for "
                         f"{cube.shape[-1]} bands")
    hdr_path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"wavelength": [f"{float(w):g}" for w in wavelengths_nm], "wavelength units": "nm"}
    with tempfile.TemporaryDirectory(dir=hdr_path.parent, prefix=".envi-") as tmp:
        tmp_hdr = Path(tmp) / hdr_path.name
        envi.save_image(str(tmp_hdr), cube, dtype=np.float32, metadata=meta, force=True,
                        ext=".img", interleave="bsq")
        with open(tmp_hdr, "a") as f:  # the checksum of the data file, read back on load
            f.write(f"{ENVI_CHECKSUM_KEY} = {_sha256(tmp_hdr.with_suffix('.img'))}\n")
        os.replace(tmp_hdr.with_suffix(".img"), hdr_path.with_suffix(".img"))
        os.replace(tmp_hdr, hdr_path)
    return hdr_path


def import_envi(hdr_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an ENVI cube: (float32 H x W x B, wavelengths in nm from the header or None)."""
    hdr_path = Path(hdr_path)
    if not hdr_path.is_file():
        raise FileNotFoundError(f"{hdr_path}: no such ENVI header")
    cube, wl = _read_envi(hdr_path)
    return validate_cube(cube, hdr_path, cube.shape[-1]), wl


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
        rows = []
        for cls, folder in CLASS_FOLDERS.items():
            for path in sorted((self.root / folder).iterdir()):
                if path.suffix.lower() in CUBE_SUFFIXES and not path.name.startswith("."):
                    rows.append({"stem": path.stem, "class": cls, "label": LABELS[cls],
                                 "subtype": parse_subtype(path.stem, cls), "path": path})
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


# --------------------------------------------------------------------------------------------
# The unpaired RGB domain
# --------------------------------------------------------------------------------------------
RGB_SUFFIXES = (".png", ".jpg", ".jpeg")


def _resize_rgb(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = size / min(h, w)  # SmallestMaxSize + CenterCrop, as for the cubes
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return img[y0:y0 + size, x0:x0 + size]


def load_rgb_folder(folder: str | os.PathLike, size: int | None = None,
                    limit: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a folder of RGB dermoscopy images: (uint8 N x size x size x 3, table).

    With an ``index.csv`` (the stand-in's ``rgb/``: id, class, subtype, path) its rows are used;
    otherwise every PNG/JPG under ``folder`` is read, the class being the parent folder's name
    ("unknown" at the top level). ``size=None`` keeps the native size (all must match).
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such RGB image folder")
    if (folder / "index.csv").is_file():
        table = pd.read_csv(folder / "index.csv", dtype={"id": str})
    else:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in RGB_SUFFIXES)
        table = pd.DataFrame({
            "id": [p.stem for p in files],
            "class": [p.parent.name if p.parent != folder else "unknown" for p in files],
            "path": [str(p.relative_to(folder)) for p in files]})
        table["subtype"] = table["class"]
    if limit is not None:
        table = table.iloc[:limit].reset_index(drop=True)
    if table.empty:
        raise DatasetNotFoundError(f"{folder}: no PNG/JPG images found")
    images = []
    for rel in table.path:
        img = cv2.imread(str(folder / rel), cv2.IMREAD_COLOR)
        if img is None:
            raise CubeFormatError(f"{folder / rel}: unreadable image")
        img = img[..., ::-1]  # OpenCV reads BGR
        images.append(_resize_rgb(img, size) if size else img)
    if len({im.shape for im in images}) > 1:
        raise ValueError(f"{folder}: images differ in size; pass size= to resize them")
    return np.ascontiguousarray(np.stack(images)), table
