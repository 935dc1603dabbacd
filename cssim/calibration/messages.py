"""Each method's reference message and the odds multipliers of its other messages.

Messages other than a method's most used one become odds multipliers
(Mantel-Haenszel over segment and tier, with a 90% interval and a test of
equal odds across strata; a rejected test is flagged in the table: such a
message is better modelled as a method of its own).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cssim.calibration.settings import GOOD_FIT_P_VALUE, INTERVAL_LEVEL


def default_messages(touches: pd.DataFrame) -> dict[str, str]:
    """Each method's most used message."""
    counts = touches.groupby(["method", "message"], observed=True).size()
    return {
        str(method): str(per_method.droplevel("method").idxmax())
        for method, per_method in counts.groupby(level="method", observed=True)
    }


def message_lifts(counts: pd.DataFrame, defaults: dict[str, str]) -> pd.DataFrame:
    """Mantel-Haenszel odds ratio of each message against its method's default.

    Strata are segment and tier cells touched with both messages. A p-value of
    the equal-odds test under ``GOOD_FIT_P_VALUE`` marks a message whose lift
    differs by stratum (``homogeneous`` false).
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    rows = []
    for method, cells in counts.groupby("method", observed=True):
        reference = defaults[str(method)]
        for message in sorted(set(cells["message"]) - {reference}):
            mine = cells[cells["message"] == message].set_index(["segment", "tier"])
            theirs = cells[cells["message"] == reference].set_index(["segment",
                                                                     "tier"])
            strata = mine.index.intersection(theirs.index)
            row = {"method": method, "message": message, "reference": reference,
                   "touches": int(mine["trials"].sum()), "strata": len(strata),
                   "odds_ratio": math.nan, "lower": math.nan, "upper": math.nan,
                   "equal_odds_pvalue": math.nan}
            if len(strata):
                tables = [
                    [[mine.loc[s, "successes"], mine.loc[s, "trials"]
                      - mine.loc[s, "successes"]],
                     [theirs.loc[s, "successes"], theirs.loc[s, "trials"]
                      - theirs.loc[s, "successes"]]]
                    for s in strata
                ]
                stratified = StratifiedTable(np.array(tables, dtype=float).transpose(
                    1, 2, 0), shift_zeros=True)
                lower, upper = stratified.oddsratio_pooled_confint(
                    alpha=1 - INTERVAL_LEVEL
                )
                row.update(odds_ratio=float(stratified.oddsratio_pooled),
                           lower=float(lower), upper=float(upper))
                if len(strata) > 1:
                    row["equal_odds_pvalue"] = float(
                        stratified.test_equal_odds().pvalue
                    )
            rows.append(row)
    lifts = pd.DataFrame(rows, columns=[
        "method", "message", "reference", "touches", "strata", "odds_ratio",
        "lower", "upper", "equal_odds_pvalue",
    ])
    lifts["homogeneous"] = ~(lifts["equal_odds_pvalue"] < GOOD_FIT_P_VALUE)
    return lifts
