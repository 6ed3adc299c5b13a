"""Notebook 08: does the perfect generator score at the floor? The rule written out."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._run import result

Z95 = 1.959963984540054  # the 97.5 % point of the standard normal


def apart_by_hand(value, lo, hi, floor, floor_lo, floor_hi) -> bool:
    """Whether a score is told apart from its floor: ``|value - floor|`` larger than 1.96
    standard errors of the difference, each standard error read off the half of its 95 %
    interval that faces the other number (half-width / 1.96); a floor without an interval
    counts as exact; undefined numbers tell nothing apart."""
    if not np.isfinite([value, lo, hi, floor]).all():
        return False
    up = value > floor
    se = max(value - lo if up else hi - value, 0.0) / Z95
    se_floor = 0.0
    if np.isfinite([floor_lo, floor_hi]).all():
        se_floor = max(floor_hi - floor if up else floor - floor_lo, 0.0) / Z95
    return bool(abs(value - floor) > Z95 * np.hypot(se, se_floor))


def floor_check(run) -> pd.DataFrame:
    """``08_floor_check.csv`` (the clean oracle's value of every metric and class beside the
    floor) with ``at_floor_by_hand``: not :func:`apart_by_hand`."""
    t = result(run, "08_floor_check", "08_metric_correlation")
    t["at_floor_by_hand"] = [not apart_by_hand(r.value, r.ci_low, r.ci_high, r.floor,
                                               r.floor_low, r.floor_high)
                             for r in t.itertuples()]
    return t
