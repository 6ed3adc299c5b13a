"""The closing text of the classifier study, written from the numbers (notebook 06).

:func:`conclusions` turns the paired comparisons and uncertainty tables of
:mod:`hsilib.study.stats` into Markdown bullets: what the evidence supports and what it does
not, so the text changes when the numbers change. Its vocabulary is fixed
(:mod:`hsilib.metrics.intervals`): an AUROC whose intervals include 0.5 is "not
distinguishable from chance"; a difference whose intervals include 0 is "no detectable
change"; only a difference that every interval excludes (and that survives Holm's correction)
is called an improvement or a deterioration.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics.intervals import NO_CHANGE, NOT_DISTINGUISHABLE_FROM_CHANCE, t_interval
from .plan import BASELINE, MAIN, MM_ONLY, OVERSAMPLED, PASSTHROUGH, TSTR
from .stats import POSITIVE_NOTE, TSTS_HELDOUT


def _ci(lo: float, hi: float) -> str:
    return f"{lo:+.3f} to {hi:+.3f}" if np.isfinite(lo) and np.isfinite(hi) else "undefined"


def _difference(row: pd.Series) -> str:
    """``verdict: diff (intervals...)`` of one row of :func:`hsilib.study.stats.paired_table`."""
    text = (f"{row['verdict']}: {row['diff']:+.3f} (95% CI over {row['n_cells']} runs "
            f"{_ci(row['lo'], row['hi'])}, Holm p = {row['p_t_holm']:.3f}; test resampling "
            f"by source image {_ci(row['boot_lo'], row['boot_hi'])}")
    if np.isfinite(row["delong_lo"]):
        text += f"; DeLong {_ci(row['delong_lo'], row['delong_hi'])}, p = {row['p_delong']:.3f}"
    return text + ")"


def _level(u: pd.DataFrame, config: str) -> str:
    """``mean AUROC (verdict)`` of one config from :func:`hsilib.study.stats.test_uncertainty`."""
    r = u[(u["config"] == config) & (u["metric"] == "auroc")].iloc[0]
    return f"{r['mean']:.3f}, {r['verdict']}"


def conclusions(paired: pd.DataFrame, per_seed: pd.DataFrame, uncertainty: pd.DataFrame,
                n_test: int, n_sources: int, confound: pd.DataFrame | None = None,
                metric: str = "auroc") -> str:
    """Markdown bullets: what the evidence supports and what it does not.

    ``paired``: every config vs the baseline (:func:`~hsilib.study.stats.paired_table`);
    ``uncertainty``: each config's AUROC with its intervals
    (:func:`~hsilib.study.stats.test_uncertainty`); ``confound``: the synthetic-melanoma-only
    arm vs its oversampling control (a ``paired_table`` with the control as baseline).
    """
    p = paired[paired["metric"] == metric].set_index("config")
    if "folds" in per_seed.columns:  # cross-validation: pooled out-of-fold predictions
        k = int(per_seed["folds"].max())
        lines = [f"All numbers: out-of-fold test predictions pooled over {k} folds (every one of "
                 f"{n_test} crops of {n_sources} source images tested once per run), "
                 f"{POSITIVE_NOTE}, each fold's threshold chosen on its own validation fold; "
                 "differences are config minus the real-only baseline, paired by seed."]
    else:
        lines = [f"All numbers: held-out test set ({n_test} crops of {n_sources} source images), "
                 f"{POSITIVE_NOTE}, "
                 "threshold chosen on validation; differences are config minus the real-only "
                 "baseline, paired by seed (and generator replicate)."]
    if MAIN in p.index:
        lines.append(f"- **Main hypothesis** (real + synthetic of both classes in the real "
                     f"class ratio vs real only, {metric}): {_difference(p.loc[MAIN])}.")
    if confound is not None and not confound.empty:
        c = confound[confound["metric"] == metric].iloc[0]
        lines.append(f"- **Synthetic melanoma only** ({MM_ONLY} vs {OVERSAMPLED}, the same class "
                     f"prior from duplicated real melanoma): {_difference(c)}. Against the "
                     f"baseline, {MM_ONLY}: {p.loc[MM_ONLY, 'verdict']} "
                     f"({p.loc[MM_ONLY, 'diff']:+.3f}); {OVERSAMPLED}: "
                     f"{p.loc[OVERSAMPLED, 'verdict']} ({p.loc[OVERSAMPLED, 'diff']:+.3f}).")
    conv = [c for c in ("augment", "focal", "balanced", "syn+augment") if c in p.index]
    if conv:
        found = {c: p.loc[c, "verdict"] for c in conv if p.loc[c, "verdict"] != NO_CHANGE}
        best = p.loc[conv, "diff"].idxmax()
        lines.append("- **Conventional alternatives**: " + (
            "; ".join(f"{c}: {v} ({p.loc[c, 'diff']:+.3f})" for c, v in found.items())
            if found else f"{NO_CHANGE} for any of {len(conv)} (Holm-corrected)")
            + f"; largest mean change of {metric}: {best} ({p.loc[best, 'diff']:+.3f}).")
    for c in [c for c in p.index if c.startswith(f"{MAIN}_")]:
        base = c.replace(MAIN, BASELINE, 1)
        d = (per_seed.loc[per_seed.config == c, metric].mean()
             - per_seed.loc[per_seed.config == base, metric].mean())
        lines.append(f"- **Little real data** ({c.split('_')[-1]} of the real training split): "
                     f"synthetic data changes mean {metric} by {d:+.3f} against {base} "
                     "(descriptive).")
    configs = set(uncertainty["config"])
    if TSTR in configs:
        text = (f"- **Synthetic only**: TSTR {metric} {_level(uncertainty, TSTR)}; TRTR "
                f"{_level(uncertainty, BASELINE)}")
        if TSTR in p.index:
            text += f"; TSTR vs TRTR: {p.loc[TSTR, 'verdict']} ({p.loc[TSTR, 'diff']:+.3f})"
        held = per_seed.loc[per_seed["config"] == TSTS_HELDOUT, metric]
        if len(held):
            text += (f". On held-out synthetic crops (another generator replicate) TSTR reaches "
                     f"{held.mean():.3f}: " + (
                         "near 1, so it separates the generators' classes by features that "
                         "do not carry over to real lesions (fingerprints or class-specific "
                         "artefacts)" if held.mean() >= 0.95 else
                         "not near 1, so no generator fingerprint makes the synthetic classes "
                         "trivially separable"))
        lines.append(text + ".")
    if PASSTHROUGH in configs and PASSTHROUGH in p.index:
        r = p.loc[PASSTHROUGH]
        trtr = per_seed.loc[per_seed["config"] == BASELINE, metric]
        _, lo, hi = t_interval(trtr)
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # AUROC lives in [0, 1]
        value = per_seed.loc[per_seed["config"] == PASSTHROUGH, metric].mean()
        holds = np.isfinite(lo) and lo <= value <= hi
        lines.append(f"- **Label sanity of the export path**: TSTR on real training crops "
                     f"written by it scores {metric} {value:.3f}, "
                     f"{'inside' if holds else 'outside'} TRTR's 95% CI over seeds "
                     f"[{lo:.3f}, {hi:.3f}]: the check "
                     f"{'holds' if holds else 'FAILS (look for a label or scaling error)'}; "
                     f"paired against TRTR: {r['verdict']} ({r['diff']:+.3f}).")
    chance = sorted(set(uncertainty.loc[(uncertainty["metric"] == metric) & (
        uncertainty["verdict"] == NOT_DISTINGUISHABLE_FROM_CHANCE), "config"]))
    if chance:
        lines.append(f"- **Not distinguishable from chance** ({metric} interval covers 0.5): "
                     f"{', '.join(chance)}.")
    lines.append(f"- **What this does not show**: with {n_test} test crops from {n_sources} "
                 "source images and "
                 f"{per_seed['seed'].nunique()} classifier seeds, an interval that covers 0 is "
                 "absence of evidence, not evidence of no effect; results on the generated "
                 "stand-in say nothing about real HSIDermoscopy patients until the notebook is "
                 "rerun on the real data.")
    return "\n".join(lines)
