"""The experiments of notebook 06 and their tables, figures and generated conclusions.

:func:`plan_experiments` lists every configuration (name, the questions it answers, the
arguments of :func:`hsilib.train.classifier.run_experiment`) from a
:class:`hsilib.config.ClassifierConfig`, and says which parts are skipped and why (pretrained
starting points without weight files). :func:`run_plan` trains them all and keeps the saved
predictions file up to date after each configuration. Everything after that reads predictions
only: :func:`per_seed_metrics`, :func:`summary_table`, :func:`paired_table`, the figures, and
:func:`conclusions`, which writes the closing text from the numbers.

Melanoma is the positive class in every number and figure.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics import classification as cm
from ..models.classifiers import WeightFileError
from . import classifier as tc

BASELINE = "real"
MAIN = "real+syn"
TABLE_METRICS = ("auroc", "auprc", "sensitivity", "specificity", "f1", "balanced_accuracy")
POSITIVE_NOTE = "melanoma (MM) = positive class"


@dataclass(frozen=True)
class Experiment:
    """One configuration: ``name``, the ``groups`` (questions) it belongs to, a description."""

    name: str
    groups: tuple[str, ...]
    label: str
    kwargs: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------
def plan_experiments(cfg, synthetic_dirs: Mapping[str, str | Path]
                     ) -> tuple[list[Experiment], list[str]]:
    """All configurations of notebook 06 and a list of plain-English notes on skipped parts.

    ``synthetic_dirs`` maps "MM"/"DN" to the exported synthetic crop folders. Weight files named
    in ``cfg`` must exist (a clear error otherwise); unset ones skip their experiments.
    """
    mm, dn = synthetic_dirs["MM"], synthetic_dirs["DN"]
    n_syn = {"MM": cfg.n_synthetic_mm, "DN": cfg.n_synthetic_dn}
    syn = dict(synthetic=dict(synthetic_dirs), n_synthetic=n_syn)
    plan = [
        Experiment(BASELINE, ("main", "conventional", "curve", "synthetic_only"),
                   "real only (baseline)", dict(extra_test={"synthetic": [mm, dn]})),
        Experiment(MAIN, ("main", "conventional", "curve"),
                   f"real + {cfg.n_synthetic_mm} synthetic MM + {cfg.n_synthetic_dn} DN", syn),
        Experiment("augment", ("conventional",), "real + augmentations", dict(augment=True)),
        Experiment("focal", ("conventional",), "real, focal loss", dict(loss="focal")),
        Experiment("balanced", ("conventional",), "real, class-balanced batches",
                   dict(balanced=True)),
        Experiment("syn+augment", ("conventional",), "real + synthetic + augmentations",
                   dict(syn, augment=True)),
    ]
    for f in sorted(x for x in cfg.fractions if x < 1):
        pct = round(100 * f)
        plan += [Experiment(f"real_{pct}%", ("curve",), f"{pct}% of real", dict(fraction=f)),
                 Experiment(f"real+syn_{pct}%", ("curve",), f"{pct}% of real + synthetic",
                            dict(syn, fraction=f))]
    n_tstr = {"MM": cfg.n_synthetic_tstr, "DN": cfg.n_synthetic_tstr}
    plan.append(Experiment("tstr", ("synthetic_only",), "synthetic only (TSTR)",
                           dict(real_train=False, synthetic={"MM": mm, "DN": dn},
                                n_synthetic=n_tstr)))
    skipped = []
    for key, what, attr in (("imagenet", "generalist ImageNet", "pretrained_weights"),
                            ("isic", "specialist ISIC melanoma", "specialist_weights")):
        path = getattr(cfg, attr)
        if path is None:
            skipped.append(f"{what} starting point skipped: ClassifierConfig.{attr} is not set "
                           "(nothing is downloaded; point it at a local 3-channel checkpoint)")
            continue
        if not Path(path).expanduser().is_file():
            raise WeightFileError(f"ClassifierConfig.{attr} = {path!r}: no such file")
        plan += [Experiment(key, ("pretrained",), f"{what}, fine-tuned", dict(weights=path)),
                 Experiment(f"{key}+syn", ("pretrained",), f"{what} + synthetic",
                            dict(syn, weights=path)),
                 Experiment(f"{key}_probe", ("pretrained",), f"{what}, linear probe",
                            dict(weights=path, freeze_backbone=True))]
    return plan, skipped


def run_plan(plan: Sequence[Experiment], cfg, crops_dir, splits_csv, normaliser, out_csv,
             checkpoint_dir=None, checkpoint_prefix: str = "") -> pd.DataFrame:
    """Train every experiment over ``cfg.seeds``; rewrite ``out_csv`` after each (atomic)."""
    frames = []
    for exp in plan:
        t0 = time.perf_counter()
        frames.append(tc.run_experiment(
            exp.name, cfg, crops_dir, splits_csv, normaliser, seeds=cfg.seeds,
            device=cfg.device, checkpoint_dir=checkpoint_dir,
            checkpoint_prefix=checkpoint_prefix, **exp.kwargs))
        preds = pd.concat(frames, ignore_index=True)
        tc.save_predictions(preds, out_csv)
        print(f"{exp.name:16s} {len(cfg.seeds)} seeds in {time.perf_counter() - t0:6.1f} s")
    return preds


# --------------------------------------------------------------------------------------------
# Tables (from saved predictions only)
# --------------------------------------------------------------------------------------------
def per_seed_metrics(preds: pd.DataFrame, rule: str = "youden") -> pd.DataFrame:
    """Test metrics per (config, seed); adds ``TRTS`` = the baseline scored on synthetic crops
    and renames the baseline's test rows ``TRTR`` in a copy for the synthetic-only table."""
    per_seed = tc.test_metrics(preds, rule)
    base = preds[preds["config"] == BASELINE]
    trts = tc.test_metrics(base, rule, test_split="test_synthetic").assign(config="TRTS")
    trtr = per_seed[per_seed["config"] == BASELINE].assign(config="TRTR")
    return pd.concat([per_seed, trtr, trts], ignore_index=True)


def _clipped(agg: pd.DataFrame) -> pd.DataFrame:
    # every metric here lives in [0, 1]; a t-interval over 2-5 seeds can overshoot that range
    return agg.assign(lo=agg["lo"].clip(0, 1), hi=agg["hi"].clip(0, 1))


def summary_table(per_seed: pd.DataFrame, configs: Sequence[str],
                  metrics: Sequence[str] = TABLE_METRICS) -> pd.DataFrame:
    """Wide table: one row per config, ``mean [lo, hi]`` (t-based 95% CI over seeds, clipped to
    the metric's range [0, 1])."""
    agg = _clipped(cm.aggregate_seeds(per_seed[per_seed["config"].isin(configs)], "config",
                                      metrics))
    agg["cell"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                   zip(agg["mean"], agg["lo"], agg["hi"], strict=True)]
    wide = agg.pivot(index="config", columns="metric", values="cell")
    wide = wide.loc[[c for c in configs if c in wide.index], list(metrics)]
    wide.columns.name = POSITIVE_NOTE
    return wide


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (family-wise error), NaN-safe."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


def _ensemble_test(preds: pd.DataFrame, config: str, rule: str) -> tuple[pd.DataFrame, float]:
    ens = tc.ensemble(preds[preds["config"] == config])
    val = ens[ens["split"] == "val"]
    test = ens[ens["split"] == "test"].sort_values("id")
    return test, cm.choose_threshold(val["label"], val["p_mm"], rule)


def paired_table(preds: pd.DataFrame, per_seed: pd.DataFrame, others: Sequence[str],
                 baseline: str = BASELINE, metrics: Sequence[str] = ("auroc", "f1"),
                 rule: str = "youden", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Each config vs ``baseline`` on the same test images, two ways.

    Over seeds: mean difference, t CI and paired t-test (``p_t``, Holm-adjusted ``p_t_holm``
    across the configs of the table, per metric). Seed ensembles (mean probability per image):
    paired stratified bootstrap of the difference (``boot_lo``, ``boot_hi``, ``p_boot``) and an
    exact McNemar test on the discordant test images (``mcnemar_b``/``c``/``p``).
    """
    base_test, base_thr = _ensemble_test(preds, baseline, rule)
    rows = []
    for other in others:
        test, thr = _ensemble_test(preds, other, rule)
        if list(test["id"]) != list(base_test["id"]):
            raise ValueError(f"{other!r} and {baseline!r} were not scored on the same test set")
        boot = cm.paired_bootstrap(test["label"], base_test["p_mm"], test["p_mm"], base_thr, thr,
                                   n_boot, seed).set_index("metric")
        mc = cm.mcnemar(test["label"], base_test["p_mm"] >= base_thr, test["p_mm"] >= thr)
        for m in metrics:
            rows.append({**cm.compare_seeds(per_seed, baseline, other, m),
                         "boot_lo": boot.loc[m, "lo"], "boot_hi": boot.loc[m, "hi"],
                         "p_boot": boot.loc[m, "p_boot"], "mcnemar_b": mc["b"],
                         "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"]})
    table = pd.DataFrame(rows)
    table["p_t_holm"] = table.groupby("metric")["p_t"].transform(lambda s: holm(s.to_numpy()))
    return table


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def plot_bars(per_seed: pd.DataFrame, configs: Sequence[str],
              metrics: Sequence[str] = ("auroc", "sensitivity", "specificity", "f1"), ax=None):
    """Grouped bars of the seed means with 95% CI error bars, one group per metric."""
    import matplotlib.pyplot as plt

    agg = _clipped(cm.aggregate_seeds(per_seed[per_seed["config"].isin(configs)], "config",
                                      metrics))
    ax = ax or plt.subplots(figsize=(1.6 + 1.1 * len(metrics) * len(configs) ** 0.5, 3.6))[1]
    width = 0.8 / len(configs)
    for k, c in enumerate(configs):
        a = agg[agg["config"] == c].set_index("metric").loc[list(metrics)]
        err = np.vstack([a["mean"] - a["lo"], a["hi"] - a["mean"]])
        ax.bar(np.arange(len(metrics)) + k * width, a["mean"], width, yerr=np.nan_to_num(err),
               capsize=3, label=c)
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"test score (mean, 95% CI over seeds)\n{POSITIVE_NOTE}")
    ax.legend(fontsize=8, ncol=2)
    return ax


def plot_learning_curves(per_seed: pd.DataFrame, fractions: Sequence[float],
                         metric: str = "auroc", ax=None):
    """Test ``metric`` against the share of real training data, real only vs real + synthetic."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(4.5, 3.4))[1]
    for prefix, label in ((BASELINE, "real only"), (MAIN, "real + synthetic")):
        names = [prefix if f == 1 else f"{prefix}_{round(100 * f)}%" for f in fractions]
        stats_ = [cm.t_interval(per_seed.loc[per_seed["config"] == n, metric]) for n in names]
        mean, lo, hi = (np.array(v) for v in zip(*stats_, strict=True))
        x = 100 * np.asarray(fractions)
        ax.plot(x, mean, "o-", label=label)
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel("share of the real training split (%)")
    ax.set_ylabel(f"test {metric} ({POSITIVE_NOTE})")
    ax.legend()
    return ax


def plot_roc(preds: pd.DataFrame, configs: Sequence[str], ax=None):
    """ROC curves of the seed-ensembled test predictions (melanoma = positive)."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    ax = ax or plt.subplots(figsize=(4, 4))[1]
    for c in configs:
        test = tc.ensemble(preds[preds["config"] == c]).query("split == 'test'")
        fpr, tpr, _ = roc_curve(test["label"], test["p_mm"])
        ax.plot(fpr, tpr, label=f"{c} (AUROC {cm.auroc(test['label'], test['p_mm']):.2f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("1 - specificity (DN called MM)")
    ax.set_ylabel("sensitivity (MM found)")
    ax.set_title(f"test ROC, seed ensemble; {POSITIVE_NOTE}", fontsize=9)
    ax.legend(fontsize=8)
    return ax


def confusion_counts(preds: pd.DataFrame, config: str, rule: str = "youden") -> np.ndarray:
    """Test confusion matrix summed over seeds (rows true MM, DN; columns predicted MM, DN),
    each seed at its own validation-chosen threshold."""
    total = np.zeros((2, 2), int)
    for _, g in preds[preds["config"] == config].groupby("seed"):
        v, t = g[g["split"] == "val"], g[g["split"] == "test"]
        c = cm.confusion(t["label"], t["p_mm"] >= cm.choose_threshold(v["label"], v["p_mm"], rule))
        total += np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]])
    return total


def plot_confusions(preds: pd.DataFrame, configs: Sequence[str], rule: str = "youden"):
    """One annotated confusion matrix per config (counts summed over seeds, row shares)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(configs), figsize=(2.8 * len(configs), 3), squeeze=False,
                             layout="constrained")
    for ax, c in zip(axes[0], configs, strict=True):
        m = confusion_counts(preds, c, rule)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # colour = share of the true row
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v}\n({share[i, j]:.0%})", ha="center", va="center", fontsize=10,
                    color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks([0, 1], ["MM", "DN"])
        ax.set_yticks([0, 1], ["MM", "DN"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(c, fontsize=9)
    fig.suptitle(f"test confusion matrices, summed over seeds; {POSITIVE_NOTE}", fontsize=9)
    return fig


# --------------------------------------------------------------------------------------------
# Conclusions, written from the numbers
# --------------------------------------------------------------------------------------------
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
