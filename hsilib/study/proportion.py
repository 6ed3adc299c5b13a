"""How much synthetic data, from which generator, with or without quality filtering (notebook 07).

Every generator family of the study is one entry ``(family, checkpoint pattern)`` of
:attr:`hsilib.config.ProportionStudyConfig.generators`; the pattern names the checkpoint of one
class and generator replicate, e.g. ``"fastgan_{cls}_{tag}.pt"`` (``cls`` lower case, ``tag``
``g<seed>``, or ``f<fold>`` under cross-validation).
A later family joins the study by adding its entry; nothing below knows any family by name.

For each family, class and replicate, :func:`export_pool` draws ONE pool of synthetic crops
(in draw order, with the critic's score of each when the family has a critic) and every arm of
the grid takes its crops from that pool (:func:`select`):

- ``none``: the first ``n`` crops of the pool (an unfiltered draw of ``n``);
- ``top``: of the first ``ceil(n / fraction)`` crops, the ``n`` the critic scores highest, i.e.
  discriminator-based rejection keeping the top ``fraction`` (what
  :func:`hsilib.synth.export_synthetic` does with ``filter_top_fraction``);
- ``random``: of the same ``ceil(n / fraction)`` crops, ``n`` drawn at random: the control of the
  same size and the same pool, which separates "the critic picks better crops" from "fewer
  distinct draws" and from chance.

The chosen crops are copied to a folder of their own (:func:`write_subset`), which the classifier
reads whole, so a cell's training set holds exactly the intended crops. Amounts are percentages of
the real training count of each class (:func:`amount_counts`); a mix adds synthetic melanoma only
(``MM``), nevus only (``DN``) or both in the real class ratio (``both``); each melanoma-only amount
has a control that duplicates real melanoma crops up to the same class prior.

Under cross-validation (``GANStudyConfig.replicates = "folds"``) a replicate is a fold: the
family's checkpoints of that fold (pattern ``{tag}`` = ``f<k>``) were trained on the fold's
training crops only, the amounts are percentages of that fold's real training counts, and every
configuration, the baseline and the controls included, runs once per fold (``plan_proportions``
with per-fold counts); a family with no checkpoint of a fold (one trained on notebook 01's split)
is left out there.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.normaliser import BandNormaliser
from ..metrics.intervals import CHANGES, EQUIVALENT
from ..models import registry
from ..paths import atomic_dir, atomic_path
from ..runtime import device as pick_device
from ..synth import write_synthetic
from .conclusions import detectable
from .family_sets import find_checkpoints
from .plan import BASELINE, Experiment

#: How the crops of an arm are chosen from its pool (module docstring).
FILTERS = ("none", "top", "random")
#: Synthetic classes of each mix.
MIXES = {"MM": ("MM",), "DN": ("DN",), "both": ("MM", "DN")}
#: Name prefix of the real-melanoma duplication control of a melanoma-only amount.
DUPLICATED = "real+dupMM"
POOL_FILE = "pool.json"


def amount_counts(real_counts: Mapping[str, int], percent: float) -> dict[str, int]:
    """Synthetic crops per class for ``percent`` % of each class's real training count
    (rounded half up), e.g. ``{"MM": 75, "DN": 143}`` at 50 -> ``{"MM": 38, "DN": 72}``."""
    if percent < 0:
        raise ValueError(f"percent must be >= 0, got {percent}")
    return {c: int(math.floor(n * percent / 100 + 0.5)) for c, n in real_counts.items()}


def train_counts(tables: Mapping[int, str | Path]) -> dict[int, dict[str, int]]:
    """Real training crops per class of each replicate's split table (``class``, ``split``
    columns): ``{replicate: {"MM": n, "DN": m}}``."""
    out = {}
    for r, table in tables.items():
        train = pd.read_csv(table)
        train = train[train["split"] == "train"]["class"].value_counts()
        out[int(r)] = {c: int(train.get(c, 0)) for c in MIXES["both"]}
    return out


def family_checkpoints(generators: Sequence[tuple[str, str]], checkpoint_dir: str | Path,
                       tags: Mapping[int, str], *, folds: bool = False
                       ) -> tuple[dict[str, dict[tuple[str, int], Path]], list[str]]:
    """Each family of ``generators`` (``proportion_study.generators``) with the checkpoints it
    has, ``{family: {(cls, replicate): path}}`` (a replicate needs both classes), and a note per
    missing file or skipped family. Under cross-validation (``folds``) a pattern must name the
    replicate by ``{tag}`` (``f<k>``: the generator trained inside fold k); a family whose
    pattern does not, or that has no checkpoint of a fold (notebooks 04 and 05 train on notebook
    01's split, which holds other folds' test crops), is left out with a note."""
    found_all, notes = {}, []
    for family, pattern in generators:
        if folds and "{tag}" not in pattern:
            notes.append(f"{family}: left out under cross-validation (its pattern {pattern!r} "
                         "names no fold)")
            continue
        found, missing = find_checkpoints(checkpoint_dir, pattern, tags)
        paths = {(c, r): p for (c, r), p in found.items()
                 if ("MM", r) in found and ("DN", r) in found}
        if missing:
            notes.append(f"{family}: no checkpoints {missing}" + (
                "; left out (under cross-validation only generators trained inside a fold "
                "run)" if folds and not paths else ""))
        if paths:
            found_all[family] = paths
    return found_all, notes


def arm_counts(study, real_counts: Mapping[str, int], percent: float) -> dict[str, int]:
    """Synthetic (or duplicated) crops per class of an arm at ``percent``:
    :func:`amount_counts`, each at most ``study.max_crops`` when that is set (a dry run's cap
    on drawing and copying crops)."""
    counts = amount_counts(real_counts, percent)
    cap = getattr(study, "max_crops", None)
    return counts if cap is None else {c: min(n, cap) for c, n in counts.items()}


def pool_size(study, real_counts: Mapping[str, int], cls: str) -> int:
    """Crops the pool of class ``cls`` needs: the largest unfiltered amount of any mix that
    holds ``cls``, and ``ceil(n / filter_fraction)`` for the largest filtered amount."""
    need = 1
    for mix in study.mixes:
        if cls not in MIXES[mix]:
            continue
        for pct in study.amounts:
            n = arm_counts(study, real_counts, pct)[cls]
            need = max(need, n)
            if mix in study.filter_mixes and pct in _filter_amounts(study):
                need = max(need, math.ceil(n / study.filter_fraction))
    return need


def _filter_amounts(study) -> tuple[float, ...]:
    return tuple(study.amounts if study.filter_amounts is None else study.filter_amounts)


def export_pool(checkpoint: str | Path, out_dir: str | Path, *, n: int, cls: str,
                normaliser: BandNormaliser | str | Path, seed: int, generator: str,
                batch_size: int = 32, device: str = "auto",
                condition: Callable[[dict, str, int], dict] | None = None) -> pd.DataFrame:
    """Draw ``n`` crops of class ``cls`` from ``checkpoint`` (any registered family) into
    ``out_dir`` in draw order; ``pool.json`` beside ``index.csv`` holds the ids in that order and
    each crop's critic score (``null`` for a family without a critic, which then runs unfiltered
    arms only). ``condition(checkpoint dict, cls, n)``: the keyword conditions of a conditional
    family (:class:`hsilib.study.family_sets.Conditions`), given to sampling and scoring alike.
    Returns the ``index.csv`` table."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    objective, ckpt = registry.load(checkpoint, pick_device(device))
    cond = condition(ckpt, cls, n) if condition is not None else {}
    images = objective.sample(n, seed=seed, batch_size=batch_size, **cond)
    try:
        scores = [float(s) for s in objective.score(images, **cond).numpy()]
    except NotImplementedError:
        scores = None
    sha = registry.file_sha256(checkpoint)
    table = write_synthetic(images, out_dir, cls=cls, normaliser=normaliser, generator=generator,
                            checkpoint_sha=sha, seed=seed, inputs=(checkpoint,))
    sidecar = {"checkpoint": str(checkpoint), "checkpoint_sha": sha, "family": ckpt["family"],
               "class": cls, "seed": seed, "n": n, "ids": table["id"].tolist(),
               "scores": scores}
    with atomic_path(Path(out_dir) / POOL_FILE) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=1))
    return table


def read_pool(pool_dir: str | Path) -> tuple[list[str], np.ndarray | None]:
    """Ids of a pool in draw order and their critic scores (None without a critic)."""
    meta = json.loads((Path(pool_dir) / POOL_FILE).read_text())
    scores = meta["scores"]
    return meta["ids"], None if scores is None else np.asarray(scores, float)


def pool_is_current(pool_dir: str | Path, checkpoint: str | Path, n: int, seed: int) -> bool:
    """True when ``pool_dir`` holds a complete pool of ``n`` crops drawn with ``seed`` from the
    checkpoint as it is now (same SHA-256): the pool need not be drawn again, and the cells
    trained on it stay valid."""
    try:
        meta = json.loads((Path(pool_dir) / POOL_FILE).read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("n") == n and meta.get("seed") == seed
            and meta.get("checkpoint_sha") == registry.file_sha256(checkpoint))


def select(n_pool: int, n: int, how: str, *, scores: np.ndarray | None = None,
           fraction: float = 0.3, seed: int = 0) -> np.ndarray:
    """Sorted pool positions of the ``n`` crops an arm uses (module docstring): ``none`` the
    first ``n``; ``top`` the ``n`` best-scored of the first ``ceil(n / fraction)`` (ties: the
    earlier draw); ``random`` ``n`` of those same candidates drawn with ``seed``."""
    if how not in FILTERS:
        raise ValueError(f"how must be one of {FILTERS}, got {how!r}")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    m = n if how == "none" else math.ceil(n / fraction)
    if m > n_pool:
        raise ValueError(f"{how!r} with n={n} needs {m} pool crops, the pool has {n_pool}")
    if how == "none":
        return np.arange(n)
    if how == "top":
        if scores is None:
            raise ValueError("how='top' needs the critic's scores; this pool has none")
        return np.sort(np.argsort(-np.asarray(scores)[:m], kind="stable")[:n])
    return np.sort(np.random.default_rng(seed).choice(m, n, replace=False))


def write_subset(pool_dir: str | Path, out_dir: str | Path, positions: Sequence[int]) -> Path:
    """Copy the crops at ``positions`` of a pool (draw order) into ``out_dir`` as a crop folder
    of its own (files and ``index.csv`` rows), atomically; returns ``out_dir``."""
    pool_dir = Path(pool_dir)
    ids, _ = read_pool(pool_dir)
    index = pd.read_csv(pool_dir / "index.csv").set_index("id").loc[[ids[i] for i in positions]]
    with atomic_dir(Path(out_dir), (pool_dir,)) as tmp:
        for path in index["path"]:
            shutil.copy2(pool_dir / path, tmp / path)
        index.reset_index().to_csv(tmp / "index.csv", index=False)
    return Path(out_dir)


@dataclass(frozen=True)
class Subset:
    """The crops one arm draws from one pool: ``family``, class, generator ``replicate``,
    count ``n`` and filter ``how``."""

    family: str
    cls: str
    replicate: int
    n: int
    how: str
    tag: str = "g"  # replicate prefix in names: g (generator seed) or f (fold)

    @property
    def pool(self) -> str:
        """Folder name of the pool it comes from."""
        return f"07_{self.family}_{self.cls.lower()}_{self.tag}{self.replicate}_pool"

    @property
    def name(self) -> str:
        """Folder name of the subset."""
        return (f"07_{self.family}_{self.cls.lower()}_{self.tag}{self.replicate}_n{self.n}_"
                f"{self.how}")


def arm_name(family: str, mix: str, percent: float, how: str) -> str:
    """Configuration name, e.g. ``fastgan_MM_100%`` or ``fastgan_both_50%_top``."""
    tail = "" if how == "none" else f"_{how}"
    return f"{family}_{mix}_{percent:g}%{tail}"


def plan_proportions(study, real_counts: Mapping, families: Sequence[str],
                     replicates: Sequence[int] | Mapping[str, Sequence[int]], root: str | Path,
                     scored: Mapping[str, bool] | None = None, *, folds: bool = False
                     ) -> tuple[list[Experiment], list[Subset]]:
    """All configurations of notebook 07 and the subsets they read (to write before training).

    ``study`` is the :class:`~hsilib.config.ProportionStudyConfig`, ``real_counts`` the real
    training crops per class (``{"MM": n, "DN": m}``), or per replicate
    (``{replicate: {"MM": n, ...}}``, :func:`train_counts`), ``families`` the generator families
    with checkpoints, ``replicates`` the generator replicates (or, per family, those it has
    checkpoints of: the conditional generators of notebook 04 have one), ``root`` the folder the
    subsets live in (``run.synthetic``), ``scored`` whether each family's critic scores its
    samples (default: all do; a family without runs its unfiltered arms only). Configurations:
    the real-only baseline; per family, mix and amount an unfiltered arm and, where filtering
    runs, ``top`` and ``random`` arms (an amount that rounds to no synthetic crop of a class in
    some replicate leaves that class out, and the arm out when no class is left); per
    melanoma-only amount the duplication control ``real+dupMM_<pct>%`` (:func:`describe`
    tabulates family, mix, amount and filter). ``folds``: the replicates are cross-validation
    folds (module docstring): names carry ``f<k>``, amounts follow each fold's own counts, and
    every configuration runs once per fold.
    """
    root = Path(root)
    scored = scored or {}
    flat = not (real_counts and all(isinstance(v, Mapping) for v in real_counts.values()))
    every = sorted({int(r) for reps in (replicates.values() if isinstance(replicates, Mapping)
                                        else [replicates]) for r in reps}
                   | (set() if flat else {int(r) for r in real_counts}))
    per_rep = {r: real_counts for r in every} if flat else {int(r): real_counts[r]
                                                            for r in real_counts}
    tag = "f" if folds else "g"
    fold_runs = {r: {} for r in every} if folds else {}
    plan = [Experiment(BASELINE, ("baseline",), "real only (baseline)",
                       per_replicate=dict(fold_runs), by_fold=folds)]
    subsets: dict[str, Subset] = {}
    filter_at = _filter_amounts(study)
    for family in families:
        reps = [int(r) for r in (replicates[family] if isinstance(replicates, Mapping)
                                 else replicates)]
        for mix in study.mixes:
            for pct in study.amounts:
                counts = {r: arm_counts(study, per_rep[r], pct) for r in reps}
                classes = [c for c in MIXES[mix] if all(counts[r][c] > 0 for r in reps)]
                if not classes:  # rounds to no synthetic crop: the baseline itself
                    continue
                hows = ["none"]
                if mix in study.filter_mixes and pct in filter_at and scored.get(family, True):
                    hows += ["top", "random"]
                for how in hows:
                    runs = {}
                    for r in reps:
                        dirs = {}
                        for cls in classes:
                            sub = Subset(family, cls, r, counts[r][cls], how, tag)
                            subsets[sub.name] = sub
                            dirs[cls] = root / sub.name
                        runs[r] = dict(synthetic=dirs)
                    n_text = " + ".join(
                        "/".join(str(n) for n in dict.fromkeys(counts[r][c] for r in reps))
                        + f" {c}" for c in classes)
                    plan.append(Experiment(
                        arm_name(family, mix, pct, how), (family, mix, how),
                        f"real + {n_text} synthetic from {family} ({pct:g}% of real, "
                        f"filter {how})",
                        dict(n_synthetic={c: None for c in classes}), runs, by_fold=folds))
    if "MM" in study.mixes:
        for pct in study.amounts:
            n_mm = ({r: arm_counts(study, per_rep[r], pct)["MM"] for r in every}
                    if folds or not flat else {-1: arm_counts(study, real_counts, pct)["MM"]})
            if not n_mm or not all(n_mm.values()):
                continue
            label = (f"real + {'/'.join(str(n) for n in dict.fromkeys(n_mm.values()))} "
                     f"duplicated real MM (prior of {pct:g}% MM)")
            if folds:  # each fold duplicates up to its own count
                plan.append(Experiment(f"{DUPLICATED}_{pct:g}%", ("control", "MM", "none"),
                                       label, {}, {r: dict(duplicate_mm=n) for r, n in
                                                   n_mm.items()}, by_fold=True))
            else:
                plan.append(Experiment(f"{DUPLICATED}_{pct:g}%", ("control", "MM", "none"),
                                       label, dict(duplicate_mm=next(iter(n_mm.values())))))
    return plan, list(subsets.values())


def describe(plan: Sequence[Experiment]) -> pd.DataFrame:
    """One row per configuration: ``config``, ``family`` (``real``, ``duplicated`` or a generator
    family), ``mix``, ``percent`` and ``filter``, parsed back from the plan's names."""
    rows = []
    for e in plan:
        if e.name == BASELINE:
            rows.append((e.name, "real", "none", 0.0, "none"))
        elif e.name.startswith(DUPLICATED):
            rows.append((e.name, "duplicated", "MM", float(e.name.rsplit("_", 1)[1][:-1]),
                         "none"))
        else:
            family, mix, how = e.groups
            pct = e.name[len(family) + len(mix) + 2:].split("%")[0]
            rows.append((e.name, family, mix, float(pct), how))
    return pd.DataFrame(rows, columns=["config", "family", "mix", "percent", "filter"])


def amount_table(uncertainty: pd.DataFrame, arms: pd.DataFrame) -> pd.DataFrame:
    """The intervals of :func:`hsilib.study.stats.test_uncertainty` joined with each
    configuration's family, mix, amount and filter; the baseline appears as amount 0 of every
    mix of every family (the shared start of each curve). Its ``runs`` column says what the
    interval over runs covers (classifier seeds, generator replicates averaged within seed)."""
    table = uncertainty.merge(arms, on="config")
    base = table[table["config"] == BASELINE]
    starts = [base.assign(family=f, mix=m) for f in arms["family"].unique()
              if f not in ("real",) for m in arms.loc[arms.family == f, "mix"].unique()]
    return pd.concat([table[table["config"] != BASELINE], *starts], ignore_index=True)


def conclusions(paired: pd.DataFrame, arms: pd.DataFrame, filtered: pd.DataFrame,
                prior: pd.DataFrame | None = None) -> str:
    """Plain-English findings from the paired tables: which arms change AUROC and sensitivity
    against the real-only baseline (every interval must exclude 0 and the Holm-adjusted
    p < 0.05), which are equivalent to it within the margin, whether synthetic melanoma differs
    from duplicated real melanoma at the same prior (``prior``: melanoma-only arms against their
    controls), and what filtering does against the unfiltered and the random arm of equal size.
    ``filtered`` is :func:`hsilib.study.stats.paired_table` rows of each ``top`` arm against its
    ``random`` and ``none`` arms (column ``against``). Beside every verdict that is not a
    detected change stands the smallest change the design would detect."""
    lines = []
    p = paired.merge(arms, on="config")
    for metric in ("auroc", "sensitivity"):
        rows = p[p.metric == metric]
        found = rows[rows.verdict.isin(CHANGES)]
        same = rows[rows.verdict.str.startswith(EQUIVALENT)]
        lines.append(f"- **{metric}** vs the real-only baseline: {len(found)} of {len(rows)} "
                     "configurations show a change distinguishable from zero"
                     + (": " + "; ".join(f"`{r.config}` {r['diff']:+.3f} "
                                         f"[{r.boot_lo:+.3f}, {r.boot_hi:+.3f}]"
                                         for _, r in found.iterrows()) if len(found) else "")
                     + f"; {len(same)} are equivalent to it within +/-"
                     f"{rows.margin.max():g} (TOST, Holm); the rest: cannot tell.")
        best = rows.sort_values("diff").iloc[-1]
        lines.append(f"  The largest mean {metric} difference is `{best.config}` "
                     f"({best['diff']:+.3f}, test-bootstrap CI [{best.boot_lo:+.3f}, "
                     f"{best.boot_hi:+.3f}], Holm p = {best.p_t_holm:.3g}: {best.verdict}"
                     + ("" if best.verdict in CHANGES else f"; {detectable(best)}") + ").")
    if prior is not None and len(prior):
        rows = prior[prior.metric == "auroc"]
        found = rows[rows.verdict.isin(CHANGES)]
        lines.append(f"- Synthetic vs duplicated real melanoma at the same prior: {len(found)} of "
                     f"{len(rows)} amounts differ in AUROC distinguishably from zero (mean "
                     f"differences {', '.join(f'{d:+.3f}' for d in rows['diff'])}; verdicts "
                     f"{', '.join(rows['verdict'])}).")
    if len(filtered):
        for _, r in filtered[filtered.metric == "auroc"].iterrows():
            lines.append(f"- Filtering: `{r.config}` vs `{r.against}`: AUROC {r['diff']:+.3f} "
                         f"[{r.boot_lo:+.3f}, {r.boot_hi:+.3f}] ({r.verdict}"
                         + ("" if r.verdict in CHANGES else f"; {detectable(r)}") + ").")
    else:
        lines.append("- Filtering: no arm with a critic ran, so nothing is said about it.")
    return "\n".join(lines)


def family_table() -> pd.DataFrame:
    """Notebook 07's generator families (``proportion_study.generators`` of every profile), one
    row each: its checkpoint pattern and, per profile, whether that profile runs it (from the
    config alone)."""
    from .. import config

    studies = {p: config.resolve(p, "proportion_study") for p in config.PROFILES}
    rows = {}
    for profile, study in studies.items():
        for family, pattern in study.generators:
            rows.setdefault(family, {"family": family, "checkpoint pattern": pattern,
                                     **dict.fromkeys(studies, "-")})[profile] = "runs"
    return pd.DataFrame(list(rows.values()))
