"""The states of notebook 08 and the probe runs that measure their utility.

A **state** adds synthetic crops of BOTH classes in the real class ratio to the probe's real
training set, so that no state moves the class prior and the class of its crops does not set
the sign of its utility. The oracle ladder's rungs are such states by construction
(:mod:`hsilib.study.oracle`); the run's generators enter as **pairs** (:func:`pair_states`):
the melanoma and the nevus generator of one kind (family, variant, generator seed or fold, and
the same training step), each found from its checkpoint alone
(:func:`hsilib.study.states.discover_states`). A pair's training **run** (the pair without its
snapshot step) is the unit the correlations resample: all snapshots of a run move together.

- :func:`find_pairs`: the pairs of every split table (notebook 01's split, and each fold's table
  under cross-validation: a fold's generators are states of that fold, their utility measured
  inside it), left out with a note when unpaired or at another image size than the crops;
- :func:`export_pairs`: each pair's crops, drawn once per checkpoint (a rerun reads them);
- :func:`write_duplicates`: the real training crops of one class copied into a crop folder (the
  real + duplicated-real control adds as many of them as a state adds crops);
- :func:`probe_plan` and :class:`ProbeCells`: the probe's experiments (real only, real +
  duplicated real, every state) and the grid's cell function, which keeps the real-only probes'
  weights for the task-aware distance.

Introduced in notebook 08.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.crop_folder import read_index, write_crop_folder
from ..data.datasets import load_crop
from ..paths import atomic_path
from .correlation_utility import BASELINE, DUPLICATED, FOLDS
from .plan import Experiment
from .proportion import amount_counts, export_pool, pool_is_current
from .states import discover_states, spread_subset

CLASSES = ("MM", "DN")
PAIR_COLUMNS = ["state", "run", "family", "seed", "step", "fold", "image_size", "snapshot",
                "path_mm", "path_dn"]
_CLASS_TOKEN = re.compile(r"_(mm|dn)(?=_|$)")
_SNAPSHOT = re.compile(r"_s\d+$")


def pair_states(found: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Pairs of single-class states (rows of :func:`~hsilib.study.states.discover_states` with a
    ``fold`` column) whose names agree once the class token (``_mm`` / ``_dn``) is removed and
    that share family, generator seed, step, fold and image size: ``fastgan_mm_g0`` and
    ``fastgan_dn_g0`` make the state ``fastgan_g0``, their snapshots at step 100
    ``fastgan_g0_s000100`` (run ``fastgan_g0``). Returns the pairs (:data:`PAIR_COLUMNS`) and a
    note for every state left without a partner."""
    rows, notes = [], []
    if found.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS), notes
    found = found.assign(pair=[_CLASS_TOKEN.sub("", s, count=1) for s in found["state"]])
    keys = ["pair", "family", "seed", "step", "fold", "image_size"]
    for key, g in found.groupby(keys, sort=True):
        by_class = {c: g[g["class"] == c] for c in CLASSES}
        if any(len(v) != 1 for v in by_class.values()):
            have = ", ".join(g["state"])
            notes.append(f"{have}: no {'nevus' if by_class['DN'].empty else 'melanoma'} "
                         "generator of the same kind, seed, fold and step, so no state with "
                         "both classes")
            continue
        k = dict(zip(keys, key, strict=True))
        rows.append({"state": k["pair"], "run": _SNAPSHOT.sub("", k["pair"]),
                     "family": k["family"], "seed": int(k["seed"]), "step": int(k["step"]),
                     "fold": int(k["fold"]), "image_size": int(k["image_size"]),
                     "snapshot": bool(by_class["MM"]["snapshot"].iloc[0]),
                     "path_mm": by_class["MM"]["path"].iloc[0],
                     "path_dn": by_class["DN"]["path"].iloc[0]})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS), notes


def find_pairs(checkpoint_dir: str | Path, tables: Mapping[int, str | Path], image_size: int
               ) -> tuple[pd.DataFrame, list[str]]:
    """The pairs (:func:`pair_states`) of every split table of ``tables`` (fold -> table; -1 is
    notebook 01's split), each checkpoint counted under the table whose training split it
    trained on. A checkpoint that repeats another one (the same run and step saved under two
    names, e.g. a sweep's run reused as a final generator) may pair under either name. Pairs
    whose crops are not ``image_size`` px (notebook 01's crops) are left out, since states of
    different resolutions are never correlated together. Returns the pairs and the notes
    (checkpoints no table takes, unpaired states, other sizes)."""
    found, notes = [], {}
    for fold, table in sorted(tables.items()):
        states, left = discover_states(checkpoint_dir, table)
        found.append(states.assign(fold=fold))
        found.append(_aliases(states, left).assign(fold=fold))
        for note in left:
            notes.setdefault(note.split(":")[0], note)
    found = pd.concat(found, ignore_index=True)
    taken = {Path(p).name for p in found["path"]}
    kept = [n for name, n in notes.items() if name not in taken and not _SAME.match(n)]
    pairs, unpaired = pair_states(found)
    other = pairs[pairs["image_size"] != image_size]
    kept += unpaired + [f"{s}: {size} px crops, the study's are {image_size} px; left out (states "
                        "of different sizes are not correlated together)"
                        for s, size in zip(other["state"], other["image_size"], strict=True)]
    return pairs[pairs["image_size"] == image_size].reset_index(drop=True), kept


_SAME = re.compile(r"^(?P<name>\S+)\.pt: the same run and step as (?P<kept>\S+)\.pt; counted once")


def _aliases(states: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """The checkpoints :func:`discover_states` counted once under another name, as rows under
    their own name (the kept checkpoint's file, run, step and class), so that either name can
    find its partner of the other class; the snapshots kept under either name get the other
    name too (``<name>_s<step>``), since they are the snapshots of the same run."""
    rows = []
    by_name = states.assign(name=[Path(p).stem for p in states["path"]]).set_index("name")
    for note in notes:
        m = _SAME.match(note)
        if not (m and m["kept"] in by_name.index):
            continue
        for one, other in ((m["kept"], m["name"]), (m["name"], m["kept"])):
            for name, row in by_name.iterrows():
                snapshot = name.startswith(one + "_s") and _SNAPSHOT.search(name)
                if (name == one and one == m["kept"]) or snapshot:
                    rows.append({**row.to_dict(), "state": other + name[len(one):]})
    return pd.DataFrame(rows, columns=states.columns)


def export_pairs(pairs: pd.DataFrame, folder_of: Any, normalisers: Mapping[int, Any],
                 counts: Mapping[int, Mapping[str, int]], *, seed: int, device: Any = "auto"
                 ) -> tuple[dict[str, dict[str, Path]], list[str]]:
    """Each pair's crops: ``counts[fold][cls]`` crops of each class drawn with ``seed`` from its
    checkpoint into ``folder_of(f"08_{checkpoint stem}")``, through the normaliser its
    generator was trained with (``normalisers[fold]``); drawn again only when the checkpoint
    changed (:func:`hsilib.study.proportion.pool_is_current`). A generator that cannot sample
    unconditionally (the RGB-to-HS SHS-GAN needs RGB images) leaves its pair out. Returns
    ``({state: {"MM": folder, "DN": folder}}, notes on the pairs left out)``."""
    out, notes = {}, []
    for p in pairs.to_dict("records"):
        try:
            out[p["state"]] = {cls: _export(Path(p[f"path_{cls.lower()}"]), folder_of,
                                            normalisers[p["fold"]], counts[p["fold"]][cls],
                                            cls, seed, device) for cls in CLASSES}
        except ValueError as err:  # a generator that samples from a condition only
            notes.append(f"{p['state']}: cannot draw its crops unconditionally ({err}); left out")
    return out, notes


def _export(path: Path, folder_of: Any, normaliser: Any, n: int, cls: str, seed: int,
            device: Any) -> Path:
    folder = Path(folder_of(f"08_{path.stem}"))
    if not pool_is_current(folder, path, n, seed):
        export_pool(path, folder, n=n, cls=cls, normaliser=normaliser, seed=seed,
                    generator=path.stem, device=device)
    return folder


def write_duplicates(crops_dir: str | Path, table: pd.DataFrame, cls: str,
                     out_dir: str | Path) -> Path:
    """The real TRAINING crops of class ``cls`` (split table ``table``) copied into the crop
    folder ``out_dir``, ids and source images kept (a copy is a duplicate, never a new crop, and
    the classifiers' leakage check still sees its source). Kept as it is when it already holds
    those crops (``duplicates.json``)."""
    ids = sorted(table.loc[(table["split"] == "train") & (table["class"] == cls), "id"])
    if not ids:
        raise ValueError(f"write_duplicates: no {cls} training crops in the split table")
    stamp = {"class": cls, "ids": ids}
    out_dir = Path(out_dir)
    try:
        if json.loads((out_dir / "duplicates.json").read_text()) == stamp:
            return out_dir
    except (OSError, ValueError):
        pass
    index = read_index(crops_dir).set_index("id").loc[ids].reset_index()

    def items():
        for row in index.to_dict("records"):
            cube, mask = load_crop(row.pop("path"))
            yield row, cube, mask

    write_crop_folder(out_dir, items(), inputs=[crops_dir])
    with atomic_path(out_dir / "duplicates.json") as tmp:
        tmp.write_text(json.dumps(stamp))
    return out_dir


def probe_plan(states: Mapping[str, tuple[Mapping[str, Path], int, str]],
               duplicates: Mapping[int, Mapping[str, Path]],
               counts: Mapping[int, Mapping[str, int]]) -> list[Experiment]:
    """The probe's experiments: real only and real + duplicated real (on notebook 01's split,
    and per fold when some state is a fold's), then every state of ``states`` (name ->
    (its folders by class, its fold, a label)), adding all its crops. ``duplicates``: the
    folders of :func:`write_duplicates` per fold; ``counts``: crops per class a state adds, per
    fold (the control adds as many duplicates)."""
    folds = sorted({f for _, f, _ in states.values() if f >= 0})
    dup = {f: dict(synthetic=dict(duplicates[f]), n_synthetic=dict(counts[f]))
           for f in [-1, *folds]}
    plan = [Experiment(BASELINE, ("control",), "real only"),
            Experiment(DUPLICATED, ("control",), "real + duplicated real crops", dup[-1])]
    if folds:
        plan += [Experiment(BASELINE + FOLDS, ("control",), "real only, per fold",
                            per_replicate={f: {} for f in folds}, by_fold=True),
                 Experiment(DUPLICATED + FOLDS, ("control",), "real + duplicated real, per fold",
                            per_replicate={f: dup[f] for f in folds}, by_fold=True)]
    for name, (folders, fold, label) in states.items():
        args = dict(synthetic=dict(folders), n_synthetic=dict.fromkeys(folders))
        plan.append(Experiment(name, ("state",), label, args) if fold < 0 else
                    Experiment(name, ("state",), label, per_replicate={fold: args},
                               by_fold=True))
    return plan


def probe_checkpoint(checkpoint_dir: str | Path, seed: int, fold: int = -1) -> Path:
    """Where :class:`ProbeCells` keeps the real-only probe of ``seed`` (and ``fold``)."""
    name = BASELINE if fold < 0 else BASELINE + FOLDS
    return Path(checkpoint_dir) / (f"08_probe_{name}_seed{seed}" + (f"_f{fold}" if fold >= 0
                                                                    else "") + ".pt")


class ProbeCells:
    """``run_cell(experiment, seed, replicate)`` for :func:`~hsilib.study.grid.run_grid`: one
    probe run through :meth:`hsilib.study.classifier_inputs.ClassifierInputs.cells`; the
    real-only runs keep their weights (:func:`probe_checkpoint`), which the task-aware distance
    explains."""

    def __init__(self, inputs: Any, probe: Any, *, device: Any, checkpoint_dir: Path) -> None:
        self.keep = inputs.cells(probe, device=device, checkpoint_dir=checkpoint_dir,
                                 prefix="08_probe_")
        self.plain = inputs.cells(probe, device=device)
        self.plain.cache = self.keep.cache  # the crops are read once for both

    def __call__(self, experiment: Any, seed: int, replicate: int | None) -> pd.DataFrame:
        base = experiment.name in (BASELINE, BASELINE + FOLDS)
        return (self.keep if base else self.plain)(experiment, seed, replicate)


def real_counts(tables: Mapping[int, pd.DataFrame], amount: float,
                max_crops: int | None = None) -> dict[int, dict[str, int]]:
    """Crops per class a state adds under each split table: ``amount`` % of the table's real
    training count of the class (:func:`hsilib.study.proportion.amount_counts`), at most
    ``max_crops`` (None: no limit)."""
    out = {}
    for fold, t in tables.items():
        train = t[t["split"] == "train"]["class"].value_counts()
        out[fold] = {c: n if max_crops is None else min(n, max_crops) for c, n in
                     amount_counts({c: int(train.get(c, 0)) for c in CLASSES}, amount).items()}
        if min(out[fold].values()) < 2:
            raise ValueError(f"split table of fold {fold}: {out[fold]} crops per class at "
                             f"{amount}% of its training crops; each class needs at least 2")
    return out


def spread_pairs(pairs: pd.DataFrame, max_pairs: int | None) -> pd.DataFrame:
    """At most ``max_pairs`` pairs, spread over families, seeds and training stages
    (:func:`hsilib.study.states.spread_subset`); all when None or fewer."""
    return spread_subset(pairs.assign(**{"class": "both"}), max_pairs).drop(columns="class")


# --------------------------------------------------------------------------------------------
# The split tables and what each state needs under its table
# --------------------------------------------------------------------------------------------
def split_tables(inputs: Any) -> dict[int, pd.DataFrame]:
    """Notebook 01's split (key -1) and, under cross-validation, every fold's table, of a
    :class:`~hsilib.study.classifier_inputs.ClassifierInputs`."""
    return {-1: _read_table(inputs.splits_csv),
            **{f: _read_table(t) for f, t in inputs.fold_tables.items()}}


def _read_table(path: str | Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"id": str, "source": str})


def normalisers(inputs: Any) -> dict[int, Any]:
    """The normaliser of every split table of :func:`split_tables`."""
    return {-1: inputs.normaliser, **inputs.fold_normalisers}


def crop_size(crops_dir: str | Path) -> int:
    """The side of notebook 01's crops, read from the first crop file."""
    index = read_index(crops_dir)
    if index.empty:
        raise ValueError(f"{crops_dir}: no crops (run notebook 01 first)")
    return int(load_crop(index["path"].iloc[0])[0].shape[0])


def duplicate_folders(crops_dir: str | Path, tables: Mapping[int, pd.DataFrame],
                      folder_of: Any, folds: Any = None) -> dict[int, dict[str, Path]]:
    """:func:`write_duplicates` of both classes for notebook 01's split and each fold of
    ``folds`` (default: every table), in ``folder_of("08_duplicated_<cls>[_f<r>]")``."""
    keep = [-1, *(f for f in tables if f >= 0 and (folds is None or f in folds))]
    return {f: {c: write_duplicates(crops_dir, tables[f], c, folder_of(
        f"08_duplicated_{c.lower()}" + (f"_f{f}" if f >= 0 else ""))) for c in CLASSES}
        for f in keep}


def state_inputs(ladder: Mapping[str, Mapping[str, Path]], pairs: pd.DataFrame,
                 generators: Mapping[str, Mapping[str, Path]]
                 ) -> dict[str, tuple[Mapping[str, Path], int, str]]:
    """Every state for :func:`probe_plan`: the ladder's rungs (folders by class, on notebook
    01's split) and the generator pairs (their folders, their fold)."""
    out = {s: (f, -1, f"oracle rung {s.removeprefix('oracle_')}") for s, f in ladder.items()}
    for p in pairs.itertuples():
        where = f", fold {p.fold}" if p.fold >= 0 else ""
        out[p.state] = (generators[p.state], int(p.fold),
                        f"{p.family} MM + DN at step {p.step}{where}")
    return out


def load_probes(checkpoint_dir: str | Path, seeds: Any, fold: int = -1,
                device: Any = "cpu") -> list[Any]:
    """The real-only probes of every seed (and ``fold``) that :class:`ProbeCells` kept."""
    from .explain import load_classifier

    return [load_classifier(probe_checkpoint(checkpoint_dir, s, fold), device) for s in seeds]


def state_groups(rungs: pd.DataFrame | None, pairs: pd.DataFrame) -> dict[str, str]:
    """state -> its group's label, for the figures: a ladder state's corruption kind (``rungs``:
    ``state``, ``kind``; None without a ladder), a pair's family, the controls ``control``."""
    out = {s: "control" for s in (DUPLICATED, DUPLICATED + FOLDS)}
    if rungs is not None:
        out.update(zip(rungs["state"], "oracle: " + rungs["kind"], strict=True))
    out.update(zip(pairs["state"], pairs["family"], strict=True))
    return out
