"""The arms of notebook 02's ablation, and the text of its conclusion, generated from numbers.

:data:`ARMS` maps an arm's name to the config section that builds it (``shsgan`` or
``classic``) and the fields that differ from that section; :func:`arm_config` resolves one.
:func:`seed_intervals` summarises an arm's metric over its training seeds (mean and a 95%
Student-t interval over the seeds); :func:`critic_conclusion` reads them for the four critic
arms and says, for each step of the critic ladder (2-D -> 3-D -> + spectral norm -> + FFT
arm), whether the metric moved beyond the intervals over seeds, and "one seed: no verdict"
where an arm has a single seed (an image-bootstrap interval of one training run does not cover
the spread between runs). :func:`reconstruction_conclusion` compares the RGB-to-HS scores with
the linear baseline, per seed and over seeds.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pandas as pd

from ..config import ARMS  # arm -> (config section, changed fields, description)
from ..metrics.intervals import NOT_DISTINGUISHABLE, comparison_verdict, t_interval

#: the critic ladder of the study, in order
CRITIC_LADDER = ("critic_2d", "critic_3d", "critic_3d_sn", "critic_3d_sn_fft")
LADDER_STEP = {"critic_3d": "2-D -> 3-D convolutions", "critic_3d_sn": "adding spectral norm",
               "critic_3d_sn_fft": "adding the FFT spectral arm"}
#: the verdict of a comparison in which an arm has a single training seed
ONE_SEED = "one seed: no verdict"
#: what the intervals over seeds cover, said once in every conclusion that uses them
SEED_NOTE = ("95% Student-t intervals over each arm's training seeds: they cover the spread "
             "between training runs (each run with its own synthetic draw) against the fixed "
             "validation crops, not the sampling of those crops")


def arm_config(study: Any, arm: str, **changes: Any) -> Any:
    """The generator config of ``arm`` under ``study`` (a resolved StudyConfig), plus
    ``changes``."""
    if arm not in ARMS:
        raise KeyError(f"unknown arm {arm!r}; known: {', '.join(ARMS)}")
    section, fields, _ = ARMS[arm]
    return replace(getattr(study, section), **fields, **changes)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def seed_intervals(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per class and arm, ``metric`` over the training seeds of the long table (columns
    ``arm``, ``class``, ``seed``, ``metric``, ``value``, ``floor``): ``n_seeds``, ``value``
    (the mean), ``ci_low`` / ``ci_high`` (95% Student-t over the seeds; NaN for one seed) and
    the mean ``floor``."""
    need = {"arm", "class", "seed", "metric", "value", "floor"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"seed_intervals: the table lacks columns {sorted(missing)}")
    rows = []
    for (c, arm), g in table[table.metric == metric].groupby(["class", "arm"], sort=False):
        per_seed = g.groupby("seed").value.mean()
        mean, lo, hi = t_interval(per_seed.to_numpy())
        rows.append({"class": c, "arm": arm, "n_seeds": int(per_seed.notna().sum()),
                     "value": mean, "ci_low": lo, "ci_high": hi, "floor": g.floor.mean()})
    return pd.DataFrame(rows, columns=["class", "arm", "n_seeds", "value", "ci_low", "ci_high",
                                       "floor"])


def _versus(b, a, lower_is_better: bool) -> str:
    """The verdict of arm ``b`` against arm ``a`` (rows of :func:`seed_intervals`)."""
    if min(a.n_seeds, b.n_seeds) < 2:
        return ONE_SEED
    verdict = comparison_verdict((b.ci_low, b.ci_high), (a.ci_low, a.ci_high),
                                 lower_is_better=lower_is_better)
    return (f"within the intervals over seeds ({verdict})" if verdict == NOT_DISTINGUISHABLE
            else f"{verdict}, intervals over seeds apart")


def _interval(r) -> str:
    n = int(r.n_seeds)
    return f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] over {n} seeds" if n > 1 else "(1 seed)"


def critic_conclusion(table: pd.DataFrame, metric: str, *, lower_is_better: bool = True) -> str:
    """Markdown bullets on the critic ladder from the long ``table`` (one row per arm, class,
    seed and metric; :func:`seed_intervals`).

    For each class and each step of :data:`CRITIC_LADDER` the change of ``metric`` (mean over
    seeds) is called a difference only when the two arms' intervals over seeds do not overlap;
    otherwise "within the intervals over seeds (not distinguishable)"; with a single seed on
    either side, :data:`ONE_SEED`. The last line names the arm with the best mean and says
    whether it beats the 2-D critic beyond the intervals.
    """
    t = seed_intervals(table[table.arm.isin(CRITIC_LADDER)], metric)
    if t.empty:
        return f"- No {metric} rows for the critic arms."
    lines = []
    better = "lower" if lower_is_better else "higher"
    for cls, rows in t.groupby("class", sort=False):
        r = rows.set_index("arm")
        present = [a for a in CRITIC_LADDER if a in r.index]
        parts = []
        for prev, cur in zip(present[:-1], present[1:], strict=True):
            a, b = r.loc[prev], r.loc[cur]
            adjacent = CRITIC_LADDER.index(cur) == CRITIC_LADDER.index(prev) + 1
            step = LADDER_STEP[cur] if adjacent else f"{prev} -> {cur}"
            parts.append(f"{step}: {_fmt(a.value)} -> {_fmt(b.value)} {_interval(b)}, "
                         f"{_versus(b, a, lower_is_better)}")
        best = r.loc[present].value.idxmin() if lower_is_better else \
            r.loc[present].value.idxmax()
        base, top = r.loc[present[0]], r.loc[best]
        lines.append(f"- **{cls}**, {metric} ({better} is better; real-vs-real floor "
                     f"{_fmt(r.floor.mean())}; 2-D critic {_fmt(base.value)} "
                     f"{_interval(base)}): " + "; ".join(parts) + ".")
        if best == present[0]:
            lines.append(f"  No spectral critic change improved on the 2-D critic's mean "
                         f"{metric}.")
            continue
        verdict = _versus(top, base, lower_is_better)
        lines.append(f"  Best mean: {best} ({_fmt(top.value)}), "
                     + ("one seed: no verdict against the 2-D critic." if verdict == ONE_SEED
                        else "beyond the 2-D critic's interval over seeds."
                        if "apart" in verdict else
                        "but its interval over seeds overlaps the 2-D critic's: the critic "
                        "change is not distinguishable at this budget."))
    return "\n".join(lines)


def reconstruction_conclusion(table: pd.DataFrame) -> str:
    """Markdown bullets comparing every model of the RGB-to-HS table with the ``linear``
    baseline on RMSE and SAM (columns ``model``, ``rmse``, ``rmse_lo``, ``rmse_hi``,
    ``sam_deg``, ``sam_deg_lo``, ``sam_deg_hi``; the intervals resample images), per RGB input
    when the table has an ``input`` column (each model against the baseline on the same
    input). Models named ``<arm>_g<seed>`` are also read over their seeds: the mean RMSE with
    its interval over seeds, and in how many seeds the arm is better or worse than the
    baseline; with a single seed, :data:`ONE_SEED`."""
    if "input" not in table.columns:
        table = table.assign(input="")
    lines = []
    for name, t in table.groupby("input", sort=False):
        t = t.set_index("model")
        if "linear" not in t.index:
            raise ValueError("reconstruction_conclusion: the table has no 'linear' baseline row"
                             + (f" for input {name!r}" if name else ""))
        base = t.loc["linear"]
        on = f" ({name} in)" if name else ""
        seeds: dict[str, list[str]] = {}
        for model, r in t.drop(index="linear").iterrows():
            for m, unit in (("rmse", "reflectance"), ("sam_deg", "degrees")):
                lo, hi = r[f"{m}_lo"], r[f"{m}_hi"]
                b_lo, b_hi = base[f"{m}_lo"], base[f"{m}_hi"]
                verdict = comparison_verdict((lo, hi), (b_lo, b_hi))  # lower is better
                if m == "rmse" and (arm := re.fullmatch(r"(.+)_g\d+", str(model))):
                    seeds.setdefault(arm.group(1), []).append(verdict)
                verdict = (f"{verdict} from the linear baseline (intervals overlap)"
                           if verdict == NOT_DISTINGUISHABLE else
                           f"{verdict} than the linear baseline (intervals apart)")
                lines.append(f"- {model}{on}: {m} {_fmt(r[m])} [{_fmt(lo)}, {_fmt(hi)}] {unit} "
                             f"vs linear {_fmt(base[m])} [{_fmt(b_lo)}, {_fmt(b_hi)}]: "
                             f"{verdict}.")
        for arm, verdicts in seeds.items():
            rmse = t.loc[[m for m in t.index if re.fullmatch(rf"{re.escape(arm)}_g\d+", m)],
                         "rmse"]
            mean, lo, hi = t_interval(rmse.to_numpy())
            if len(verdicts) < 2:
                lines.append(f"- {arm}{on}, over its seeds: {ONE_SEED} on the arm against the "
                             "linear baseline.")
                continue
            count = {v: verdicts.count(v) for v in ("worse", "better")}
            lines.append(f"- {arm}{on}, over its {len(verdicts)} seeds: mean RMSE {_fmt(mean)} "
                         f"[{_fmt(lo)}, {_fmt(hi)}] (interval over seeds); worse than the linear "
                         f"baseline in {count['worse']}, better in {count['better']} of "
                         f"{len(verdicts)} seeds (each seed's interval over images).")
    return "\n".join(lines)
