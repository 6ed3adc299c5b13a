"""The closing text of the classifier study, written from the numbers (notebook 06).

:func:`conclusions` turns the paired comparisons and uncertainty tables of
:mod:`hsilib.study.stats` into Markdown bullets: what the evidence supports and what it does
not, so the text changes when the numbers change. Its vocabulary is fixed
(:mod:`hsilib.metrics.intervals`): an AUROC whose intervals include 0.5 is "not
distinguishable from chance"; only a difference that every interval excludes (and that
survives Holm's correction) is called an improvement or a deterioration; a difference whose
equivalence tests place it inside the stated margin is "no change (equivalent within +/-m)";
anything else is "cannot tell", printed with the smallest change the design would have
detected (its minimal detectable change at 80% power).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..metrics import classification as cm
from ..metrics.intervals import CHANGES, NOT_DISTINGUISHABLE_FROM_CHANCE
from .plan import BASELINE, MAIN, MM_ONLY, OVERSAMPLED, PASSTHROUGH, TSTR
from .stats import POSITIVE_NOTE, POWER, TSTS_HELDOUT


def _ci(lo: float, hi: float) -> str:
    return f"{lo:+.3f} to {hi:+.3f}" if np.isfinite(lo) and np.isfinite(hi) else "undefined"


def _size(value: float) -> str:
    if not np.isfinite(value):
        return "undefined"
    # every metric here lies in [0, 1], so no difference exceeds 1
    return f"{value:.3f}" + (" (more than any possible change)" if value > 1 else "")


def detectable(row: pd.Series) -> str:
    """``"smallest change detectable with 80% power: 0.120 (seeds alone ..., test set alone
    ...)"`` of one row of :func:`hsilib.study.stats.paired_table`: said beside every verdict
    that is not a detected change (undefined over seeds with fewer than two seeds)."""
    seeds = (_size(row["mdc_runs"]) if np.isfinite(row["mdc_runs"])
             else "undefined with fewer than 2 classifier seeds")
    return (f"smallest change detectable with {POWER:.0%} power: {_size(row['mdc'])} "
            f"(seeds alone {seeds}, test set alone {_size(row['mdc_test'])})")


def _difference(row: pd.Series) -> str:
    """``verdict: diff (intervals...)`` of one row of :func:`hsilib.study.stats.paired_table`,
    with the equivalence test and the minimal detectable change when no change was detected."""
    text = (f"{row['verdict']}: {row['diff']:+.3f} (95% CI {row['runs']}: "
            f"{_ci(row['lo'], row['hi'])}, Holm p = {row['p_t_holm']:.3f}; test resampling "
            f"by source image {_ci(row['boot_lo'], row['boot_hi'])}")
    if np.isfinite(row["delong_lo"]):
        text += f"; DeLong {_ci(row['delong_lo'], row['delong_hi'])}, p = {row['p_delong']:.3f}"
    if row["verdict"] not in CHANGES:
        if np.isfinite(row["margin"]):
            text += (f"; equivalence within +/-{row['margin']:g}: TOST Holm p = "
                     f"{row['p_tost_holm']:.3f}")
        text += f"; {detectable(row)}"
    return text + ")"


def _trts(per_seed: pd.DataFrame, metric: str) -> str | None:
    """TRTS against TRTR (the real-trained baseline on synthetic vs real test crops), paired
    by classifier seed, and what a higher TRTS can mean."""
    configs = set(per_seed["config"])
    if not {"TRTS", "TRTR"} <= configs:
        return None
    r = cm.compare_seeds(per_seed, "TRTR", "TRTS", metric)
    trts, trtr = (cm.seed_means(per_seed[per_seed["config"] == c], metric).mean()
                  for c in ("TRTS", "TRTR"))
    text = (f"- **TRTS vs TRTR** (the real-only baseline scored on the generators' synthetic "
            f"crops vs the real test crops, {metric}): {trts:.3f} vs {trtr:.3f}, difference "
            f"{r['diff']:+.3f} (95% CI over {r['n_seeds']} classifier seeds "
            f"{_ci(r['lo'], r['hi'])}; the synthetic and real test crops are fixed, so it "
            "covers training variation only). ")
    sure = np.isfinite(r["lo"]) and (r["lo"] > 0 or r["hi"] < 0)
    if r["diff"] > 0:
        text += (("The interval excludes 0. " if sure else "The interval covers 0, so even "
                  "the direction is uncertain. ")
                 + "A higher TRTS has two explanations that fit these numbers equally well: the "
                 "generators exaggerate the differences between the classes, or each synthetic "
                 "set has low within-class diversity (its crops are more alike than real "
                 "lesions are, so the classes separate more easily without any exaggeration). "
                 "This comparison cannot tell them apart; the recall and coverage of each "
                 "generator against its real-vs-real floor (notebook 03) speak to the second.")
    else:
        text += (("The interval excludes 0: " if sure else "The interval covers 0; if real, ")
                 + "a lower TRTS means the synthetic crops look less like their classes, to a "
                 "classifier trained on real crops, than real test crops do.")
    return text


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
                 "differences are config minus the real-only baseline, paired by classifier "
                 "seed."]
    else:
        lines = [f"All numbers: held-out test set ({n_test} crops of {n_sources} source images), "
                 f"{POSITIVE_NOTE}, "
                 "threshold chosen on validation; differences are config minus the real-only "
                 "baseline, paired by classifier seed, generator replicates averaged within "
                 "seed (the seed is the unit of replication; the interval over seeds holds "
                 "these generator replicates fixed)."]
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
        found = {c: p.loc[c, "verdict"] for c in conv if p.loc[c, "verdict"] in CHANGES}
        best = p.loc[conv, "diff"].idxmax()
        lines.append("- **Conventional alternatives**: " + (
            "; ".join(f"{c}: {v} ({p.loc[c, 'diff']:+.3f})" for c, v in found.items())
            if found else f"no change detected for any of {len(conv)} (Holm-corrected): "
            + "; ".join(f"{c} {p.loc[c, 'verdict']}" for c in conv))
            + f"; largest mean change of {metric}: {best} ({p.loc[best, 'diff']:+.3f}"
            + ("" if p.loc[best, "verdict"] in CHANGES else f"; {detectable(p.loc[best])}")
            + ").")
    for c in [c for c in p.index if c.startswith(f"{MAIN}_") and c.endswith("%")]:
        base = c.replace(MAIN, BASELINE, 1)
        d = cm.seed_differences(per_seed, base, c, metric).mean()
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
    trts = _trts(per_seed, metric)
    if trts:
        lines.append(trts)
    if PASSTHROUGH in configs and PASSTHROUGH in p.index:
        r = p.loc[PASSTHROUGH]
        _, lo, hi = cm.runs_interval(per_seed, BASELINE, metric)
        lo, hi = max(lo, 0.0), min(hi, 1.0)  # AUROC lives in [0, 1]
        value = cm.seed_means(per_seed[per_seed["config"] == PASSTHROUGH], metric).mean()
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
                 f"{per_seed['seed'].nunique()} classifier seeds, \"cannot tell\" is absence of "
                 "evidence, not evidence of no effect: a change smaller than the detectable "
                 "change printed beside it would usually go unseen, and only \"no change "
                 "(equivalent within +/-m)\" bounds an effect, by that margin. The intervals "
                 "over seeds hold the generator replicates fixed (another generator run may "
                 "differ by more); results on the generated stand-in say nothing about real "
                 "HSIDermoscopy patients until the notebook is rerun on the real data.")
    return "\n".join(lines)
