"""Render the README's result tables from one run folder's CSVs.

Usage::

    python tools/readme_results.py RUN_DIR [--readme README.md] [--check]

The README marks each generated table with a pair of HTML comments::

    <!-- results:NAME -->
    ...generated text...
    <!-- /results:NAME -->

For every pair, block ``NAME`` is rendered from ``RUN_DIR/artifacts/results/*.csv`` (and
``RUN_DIR/manifest.json``: the run's profile, commit and minutes per notebook) by the function
registered under that name in :data:`BLOCKS`, and written between the markers; text outside the
markers is left byte for byte as it was (the file is replaced atomically). Every block ends with
one line saying what its brackets cover and, for tests, the smallest change the design could
have detected. A block whose CSV is missing (an arm that runs only under some profiles) renders
one line naming the file and the profiles that write it. An unknown ``NAME`` is an error.

``--check`` writes nothing: exit status 1, naming every block whose text differs from what the
run gives (the README is stale for this run), else 0. Exit status 2: bad input (no run folder,
an unknown block, an unpaired marker).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from hsilib.metrics.intervals import NO_CHANGE, t_interval
from hsilib.study.ablation import ONE_SEED, seed_intervals
from hsilib.study.proportion import amount_table

OPEN = re.compile(r"<!-- results:([^ ]+) -->\n")
BLOCK = re.compile(r"(<!-- results:(?P<name>[^ ]+) -->\n)(?P<body>.*?)"
                   r"(<!-- /results:(?P=name) -->)", re.S)
EVERY = "every profile (smoke, quick and full)"


class Missing(Exception):
    """A CSV the block needs is not in the run folder (or lacks a column)."""


class Run:
    """One run folder: its manifest and its result CSVs, read with pandas."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        manifest = self.dir / "manifest.json"
        if not manifest.is_file():
            raise FileNotFoundError(f"{manifest}: not a run folder (run_all.py writes it)")
        self.manifest = json.loads(manifest.read_text())
        self.results = self.dir / "artifacts" / "results"
        self.profile = self.manifest.get("profile", "?")

    def csv(self, name: str, where: str = EVERY, columns: tuple[str, ...] = ()) -> pd.DataFrame:
        path = self.results / name
        if not path.is_file():
            raise Missing(f"`{name}` is not in this run: notebook {name[:2]} writes it under "
                          f"{where}.")
        frame = pd.read_csv(path)
        lacking = [c for c in columns if c not in frame.columns]
        if lacking:
            raise Missing(f"`{name}` of this run lacks the column(s) {', '.join(lacking)}.")
        return frame

    def glob(self, pattern: str, where: str = EVERY) -> list[Path]:
        paths = sorted(self.results.glob(pattern))
        if not paths:
            raise Missing(f"no `{pattern}` in this run: notebook {pattern[:2]} writes it under "
                          f"{where}.")
        return paths


# ---- formatting -----------------------------------------------------------------------------

def num(v, digits: int = 3) -> str:
    """A number with ``digits`` significant digits; '' for NaN / None."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, str):
        return v
    return f"{v:.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"


def ci(value, lo, hi, digits: int = 3) -> str:
    """``value [lo, hi]``; the value alone when the interval is undefined."""
    if num(lo) == "" or num(hi) == "":
        return num(value, digits)
    return f"{num(value, digits)} [{num(lo, digits)}, {num(hi, digits)}]"


def md_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of ``frame`` (its index left out); NaN cells are empty and '|'
    inside a cell is escaped."""
    def cell(v) -> str:
        return num(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |",
             "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def bracket(lo, hi, digits: int = 3) -> str:
    """``[lo, hi]``; '' when the interval is undefined."""
    return "" if num(lo) == "" or num(hi) == "" else f"[{num(lo, digits)}, {num(hi, digits)}]"


def note(text: str) -> str:
    """The line under a table saying what its brackets cover (italic)."""
    return f"_{text}_"


# ---- blocks ---------------------------------------------------------------------------------

def block_run(run: Run) -> str:
    m = run.manifest
    git = m.get("git") or {}
    sha = (git.get("sha") or "unknown")[:7] + (" (uncommitted changes)" if git.get("dirty") else "")

    def commit(v: dict) -> str:  # the notebook's own, where run_all.py recorded it
        own = v.get("git") or {}
        return ((own.get("sha") or "")[:7] + (" (uncommitted changes)" if own.get("dirty")
                                              else "")) or "not recorded"

    records = m.get("notebooks", {})
    rows = [{"notebook": k, "status": v.get("status"),
             "minutes": round(v["wall_s"] / 60, 1) if v.get("wall_s") is not None else None,
             "commit": commit(v)} for k, v in records.items()]
    frame = pd.DataFrame(rows, columns=["notebook", "status", "minutes", "commit"])
    if not any(v.get("git") for v in records.values()):
        frame = frame.drop(columns="commit")  # an older run folder: the run's commit only
    elif frame["commit"].nunique() > 1:  # notebooks rerun at other commits
        sha = "of the last invocation " + sha + " (per notebook in the table)"
    total = frame["minutes"].sum()
    device = (m.get("environment") or {}).get("device", "?")
    return (f"Profile `{run.profile}`, seed {m.get('seed')}, commit {sha}, device {device}, "
            f"{num(total)} minutes in all.\n\n{md_table(frame)}\n\n"
            + note("Wall-clock minutes of this run on its machine (manifest.json): no interval; "
                     "a shared or slower machine takes longer."))


def block_01_checks(run: Run) -> str:
    checks = run.csv("01_checks.csv", columns=("name", "passed", "sentence"))
    table = pd.DataFrame({"check": checks["name"], "measured": checks["sentence"],
                          "result": checks["passed"].map({True: "pass", False: "FAIL"})})
    dice = run.csv("01_segmentation_dice.csv", columns=("dice",))["dice"]
    return (md_table(table) + f"\n\nAutomatic segmentation against the true masks: Dice mean "
            f"{num(dice.mean())}, median {num(dice.median())} over {len(dice)} true lesions.\n\n"
            + note("The context-only check's bracket is its 95% interval over images as its "
                     "sentence states (image-grouped cross-validation); the other checks are "
                     "single measurements against a fixed limit."))


ARM_METRICS = ("FD_rand", "FD_spectral_lesion", "detectability_AUROC")


def block_02_arms(run: Run) -> str:
    long = run.csv("02_metrics_long.csv", columns=("arm", "class", "seed", "metric", "value",
                                                   "floor"))
    parts = []
    for metric in [m for m in ARM_METRICS if m in set(long.metric)]:
        t = seed_intervals(long, metric)
        t[metric] = [ci(r.value, r.ci_low, r.ci_high) if r.n_seeds > 1 else
                     f"{num(r.value)} ({ONE_SEED})" for r in t.itertuples()]
        t[f"{metric} floor"] = t["floor"].map(num)
        parts.append(t.set_index(["arm", "class"])[[metric, f"{metric} floor"]])
    wide = pd.concat(parts, axis=1)
    seeds = long.groupby(["arm", "class"])["seed"].nunique().rename("seeds")
    wide = wide.join(seeds).reset_index()
    order = list(dict.fromkeys(long["arm"]))
    wide = wide.sort_values(["arm", "class"], key=lambda s: s.map(order.index) if s.name == "arm"
                            else s, kind="stable")
    return (md_table(wide) + "\n\n"
            + note("Brackets: 95% Student-t intervals over the arm's training seeds (seeds "
                     f"column); an arm trained with one seed shows its value alone ({ONE_SEED}). "
                     "Floors: real vs real, mean over seeds."))


def block_02_rgb_to_hs(run: Run) -> str:
    return _reconstruction(run.csv("02_rgb_to_hs.csv", columns=("model", "rmse", "sam_deg")),
                           seeds_of="shsgan_rgb")


def _reconstruction(t: pd.DataFrame, seeds_of: str | None = None) -> str:
    """RGB-to-16-band tables of notebooks 02 and 04: one row per model and RGB input."""
    extra = ""
    if "input" not in t.columns:
        t = t.assign(input="CIE rendering")
        extra = " This run's table has no `input` column: CIE renderings only."
    rows = []
    for (inp, model), r in t.groupby(["input", "model"], sort=False):
        r = r.iloc[0]
        rows.append({"model": model, "RGB input": inp,
                     "band RMSE (reflectance)": ci(r.rmse, r.rmse_lo, r.rmse_hi),
                     "SAM (deg)": ci(r.sam_deg, r.sam_deg_lo, r.sam_deg_hi),
                     "melanin / blood error (log10)":
                         f"{num(r.get('chrom_f_mel_epi'), 2)} / {num(r.get('chrom_blood'), 2)}",
                     "images": r.get("n_images")})
    seed_rows = []
    if seeds_of:
        for inp, g in t[t.model.astype(str).str.fullmatch(rf"{seeds_of}_g\d+")].groupby(
                "input", sort=False):
            mean, lo, hi = t_interval(g["rmse"].to_numpy())
            seeds = f"{len(g)} seed" + ("s" if len(g) > 1 else "")
            seed_rows.append({"model": f"{seeds_of}, over {seeds}", "RGB input": inp,
                              "band RMSE (reflectance)": ci(mean, lo, hi) if len(g) > 1
                              else f"{num(mean)} ({ONE_SEED})"})
    frame = pd.DataFrame(rows + seed_rows)
    return (md_table(frame) + "\n\n"
            + note("Brackets: 95% bootstrap intervals over the validation images (images "
                     "column)" + ("; the 'over seeds' row: Student-t over the arm's generator "
                                  "seeds" if seed_rows else "") + "." + extra))


GEN_METRICS = ("FD_rand", "KID", "precision", "recall", "coverage", "FD_spectral_lesion",
               "SAM_mean_spectra_deg", "W1_f_mel_epi", "W1_blood", "NN_train_dist_ratio",
               "detectability_AUROC")


def block_03_fastgan(run: Run) -> str:
    paths = [p for p in run.glob("03_metrics_[md][mn]_*.csv")]
    rows: dict[tuple[str, str], dict] = {}
    for p in paths:
        cls, rep = p.stem.split("_")[2:4]
        t = run.csv(p.name, columns=("metric", "value", "ci_low", "ci_high", "floor"))
        for r in t[t.metric.isin(GEN_METRICS)].itertuples():
            row = rows.setdefault((r.metric, cls.upper()), {"metric": r.metric,
                                                            "class": cls.upper()})
            row[f"generator {rep}"] = ci(r.value, r.ci_low, r.ci_high)
            row["real-vs-real floor"] = num(r.floor)
    frame = pd.DataFrame(rows.values())
    frame = frame[[c for c in frame.columns if c != "real-vs-real floor"] + ["real-vs-real floor"]]
    order = {m: i for i, m in enumerate(GEN_METRICS)}
    frame = frame.sort_values(["class", "metric"], key=lambda s: s.map(order) if s.name ==
                              "metric" else s.map({"MM": 0, "DN": 1}), kind="stable")
    return (md_table(frame) + "\n\n"
            + note("Brackets: 95% bootstrap intervals over images (synthetic and/or held-out, "
                     "as each metric's `note` in the CSV says), not over generator seeds: the "
                     "generator columns show that spread. Floor: real vs real with the same "
                     "number of images."))


def block_03_stylegan2(run: Run) -> str:
    t = run.csv("03_fastgan_vs_stylegan2_fd.csv",
                columns=("class", "replicate", "FastGAN value", "StyleGAN2 value", "floor"))
    frame = pd.DataFrame({
        "class": t["class"], "generator": t["replicate"],
        "FastGAN FD_rand": [ci(*r) for r in t[["FastGAN value", "FastGAN ci_low",
                                               "FastGAN ci_high"]].to_numpy()],
        "StyleGAN2-ADA FD_rand": [ci(*r) for r in t[["StyleGAN2 value", "StyleGAN2 ci_low",
                                                     "StyleGAN2 ci_high"]].to_numpy()],
        "floor": t["floor"].map(num),
        "intervals": t["intervals overlap"].map({True: "overlap", False: "apart"})})
    return (md_table(frame) + "\n\n"
            + note("Brackets: 95% bootstrap intervals over images, per generator seed; "
                     "'apart' intervals are a difference at that level, overlapping ones are "
                     "not distinguishable."))


def block_04_rgb_to_hs(run: Run) -> str:
    return _reconstruction(run.csv("04_rgb_to_hs.csv", columns=("model", "rmse", "sam_deg")))


def block_05_vae(run: Run) -> str:
    t = run.csv("05_vae_vs_fastgan_metrics.csv", columns=("metric", "class", "floor"))
    families = [c for c in t.columns if c not in ("metric", "class", "floor")]
    wide = {}
    for cls in ("MM", "DN"):
        c = t[t["class"] == cls].set_index("metric")
        for f in families:
            wide[f"{cls}: {f}"] = c[f].map(num)
        wide[f"{cls} floor"] = c["floor"].map(num)
    frame = pd.DataFrame(wide).rename_axis("validation metric").reset_index()
    gauss = "" if "vae_gauss" in families else " This run has no `vae_gauss` column."
    return (md_table(frame) + "\n\n"
            + note("Means over the generator seeds of each family, no interval: the spread "
                     "over seeds and the per-seed bootstrap intervals are in notebook 05's "
                     "per-generator tables. Floor: real vs real." + gauss))


def _power(run: Run, prefix: str) -> tuple[str, str]:
    """The minimal detectable AUROC change of this run's design (``<prefix>_power*.csv``): the
    number, and a sentence naming the design."""
    power = pd.concat([pd.read_csv(p) for p in run.glob(f"{prefix}_power*.csv")])
    row = power[power["profile"] == run.profile]
    if row.empty or num(row.iloc[0]["mdc"]) == "":
        return "", f"not computable for the {run.profile} design"
    r = row.iloc[0]
    return num(r["mdc"]), f"{num(r['mdc'])} AUROC ({r['design']}, {r['test set']})"


def _uncertainty(t: pd.DataFrame, label: str) -> pd.DataFrame:
    """AUROC with its three intervals, plus mean sensitivity and specificity, per config."""
    means = t.pivot(index="config", columns="metric", values="mean")
    a = t[t.metric == "auroc"].set_index("config")
    frame = pd.DataFrame({
        label: a.index, "test AUROC": a["mean"].map(num),
        "over runs": [bracket(lo, hi) for lo, hi in
                      zip(a.runs_lo, a.runs_hi, strict=True)],
        "test bootstrap by source": [bracket(lo, hi) for lo, hi in
                                     zip(a.boot_lo, a.boot_hi, strict=True)],
        "DeLong": [bracket(lo, hi) for lo, hi in
                   zip(a.delong_lo, a.delong_hi, strict=True)],
        "sensitivity (MM)": means.loc[a.index, "sensitivity"].map(lambda v: num(v, 2)).values,
        "specificity (DN)": means.loc[a.index, "specificity"].map(lambda v: num(v, 2)).values,
        "vs chance": a["verdict"], "runs": a["runs"]})
    return frame


UNCERTAINTY = ("Brackets: 95% intervals, each covering something else: over runs (Student-t over "
               "classifier seeds, generator replicates averaged within seed, on the fixed test "
               "set: training variation only), a cluster bootstrap over test source images (test "
               "sampling only; a source's crops move together) and DeLong's (test sampling only).")


def block_06_summary(run: Run) -> str:
    t = run.csv("06_uncertainty.csv", columns=("config", "metric", "mean", "runs_lo", "boot_lo",
                                                "delong_lo", "verdict", "runs"))
    return md_table(_uncertainty(t, "configuration")) + "\n\n" + note(UNCERTAINTY)


def _paired(t: pd.DataFrame, mdc_auroc: str | None) -> pd.DataFrame:
    """Paired differences against the baseline with every interval, verdict and, beside each
    verdict that is not a detected change, the minimal detectable change."""
    rows = []
    for r in t[t.metric.isin(["auroc", "sensitivity"])].itertuples():
        undetected = r.verdict not in ("improvement", "deterioration")
        mdc = (mdc_auroc if r.metric == "auroc" and mdc_auroc is not None else num(r.mdc))
        rows.append({"configuration": f"{r.config} vs {r.baseline}", "metric": r.metric,
                     "difference": num(r.diff), "over runs": bracket(r.lo, r.hi),
                     "test bootstrap by source": bracket(r.boot_lo, r.boot_hi),
                     "DeLong": bracket(r.delong_lo, r.delong_hi),
                     "p (Holm)": num(r.p_t_holm, 2), "verdict": r.verdict,
                     "smallest detectable change": mdc if undetected else ""})
    return pd.DataFrame(rows)


PAIRED = (UNCERTAINTY.replace("95% intervals", "95% intervals of the paired difference")
          + " 'Smallest detectable change': the change this design detects with 80% power "
          "(AUROC: from the power table of this run's profile; other metrics: the paired "
          "table's own estimate); a change below it could not have been seen. "
          f"'{NO_CHANGE}' is absence of evidence, not evidence of no effect.")


def block_06_paired(run: Run) -> str:
    t = run.csv("06_paired.csv", columns=("metric", "config", "baseline", "diff", "verdict",
                                           "mdc"))
    mdc, design = _power(run, "06")
    return (md_table(_paired(t, mdc or None)) + "\n\n"
            + note(f"{PAIRED} This run's design detects an AUROC change of {design}."))


def block_07_amount(run: Run) -> str:
    u = run.csv("07_uncertainty.csv", columns=("config", "metric", "mean", "boot_lo"))
    arms = run.csv("07_arms.csv", columns=("config", "family", "mix", "percent", "filter"))
    t = amount_table(u[u.metric == "auroc"], arms)
    t = t[(t["filter"] == "none") & (t["percent"] > 0)]
    t["cell"] = [f"{num(m)} ({num(lo)}-{num(hi)})" for m, lo, hi in
                 zip(t["mean"], t["boot_lo"], t["boot_hi"], strict=True)]
    t["arm"] = t["family"] + ", " + t["mix"]
    wide = t.pivot(index="arm", columns="percent", values="cell")
    wide.columns = [f"{p:g}%" for p in wide.columns]
    base = u[(u.config == "real") & (u.metric == "auroc")]
    paired = run.csv("07_paired.csv", columns=("metric", "verdict"))
    counts = paired[paired.metric == "auroc"]["verdict"].value_counts()
    base_text = "".join(f"Real-only baseline: {ci(r['mean'], r['boot_lo'], r['boot_hi'])}. "
                        for _, r in base.head(1).iterrows())
    return (md_table(wide.rename_axis("test AUROC (bootstrap by source)").reset_index())
            + f"\n\n{base_text}AUROC verdicts of the arms against it: "
            + ", ".join(f"{n} {v}" for v, n in counts.items()) + ".\n\n"
            + note("Brackets: 95% cluster bootstrap over test source images (test sampling "
                     "only). Smallest AUROC change this design detects with 80% power: "
                     f"{_power(run, '07')[1]}; smaller changes could not have been seen."))


def block_08_calibration(run: Run) -> str:
    t = run.csv("08_calibration.csv", "smoke, quick and full on stand-in data (the oracle "
                "ladder; real data have none)", columns=("metric", "at_floor", "rises", "detects",
                                                           "median_rho", "r_within", "predicts"))
    frame = pd.DataFrame({
        "metric": t["metric"], "clean oracle at floor": t["at_floor"].map({True: "yes",
                                                                             False: "no"}),
        "rises with corruption": t["rises"], "detects strongest rung": t["detects"],
        "median rho": t["median_rho"].map(lambda v: num(v, 2)),
        "within-kind r with AUROC change": [ci(r, lo, hi, 2) for r, lo, hi in
                                            zip(t.r_within, t.r_lo, t.r_hi, strict=True)],
        "predicts utility": t["predicts"],
        "generators: share of rungs nearer the floor": t.get("generators_share_below",
                                                             pd.Series(dtype=float)).map(
            lambda v: num(v, 2))})
    return (md_table(frame) + "\n\n"
            + note("Brackets: 95% bootstrap intervals that resample whole corruption kinds "
                     "of the oracle ladder (rungs of one kind share their lesions); verdicts "
                     "need the interval to exclude 0 and a Holm-adjusted permutation p < 0.05."))


def block_08_within(run: Run) -> str:
    """One row per metric, one column per population and utility (AUROC change, sensitivity
    change; Brier and ECE stay in the CSV): the partial Spearman within groups with its
    interval, starred where the verdict is an association."""
    t = run.csv("08_correlations.csv", columns=("population", "metric", "utility", "method",
                                                 "r", "lo", "hi", "p_holm", "n", "n_clusters",
                                                 "verdict"))
    t = t[(t.method == "within") & t.utility.isin(UTILITIES)]
    frame = pd.DataFrame({"metric": list(dict.fromkeys(t.metric))})
    sizes = []
    for pop in dict.fromkeys(t.population):
        for util, word in UTILITIES.items():
            part = t[(t.population == pop) & (t.utility == util)].set_index("metric")
            if part.empty:
                continue
            cells = {m: ci(r.r, r.lo, r.hi, 2)
                     + (" *" if r.verdict != "no detectable association" else "")
                     for m, r in part.iterrows()}
            frame[f"{pop}: {word}"] = frame.metric.map(cells)
        first = t[t.population == pop].iloc[0]
        sizes.append(f"{pop} {int(first.n)} states in {int(first.n_clusters)} clusters")
    return (md_table(frame) + "\n\n"
            + note("Partial Spearman of each metric with the utility within groups (corruption "
                     "kind on the ladder, family and class among the generators), group means "
                     "of the ranks removed; brackets: 95% bootstrap intervals resampling whole "
                     "clusters; * an association (interval excludes 0 and permutation p < 0.05 "
                     "after Holm over the metrics of one utility); no star: no detectable "
                     "association. " + "; ".join(sizes) + ". With few clusters only strong "
                     "associations are detectable."))


#: utilities of notebook 08 shown in the README (the CSV also has Brier score and ECE)
UTILITIES = {"auroc": "AUROC change", "sens_at_spec": "sensitivity change"}


def block_09_variants(run: Run) -> str:
    u = run.csv("09_uncertainty.csv", columns=("config", "metric", "mean", "runs_lo", "boot_lo",
                                                "delong_lo", "verdict", "runs"))
    p = run.csv("09_paired.csv", columns=("metric", "config", "baseline", "diff", "verdict",
                                           "mdc"))
    return (md_table(_uncertainty(u, "input variant")) + "\n\n"
            + md_table(_paired(p, None)) + "\n\n"
            + note(PAIRED.replace("AUROC: from the power table of this run's profile; other "
                                    "metrics: ", "")))


#: block name -> renderer; the README's marker names.
BLOCKS: dict[str, Callable[[Run], str]] = {
    "run": block_run, "01_checks": block_01_checks, "02_arms": block_02_arms,
    "02_rgb_to_hs": block_02_rgb_to_hs, "03_fastgan": block_03_fastgan,
    "03_stylegan2": block_03_stylegan2, "04_rgb_to_hs": block_04_rgb_to_hs,
    "05_vae": block_05_vae, "06_summary": block_06_summary, "06_paired": block_06_paired,
    "07_amount": block_07_amount, "08_calibration": block_08_calibration,
    "08_within": block_08_within, "09_variants": block_09_variants,
}


def render(name: str, run: Run) -> str:
    """Block ``name`` for ``run``: its text (ending in a newline), or the missing-file line."""
    if name not in BLOCKS:
        raise KeyError(f"unknown results block {name!r}; known: {', '.join(BLOCKS)}")
    try:
        return BLOCKS[name](run).rstrip("\n") + "\n"
    except Missing as e:
        return f"_{e}_\n"


def update(text: str, run: Run) -> tuple[str, list[str]]:
    """``text`` with every block re-rendered, and the names of the blocks that changed."""
    opened = OPEN.findall(text)
    found = [m.group("name") for m in BLOCK.finditer(text)]
    if sorted(opened) != sorted(found):
        raise ValueError(f"unpaired results markers: {sorted(set(opened) - set(found))}")
    unknown = [n for n in found if n not in BLOCKS]
    if unknown:
        raise KeyError(f"unknown results block(s) {', '.join(map(repr, unknown))}; known: "
                       f"{', '.join(BLOCKS)}")
    changed = []

    def one(m: re.Match) -> str:
        body = render(m.group("name"), run)
        if body != m.group("body"):
            changed.append(m.group("name"))
        return m.group(1) + body + m.group(4)

    return BLOCK.sub(one, text), changed


def write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")
    args = ap.parse_args(argv)
    try:
        run = Run(args.run_dir)
        text = args.readme.read_bytes().decode("utf-8")
        new, changed = update(text, run)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"readme_results: {e}", file=sys.stderr)
        return 2
    if args.check:
        if changed:
            print(f"{args.readme} is stale for {args.run_dir}: block(s) " + ", ".join(changed))
            return 1
        print(f"{args.readme} matches {args.run_dir}")
        return 0
    if new != text:
        write_atomic(args.readme, new)
    print(f"{args.readme}: {len(changed)} block(s) rewritten" + (
        f" ({', '.join(changed)})" if changed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
