"""Benchmarks: data (registered with hsilib.bench.register)."""

from __future__ import annotations

from pathlib import Path

from . import register


# --------------------------------------------------------------------------------------------
# data.generate_330: the stand-in generator at the real data set's size (stand-in helper)
# --------------------------------------------------------------------------------------------
@register("data.generate_330", group="data", unit="cubes", repeats=1,
          note="stand-in: 330 cubes 272x512x16 + truth + RGB renderings, 2 workers")
def _generate_330(cfg):
    import shutil
    import tempfile

    from ..standin.writer import generate_standin

    calls = []

    def run():
        # The runner's warm-up call only warms imports, colour tables and the worker start-up
        # (4 cubes); every timed call writes all 330 into a fresh folder.
        n = (85, 175, 70) if calls else (2, 1, 1)
        calls.append(n)
        out = Path(tempfile.mkdtemp(prefix="hsilib_bench_standin_"))
        try:
            generate_standin(out, n_mm=n[0], n_dn=n[1], n_other=n[2], scale=1.0, seed=0,
                             workers=2, progress=False)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        return sum(n)

    return run


# --------------------------------------------------------------------------------------------
# data.preprocess_330: segmentation + crops of 330 full-size cubes (data-IO helper)
# --------------------------------------------------------------------------------------------
def _standin_330() -> Path:
    """330 full-size (272 x 512 x 16) cubes, generated once and cached in the temp folder."""
    import shutil
    import sys
    import tempfile

    from ..paths import REPO_ROOT

    cache = Path(tempfile.gettempdir()) / "hsilib_bench" / "standin_330"
    done = cache / "complete"
    if not done.exists():
        shutil.rmtree(cache, ignore_errors=True)  # a half-made cache from an interrupted run
        try:
            from ..standin.writer import generate_standin

            generate_standin(cache, n_mm=85, n_dn=175, n_other=70, scale=1.0, seed=0,
                             workers=2, progress=False)
            root = cache / "hsidermoscopy"
        except ImportError:  # the stand-in is not there: blobs in the same file format
            sys.path.insert(0, str(REPO_ROOT / "tests"))
            from fakedata import make_big_fake_standin

            make_big_fake_standin(cache)
            root = cache / "hsidermoscopy"
        done.write_text(str(root))
    return Path(done.read_text())


@register("data.preprocess_330", group="data", unit="cubes", repeats=1,
          note="segment + crop 330 cubes 272x512x16 -> 256 px crops, 2 workers")
def _preprocess_330(cfg):
    import copy
    import tempfile

    from ..data.hsi_dermoscopy import HSIDermoscopy
    from ..data.preprocess import make_crops

    ds = HSIDermoscopy(_standin_330())
    warm = copy.copy(ds)
    warm.index = ds.index.head(4)  # the warm-up only starts workers and imports
    out = tempfile.TemporaryDirectory(prefix="hsilib_bench_crops_")  # removed at exit
    calls = []

    def run():
        data = ds if calls else warm
        calls.append(len(data))
        make_crops(data, Path(out.name) / "crops", size=256, scale=1.5, min_area=400,
                   workers=2, progress=False)
        return len(data)

    return run
