"""Quality at equal steps: a generator family trained by this checkout and by git revision REV,
scored with the evaluation protocol.

A change that alters a network (StyleGAN2's resampling, for one) must show that it did not
cost quality. This trains the family at the ``quick`` settings for the same number of steps
with both codes, on the same crops and generator seeds, and scores every run with this
checkout's :func:`~hsilib.metrics.protocol.evaluate_generator` against the validation crops
(intervals and real-vs-real floors as in notebook 03)::

    python -m hsilib.bench.quality --against REV [--family stylegan2] [--cls MM] [--seeds 0 1]

The data are notebook 01's at ``quick``: the stand-in (half scale), 64-pixel lesion crops,
grouped splits and the training split's normaliser, built once into
``<run folder>/bench/quality-data/`` (default run folder ``runs/quick``). Writes
``bench/quality-<family>-<timestamp>.csv`` (every metric row of every run) and prints the
main rows side by side. Intervals are over images for one generator seed each; the seeds'
columns show the run-to-run spread.
"""

from __future__ import annotations

import argparse
import importlib
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pandas as pd

from ..quiet import expected_warnings
from .compare import load_revision
from .steps import _FAMILY_MODULES

#: the rows printed side by side (all rows are in the CSV)
MAIN_ROWS = ("FD_rand", "KID", "precision", "recall", "coverage", "FD_spectral_lesion",
             "SAM_mean_spectra_deg", "NN_train_dist_ratio", "detectability_AUROC")


def prepare(folder: Path, seed: int = 0) -> dict:
    """Notebook 01's quick data in ``folder`` (kept when already there): crops, splits,
    normaliser. Returns ``{"crops", "splits", "normaliser", "source_of"}``."""
    from .. import config
    from ..data import preprocess, splits
    from ..data.datasets import read_index
    from ..data.explore import min_area_for
    from ..data.hsi_dermoscopy import HSIDermoscopy
    from ..data.normaliser import fit_train_normaliser
    from ..standin.writer import generate_standin

    cfg = config.resolve("quick", "data")
    standin = generate_standin(folder / "standin", n_mm=cfg.n_mm, n_dn=cfg.n_dn,
                               n_other=cfg.n_other, scale=cfg.scale, seed=seed,
                               workers=cfg.workers, progress=False)
    crops = folder / "crops"
    if not (crops / "index.csv").exists():
        ds = HSIDermoscopy(standin / "hsidermoscopy")
        preprocess.make_crops(ds, crops, size=cfg.crop_size, scale=cfg.crop_scale,
                              min_area=min_area_for(ds, cfg.min_lesion_px),
                              workers=cfg.workers, progress=False)
    table = splits.make_splits(read_index(crops), cfg.split_fractions, seed=seed)
    splits_csv = splits.save_csv(table, folder / "splits.csv")
    normaliser = fit_train_normaliser(crops, table, method=cfg.normalisation,
                                      percentiles=cfg.norm_percentiles, seed=seed)
    return {"crops": crops, "splits": splits_csv, "normaliser": normaliser,
            "source_of": table.set_index("id")["source"]}


def real_sets(data: dict, cls: str, size: int) -> dict:
    """Training crops in [-1, 1] (to train on) and training / validation crops in [0, 1] with
    their masks and source images (to score against)."""
    from ..data.datasets import load_crops

    def load(split, value_range):
        return load_crops(data["crops"], data["normaliser"], size, split, data["splits"],
                          classes=(cls,), value_range=value_range)

    train, val = load("train", "symmetric"), load("val", "unit")
    return {"train": train.images, "unit": {"train": (train.images + 1) / 2, "val": val.images},
            "masks": {"train": train.masks, "val": val.masks},
            "groups": {"train": data["source_of"][list(train.ids)].to_numpy(),
                       "val": data["source_of"][list(val.ids)].to_numpy()}}


def train_and_score(lib, family: str, real: dict, data: dict, *, seed: int, steps: int,
                    n_synthetic: int, metrics_cfg) -> tuple[pd.DataFrame, float]:
    """Train ``family`` at ``quick`` with ``lib``'s code for ``steps`` steps from ``seed``,
    sample ``n_synthetic`` images and score them; returns (metric table, training seconds)."""
    from ..metrics.protocol import evaluate_generator

    importlib.import_module(f"{lib.__name__}.{_FAMILY_MODULES[family]}")
    trainer_mod = importlib.import_module(f"{lib.__name__}.train.trainer")
    cfg = importlib.import_module(f"{lib.__name__}.config").resolve("quick", family,
                                                                     steps=steps)
    with expected_warnings("lpips_fallback"):  # the FastGAN fallback reconstruction loss
        trainer = trainer_mod.make_trainer(cfg, real["train"], seed=seed, device="cpu",
                                           log_every=0)
        trainer.show_progress = False
        t0 = time.perf_counter()
        trainer.fit(steps)
        seconds = time.perf_counter() - t0
    synthetic = (trainer.objective.sample(n_synthetic, seed=seed) + 1) / 2
    table = evaluate_generator(
        synthetic, real["unit"]["train"], real["unit"]["val"], cfg=metrics_cfg, seed=seed,
        masks={"real_train": real["masks"]["train"], "real_heldout": real["masks"]["val"]},
        groups={"real_train": real["groups"]["train"], "real_heldout": real["groups"]["val"]},
        to_reflectance=partial(data["normaliser"].inverse, value_range="unit", band_axis=1),
        device="cpu")
    return table, seconds


def side_by_side(results: pd.DataFrame) -> pd.DataFrame:
    """One row per main metric, one column per (code, seed): ``value [ci_low, ci_high]``, and
    the floor."""
    rows = results[results.metric.isin(MAIN_ROWS)]
    cell = rows.apply(lambda r: f"{r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
                      if pd.notna(r.ci_low) else f"{r.value:.3f}", axis=1)
    out = rows.assign(cell=cell).pivot_table(index="metric", columns=["code", "seed"],
                                             values="cell", aggfunc="first")
    out[("floor", "")] = rows.groupby("metric").floor.first().round(3)
    return out.reindex([m for m in MAIN_ROWS if m in out.index])


def main(argv: list[str] | None = None) -> int:
    import hsilib

    from .. import config
    from ..paths import run_paths

    ap = argparse.ArgumentParser(prog="python -m hsilib.bench.quality", description=__doc__)
    ap.add_argument("--against", required=True, metavar="REV", help="the git revision")
    ap.add_argument("--family", default="stylegan2", choices=sorted(_FAMILY_MODULES))
    ap.add_argument("--cls", default="MM", choices=("MM", "DN"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--steps", type=int, default=None, help="default: the quick config's")
    ap.add_argument("--out", default=None, help="run folder (default runs/quick)")
    args = ap.parse_args(argv)

    old = load_revision(args.against)
    bench_dir = run_paths(args.out, "quick").bench
    data = prepare(bench_dir / "quality-data")
    steps = args.steps or config.resolve("quick", args.family).steps
    real = real_sets(data, args.cls, config.resolve("quick", args.family).image_size)
    metrics_cfg = config.resolve("quick", "metrics")
    n_syn = config.resolve("quick", "gan_study").n_synthetic
    tables = []
    for seed in args.seeds:
        for code, lib in (("this", hsilib), (args.against, old)):
            table, seconds = train_and_score(lib, args.family, real, data, seed=seed,
                                             steps=steps, n_synthetic=n_syn,
                                             metrics_cfg=metrics_cfg)
            print(f"{code} seed {seed}: {steps} steps in {seconds:.0f} s", flush=True)
            tables.append(table.assign(code=code, seed=seed, train_s=seconds))
    results = pd.concat(tables, ignore_index=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = bench_dir / f"quality-{args.family}-{stamp}.csv"
    results.to_csv(path, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(side_by_side(results))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
