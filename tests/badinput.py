"""The harness of the bad-input tests (``tests/test_bad_input*.py``).

A case is a function of a fresh folder ``tmp`` that builds its input there and returns
``(call, error type, pattern)``; :func:`check_case` snapshots ``tmp`` byte for byte, runs
``call``, requires the error type and a message matching ``pattern`` (which names the file,
key or parameter at fault), and requires ``tmp`` to be exactly as before (nothing created,
deleted or changed) and no code to have run from a file (no ``PWNED`` marker).

Shared inputs: :func:`source` (a tiny data set and a generator checkpoint), :func:`crops`
(a crop folder with a splits table), :func:`evil_checkpoint`, :func:`fixture_notebooks`.
"""

from __future__ import annotations

import builtins
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safety import snapshot

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import run_all  # noqa: E402

#: Shared read-only inputs, filled by the test functions from their fixtures.
CTX: dict = {}


class Cases(dict):
    """Name -> case function; decorate a case with an instance to register it."""

    def __call__(self, fn: Callable) -> Callable:
        if fn.__name__ in self:
            raise ValueError(f"two cases named {fn.__name__}")
        self[fn.__name__] = fn
        return fn


def check_case(cases: Cases, name: str, tmp_path: Path) -> None:
    """Run case ``name`` of ``cases`` in ``tmp_path`` (see the module docstring)."""
    call, error, pattern = cases[name](tmp_path)
    before = snapshot(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=pattern):
            call()
    assert snapshot(tmp_path) == before  # nothing created, deleted or changed
    assert not (tmp_path / "PWNED").exists()  # no code ran from a file


@pytest.fixture(scope="session")
def source(tmp_path_factory):
    """A tiny data set (1 MM, 1 DN, 2 RGB images) and one generator checkpoint ``gan.pt``
    trained 0 steps on 4 images with ids ``c0..c3``; shared, read-only."""
    from fakedata import make_fake_standin

    root = make_fake_standin(tmp_path_factory.mktemp("src"), n=(1, 1, 0), seed=8, hair=False,
                             n_rgb=2)
    tiny_trainer([f"c{i}" for i in range(4)]).save(root / "gan.pt")
    return root


def tiny_gan_config():
    from hsilib import config

    return config.resolve("smoke", "fastgan", ngf=4, ndf=4, z_dim=16)


def tiny_trainer(ids=None):
    """A FastGAN trainer of :func:`tiny_gan_config` on 4 random images (ids ``ids``)."""
    from hsilib.train.trainer import make_trainer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_trainer(tiny_gan_config(), torch.rand(4, 16, 32, 32) * 2 - 1, seed=0,
                            device="cpu", data_ids=ids)


@pytest.fixture(scope="session")
def crops(tmp_path_factory):
    """A crop folder of 6 MM and 6 DN real crops (two per source image) and its splits
    table (train/val/test by source), shared read-only: (crop folder, splits.csv)."""
    from fakedata import write_fake_crops

    root = tmp_path_factory.mktemp("crops")
    index = write_fake_crops(root / "crops", 6)
    parts = {s: ("train", "val", "test")[i % 3]
             for i, s in enumerate(sorted(index.source.unique()))}
    table = index[["id", "source", "class"]].assign(split=index.source.map(parts))
    table.to_csv(root / "splits.csv", index=False)
    return root / "crops", root / "splits.csv"


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def evil_checkpoint(tmp: Path, name: str = "evil.pt") -> Path:
    """A torch file whose unpickling would create ``tmp/PWNED``."""
    torch.save({"family": "fastgan", "config": {}, "objective": _Evil(tmp / "PWNED"),
                "state_dict": {"w": _Evil(tmp / "PWNED")}}, tmp / name)
    return tmp / name


def evil_pickle(path: Path) -> Path:
    """A plain pickle file whose loading would create ``PWNED`` beside it."""
    import pickle

    path.write_bytes(pickle.dumps(_Evil(path.parent / "PWNED")))
    return path


def fixture_notebooks(tmp: Path) -> Path:
    """Notebook files ``01_n`` .. ``08_n`` (empty: they fail at once if ever run) for
    run_all.py's argument checks."""
    nbs = tmp / "nbs"
    nbs.mkdir()
    for k in range(1, 9):
        (nbs / f"0{k}_n.ipynb").write_text("{}")
    return nbs


def run_all_call(tmp: Path, out: Path | str, *extra: str) -> Callable[[], int]:
    """``run_all.main`` on the fixture notebooks with ``--out out --profile smoke``."""
    nbs = fixture_notebooks(tmp)
    return lambda: run_all.main(["--notebooks", str(nbs), "--out", str(out), "--profile",
                                 "smoke", *extra])


def normaliser(tmp: Path | None = None):
    """A unit-range 16-band normaliser (saved as ``tmp/norm.json`` when ``tmp`` is given)."""
    from hsilib.data.normaliser import BandNormaliser

    norm = BandNormaliser(np.zeros(16), np.ones(16))
    if tmp is not None:
        norm.save(tmp / "norm.json")
    return norm


def esc(path: Path | str) -> str:
    """``path`` as a regular expression."""
    return re.escape(str(path))


def write_table(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def crop_folder_with(tmp: Path, bad: str, edit: Callable[[np.ndarray], np.ndarray]) -> Path:
    """A fake crop folder ``tmp/c`` (2 MM, 2 DN crops) in which crop ``bad``'s cube is replaced
    by ``edit(cube)``."""
    from fakedata import write_fake_crops

    write_fake_crops(tmp / "c", 2)
    with np.load(tmp / "c" / f"{bad}.npz") as z:
        cube, mask = edit(z["cube"].copy()), z["mask"]
    np.savez(tmp / "c" / f"{bad}.npz", cube=cube, mask=mask)
    return tmp / "c"


def all_train(folder: Path, path: Path) -> Path:
    """A splits table putting every crop of ``folder`` in the training split, at ``path``."""
    index = pd.read_csv(folder / "index.csv")
    return write_table(index.assign(split="train")[["id", "source", "class", "split"]], path)
