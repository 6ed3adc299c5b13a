"""The arms of notebook 02's ablation, and the text of its conclusion, generated from numbers.

:data:`ARMS` maps an arm's name to the config section that builds it (``shsgan`` or
``classic``) and the fields that differ from that section; :func:`arm_config` resolves one.
:func:`critic_conclusion` reads the metric table of the four critic arms (one row per arm,
class, seed and metric, with the protocol's intervals) and says, for each step of the critic
ladder (2-D -> 3-D -> + spectral norm -> + FFT arm), whether the metric moved beyond the
intervals; :func:`reconstruction_conclusion` does the same for the RGB-to-HS scores.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from ..config import ARMS  # arm -> (config section, changed fields, description)
from ..metrics.intervals import NOT_DISTINGUISHABLE, comparison_verdict

#: the critic ladder of the study, in order
CRITIC_LADDER = ("critic_2d", "critic_3d", "critic_3d_sn", "critic_3d_sn_fft")
LADDER_STEP = {"critic_3d": "2-D -> 3-D convolutions", "critic_3d_sn": "adding spectral norm",
               "critic_3d_sn_fft": "adding the FFT spectral arm"}


def arm_config(study: Any, arm: str, **changes: Any) -> Any:
    """The generator config of ``arm`` under ``study`` (a resolved StudyConfig), plus
    ``changes``."""
    if arm not in ARMS:
        raise KeyError(f"unknown arm {arm!r}; known: {', '.join(ARMS)}")
    section, fields, _ = ARMS[arm]
    return replace(getattr(study, section), **fields, **changes)


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def critic_conclusion(table: pd.DataFrame, metric: str, *, lower_is_better: bool = True) -> str:
    """Markdown bullets on the critic ladder from ``table`` (columns ``arm``, ``class``,
    ``metric``, ``value``, ``ci_low``, ``ci_high``, ``floor``; one seed or averaged).

    For each class and each step of :data:`CRITIC_LADDER` the change of ``metric`` is called a
    difference only when the two arms' intervals do not overlap; otherwise "within the
    intervals (not distinguishable)". The last line names the arm with the best value and says
    whether it beats the 2-D critic beyond the intervals.
    """
    need = {"arm", "class", "metric", "value", "ci_low", "ci_high", "floor"}
    missing = need - set(table.columns)
    if missing:
        raise ValueError(f"critic_conclusion: the table lacks columns {sorted(missing)}")
    t = table[(table.metric == metric) & table.arm.isin(CRITIC_LADDER)]
    t = t.groupby(["class", "arm"], as_index=False)[["value", "ci_low", "ci_high",
                                                     "floor"]].mean()
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
            verdict = comparison_verdict((b.ci_low, b.ci_high), (a.ci_low, a.ci_high),
                                         lower_is_better=lower_is_better)
            verdict = (f"within the intervals ({verdict})" if verdict == NOT_DISTINGUISHABLE
                       else f"{verdict}, intervals apart")
            adjacent = CRITIC_LADDER.index(cur) == CRITIC_LADDER.index(prev) + 1
            step = LADDER_STEP[cur] if adjacent else f"{prev} -> {cur}"
            parts.append(f"{step}: {_fmt(a.value)} -> {_fmt(b.value)} "
                         f"[{_fmt(b.ci_low)}, {_fmt(b.ci_high)}], {verdict}")
        best = r.loc[present].value.idxmin() if lower_is_better else \
            r.loc[present].value.idxmax()
        base, top = r.loc[present[0]], r.loc[best]
        apart = comparison_verdict((top.ci_low, top.ci_high), (base.ci_low, base.ci_high),
                                   lower_is_better=lower_is_better) != NOT_DISTINGUISHABLE
        lines.append(f"- **{cls}**, {metric} ({better} is better; real-vs-real floor "
                     f"{_fmt(r.floor.mean())}): " + "; ".join(parts) + ".")
        if best == present[0]:
            lines.append(f"  No spectral critic change improved on the 2-D critic's {metric}.")
        else:
            lines.append(f"  Best: {best} ({_fmt(top.value)}), "
                         + ("beyond the 2-D critic's interval." if apart else
                            "but its interval overlaps the 2-D critic's: the critic change is "
                            "not distinguishable at this budget (the intervals resample "
                            "images; the spread between training seeds comes on top)."))
    return "\n".join(lines)


def reconstruction_conclusion(table: pd.DataFrame) -> str:
    """Markdown bullets comparing every model of the RGB-to-HS table with the ``linear``
    baseline on RMSE and SAM (columns ``model``, ``rmse``, ``rmse_lo``, ``rmse_hi``,
    ``sam_deg``, ``sam_deg_lo``, ``sam_deg_hi``)."""
    t = table.set_index("model")
    if "linear" not in t.index:
        raise ValueError("reconstruction_conclusion: the table has no 'linear' baseline row")
    base = t.loc["linear"]
    lines = []
    for model, r in t.drop(index="linear").iterrows():
        for m, unit in (("rmse", "reflectance"), ("sam_deg", "degrees")):
            lo, hi = r[f"{m}_lo"], r[f"{m}_hi"]
            b_lo, b_hi = base[f"{m}_lo"], base[f"{m}_hi"]
            verdict = comparison_verdict((lo, hi), (b_lo, b_hi))  # lower is better for both
            verdict = (f"{verdict} from the linear baseline (intervals overlap)"
                       if verdict == NOT_DISTINGUISHABLE else
                       f"{verdict} than the linear baseline (intervals apart)")
            lines.append(f"- {model}: {m} {_fmt(r[m])} [{_fmt(lo)}, {_fmt(hi)}] {unit} vs "
                         f"linear {_fmt(base[m])} [{_fmt(b_lo)}, {_fmt(b_hi)}]: {verdict}.")
    return "\n".join(lines)
