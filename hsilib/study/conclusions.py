"""The closing text of the classifier study, written from the numbers (notebook 06).

:func:`conclusions` turns the paired comparisons and per-seed metrics of
:mod:`hsilib.study.stats` into Markdown bullets: what the evidence supports and what it does
not, so the text changes when the numbers change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .plan import BASELINE, MAIN
from .stats import POSITIVE_NOTE


def _verdict(row: pd.Series, alpha: float = 0.05) -> str:
    d, lo, hi = row["diff"], max(row["lo"], -1.0), min(row["hi"], 1.0)  # metrics lie in [0, 1]
    span = f"{d:+.3f} (95% CI over {row['n_seeds']} seeds {lo:+.3f} to {hi:+.3f}"
    span += f"; paired t p = {row['p_t']:.3f}, bootstrap of seed ensembles p = {row['p_boot']:.3f})"
    if not np.isfinite(lo) or lo <= 0 <= hi or not row["p_t"] < alpha:
        return f"no detectable change: {span}"
    return f"{'an improvement' if d > 0 else 'a deterioration'}: {span}"


def conclusions(paired: pd.DataFrame, per_seed: pd.DataFrame, n_test: int,
                metric: str = "auroc") -> str:
    """Markdown bullets: what the evidence supports and what it does not (from ``paired``)."""
    p = paired[paired["metric"] == metric].set_index("config")
    lines = [f"All numbers: held-out test set ({n_test} images), {POSITIVE_NOTE}, threshold "
             "chosen on validation; differences are config minus the real-only baseline."]
    if MAIN in p.index:
        lines.append(f"- **Main hypothesis** (real + synthetic vs real only, {metric}): "
                     f"{_verdict(p.loc[MAIN])}.")
    conv = [c for c in ("augment", "focal", "balanced", "syn+augment") if c in p.index]
    better = [c for c in conv if p.loc[c, "lo"] > 0 and p.loc[c, "p_t_holm"] < 0.05]
    lines.append("- **Conventional alternatives**: " + (
        f"{', '.join(better)} beat the baseline after Holm correction." if better else
        "none beats the baseline after Holm correction across "
        f"{len(conv)} comparisons" + (f"; largest mean change of {metric}: "
                                      f"{p.loc[conv, 'diff'].idxmax()} "
                                      f"({p.loc[conv, 'diff'].max():+.3f})." if conv else ".")))
    curve = [c for c in p.index if c.startswith(f"{MAIN}_")]
    for c in curve:
        base = c.replace(MAIN, BASELINE, 1)
        d = (per_seed.loc[per_seed.config == c, metric].mean()
             - per_seed.loc[per_seed.config == base, metric].mean())
        lines.append(f"- **Little real data** ({c.split('_')[-1]} of the real training split): "
                     f"synthetic data changes mean {metric} by {d:+.3f} against {base}.")
    mean = per_seed.groupby("config")[metric].mean()
    if {"tstr", "TRTR", "TRTS"} <= set(mean.index):
        tstr, trts = mean["tstr"] - mean["TRTR"], mean["TRTS"] - mean["TRTR"]
        ease = ("easier to classify than" if trts > 0.05 else "harder to classify than"
                if trts < -0.05 else "about as easy to classify as")
        lines.append(f"- **Synthetic only**: mean {metric} TRTR {mean['TRTR']:.3f}, TSTR "
                     f"{mean['tstr']:.3f} ({tstr:+.3f}), TRTS {mean['TRTS']:.3f} ({trts:+.3f}). "
                     "A classifier trained on synthetic crops alone "
                     f"{'matches' if tstr > -0.05 else 'falls short of'} one trained on real "
                     "crops (within 0.05 counts as matching), and the real-trained classifier "
                     f"finds the synthetic crops {ease} real ones "
                     "(descriptive: no test; only the baseline's seeds).")
    lines.append(f"- **What this does not show**: with {n_test} test images and "
                 f"{per_seed['seed'].nunique()} seeds, a CI that spans 0 is absence of evidence, "
                 "not evidence of no effect; results on the generated stand-in say nothing about "
                 "real HSIDermoscopy patients until the notebook is rerun on the real data.")
    return "\n".join(lines)
