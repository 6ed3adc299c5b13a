"""One hyperspectral cube on disk: read, validate, write (MATLAB ``.mat`` and ENVI).

:func:`load_cube` reads a ``.mat`` (v5 or v7.3) or an ENVI ``.hdr`` + ``.img`` pair and
:func:`validate_cube` checks it is a finite H x W x B reflectance array (raising
:class:`CubeFormatError` naming the file); :func:`save_cube` and :func:`export_envi` write one
atomically (ENVI with its wavelengths and a checksum of its data file). :func:`check_scales`
warns when cubes of one set differ in scale by orders of magnitude.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import WAVELENGTHS_NM
from ..paths import atomic_path


class DatasetNotFoundError(FileNotFoundError):
    """The data set folder (or one of its class folders) does not exist."""


class CubeFormatError(ValueError):
    """A cube file is unreadable or holds something other than a finite H x W x B array."""


class DataScaleWarning(UserWarning):
    """Cubes of one data set differ in scale by orders of magnitude (raw counts beside
    reflectance?)."""


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
    except PermissionError as err:
        raise PermissionError(f"{path}: the cube file cannot be read: permission denied (check "
                              "its owner and mode)") from err
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
