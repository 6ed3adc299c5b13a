"""What the two long runs of ``make test-all`` must show, as functions of a finished run folder.

- :func:`dry_run_problems`: a ``full --dry-run`` ran every notebook and measured every training
  it planned (``artifacts/results/plan.csv``);
- :func:`lab_problems`: a ``lab`` run ran every notebook, and its figures still show what the
  text teaches: FastGAN's melanoma generator is better at the end of training than at the first
  state measured along it (the spectral-loss comparison's run, ``gan_study.compare_steps``) in
  FD_rand and detectability, with intervals apart, and its loss curves' last quarter differs
  from their first.

Each returns a list of problems (empty: all holds), so that the slow tests
(``tests/test_long_runs.py``) and a person looking at a run folder by hand read the same rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from scipy import stats

NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07", "08", "09")
#: notebooks whose plan rows include trainings (01 trains nothing)
TRAINING_NOTEBOOKS = ("02", "03", "04", "05", "06", "07", "08", "09")
#: the FastGAN losses whose first and last quarters must differ under ``lab``
LAB_LOSSES = ("d_loss", "g_loss")
#: the protocol's metrics that must be better at the end than at ``compare_steps`` under ``lab``
LAB_METRICS = ("FD_rand", "detectability_AUROC")


def run_problems(out: Path) -> list[str]:
    """Every notebook in the run folder's manifest finished ``ok``."""
    manifest = json.loads((Path(out) / "manifest.json").read_text())["notebooks"]
    done = {name[:2]: rec.get("status") for name, rec in manifest.items()}
    return [f"notebook {n}: {done.get(n, 'did not run')}" for n in NOTEBOOKS
            if done.get(n) != "ok"]


def dry_run_problems(out: Path) -> list[str]:
    """A dry run of every notebook, and a plan row with a measured speed and a planned length
    for the trainings of every notebook that trains."""
    problems = run_problems(out)
    plan = pd.read_csv(Path(out) / "artifacts" / "results" / "plan.csv", dtype={"notebook": str})
    plan["notebook"] = plan["notebook"].str.zfill(2)
    trainings = plan[plan["kind"].isin(["generator", "classifier"])]
    for n in TRAINING_NOTEBOOKS:
        rows = trainings[trainings["notebook"] == n]
        if rows.empty:
            problems.append(f"plan.csv: no training of notebook {n}")
        elif not ((rows["seconds_per_unit"] > 0) & (rows["planned_units"] > 0)).all():
            problems.append(f"plan.csv: notebook {n} has trainings without a measured speed "
                            "or a planned length")
    return problems


def lab_problems(out: Path, compare_steps: int) -> list[str]:
    """The ``lab`` run's teaching claims (module docstring); ``compare_steps``: the profile's
    ``gan_study.compare_steps``."""
    problems = run_problems(out)
    results = Path(out) / "artifacts" / "results"
    table = pd.read_csv(results / "generator_metrics.csv", dtype={"notebook": str})
    mm = table[(table["notebook"].str.zfill(2) == "03") & (table["family"] == "fastgan")
               & (table["class"] == "MM") & (table["seed"] == 0)]
    early = mm[(mm["variant"] == "default") & (mm["step"] == compare_steps)].set_index("metric")
    end = mm[mm["variant"] == "final"].set_index("metric")
    if early.empty or end.empty:
        return [*problems, "generator_metrics.csv: no FastGAN MM rows at compare_steps and at "
                           "the end"]
    for metric in LAB_METRICS:  # lower is better for both
        a, b = early.loc[metric], end.loc[metric]
        if not b["ci_high"] < a["ci_low"]:
            problems.append(f"{metric}: at the end {b['value']:.3g} [{b['ci_low']:.3g}, "
                            f"{b['ci_high']:.3g}], at step {compare_steps} {a['value']:.3g} "
                            f"[{a['ci_low']:.3g}, {a['ci_high']:.3g}]: intervals not apart")
    losses = pd.read_csv(results / "03_losses_fastgan_mm_g0.csv")
    quarter = len(losses) // 4
    for name in LAB_LOSSES:
        first, last = losses[name].iloc[:quarter], losses[name].iloc[-quarter:]
        p = stats.mannwhitneyu(first, last).pvalue
        if not p < 0.01:
            problems.append(f"loss {name}: first and last quarter not distinguishable "
                            f"(Mann-Whitney p = {p:.3g})")
    return problems
