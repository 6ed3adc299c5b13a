"""Tables read off the metric tables of several generators (notebooks 03 and 05).

Each metric table is what :func:`hsilib.metrics.protocol.evaluate_generator` returns for one
synthetic set (one row per metric: ``value``, ``floor``, ``ci_low``, ``ci_high``, ...); the
tables here are keyed by ``(class, replicate)`` as :meth:`Family.evaluate
<hsilib.study.generators.study.Family.evaluate>` returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pandas as pd

#: the rows of checks 5 (memorisation) and 7 (detectability)
CHECK_METRICS = ("NN_train_dist_ratio", "detectability_AUROC")


def fd_name(tables: Mapping) -> str:
    """The Frechet-distance metric of the tables: their first row (``FD_rand``, or ``FID``
    with a local Inception checkpoint)."""
    return next(iter(tables.values())).metric.iloc[0]


def metric_rows(tables: Mapping, metric: str) -> dict:
    """One metric's row (value, floor, interval) of every table, by the same keys."""
    return {k: t.set_index("metric").loc[metric] for k, t in tables.items()}


def checks_table(tables: Mapping[tuple[str, int], pd.DataFrame], column: str = "generator seed",
                 metrics: Sequence[str] = CHECK_METRICS) -> pd.DataFrame:
    """Checks 5 and 7 in one table: per class and replicate (column ``column``) the
    memorisation ratio and the detectability AUROC with interval and floor (notebook 03,
    section 11)."""
    rows = []
    for (c, r), t in tables.items():
        t = t.set_index("metric")
        for m in metrics:
            row = t.loc[m]
            rows.append({"class": c, column: r, "metric": m, "value": row.value,
                         "ci_low": row.ci_low, "ci_high": row.ci_high, "floor": row.floor})
    return pd.DataFrame(rows)


def budget_table(first: Mapping, second: Mapping, names: tuple[str, str] = (
        "FastGAN", "StyleGAN2"), tag: Callable[[int], str] = str) -> pd.DataFrame:
    """Training steps and seconds of two families' runs per class and replicate, and the
    ratio of their (rounded) seconds (notebook 03, section 14). ``first`` / ``second``: runs
    by ``(class, replicate)``."""
    a, b = names
    table = pd.DataFrame([
        {"class": c, "replicate": tag(r), f"{a} steps": first[c, r].step,
         f"{a} seconds": round(first[c, r].wall_s, 1), f"{b} steps": second[c, r].step,
         f"{b} seconds": round(second[c, r].wall_s, 1)} for c, r in second])
    table["time ratio"] = (table[f"{b} seconds"] / table[f"{a} seconds"]).round(2)
    return table


def fd_pairs(first: Mapping, second: Mapping, names: tuple[str, str] = (
        "FastGAN", "StyleGAN2"), tag: Callable[[int], str] = str) -> pd.DataFrame:
    """The Frechet distance of two families per class and replicate, with intervals, the
    floor and whether the intervals overlap (notebook 03, section 16)."""
    fd = fd_name(first)
    rows = []
    for c, r in second:
        row = {"class": c, "replicate": tag(r)}
        for name, tables in zip(names, (first, second), strict=True):
            t = tables[c, r].set_index("metric").loc[fd]
            row |= {f"{name} {k}": t[k] for k in ("value", "ci_low", "ci_high")}
        row["floor"] = first[c, r].set_index("metric").loc[fd, "floor"]
        rows.append(row)
    table = pd.DataFrame(rows)
    a, b = names
    table["intervals overlap"] = ((table[f"{a} ci_low"] <= table[f"{b} ci_high"])
                                  & (table[f"{b} ci_low"] <= table[f"{a} ci_high"]))
    return table


def family_pairs(first: Mapping, second: Mapping, names: tuple[str, str] = (
        "FastGAN", "StyleGAN2-ADA"), tag: Callable[[int], str] = str) -> dict[str, pd.DataFrame]:
    """The two families' tables interleaved per class and replicate (``"MM g0 FastGAN"``,
    ``"MM g0 StyleGAN2-ADA"``, ...), for :func:`~hsilib.metrics.protocol.side_by_side`."""
    out = {}
    for c, r in second:
        out[f"{c} {tag(r)} {names[0]}"] = first[c, r]
        out[f"{c} {tag(r)} {names[1]}"] = second[c, r]
    return out


def family_means(recorded: pd.DataFrame, notebooks: Sequence[str], metrics: Sequence[str]
                 ) -> pd.DataFrame:
    """Mean over replicates of every family's final sets (``variant`` ``final`` or
    ``final_f<k>``) of ``notebooks`` in the generator-results table, per metric and class,
    one column per family and the mean floor (notebook 05, section 11)."""
    recorded = recorded.assign(notebook=recorded.notebook.astype(str).str.zfill(2))
    final = recorded[recorded.variant.str.startswith("final")
                     & recorded.notebook.isin(list(notebooks)) & recorded.metric.isin(metrics)]
    return (final.groupby(["metric", "class", "family"]).value.mean().unstack("family")
            .join(final.groupby(["metric", "class"]).floor.mean()))
