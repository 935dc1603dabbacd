"""Response by attempt and by recent touches, and the odds lost per extra attempt.

Fatigue: response by attempt number and by touches in the previous 30 days,
and a logistic fit of the odds multiplier per extra attempt (cell effects
plus a slope in attempt, via statsmodels) with a 90% interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from cssim.calibration.log_checks import LogKind
from cssim.calibration.response import beta_posterior, cell_counts
from cssim.calibration.settings import INTERVAL_LEVEL

WINDOW_DAYS = 30
"""The contact-pressure window, as in the policy's cap."""


def response_by_attempt(touches: pd.DataFrame) -> pd.DataFrame:
    """Response rate at each attempt number among the customers who reached it."""
    table = touches.groupby(["method", "attempt"], observed=True).agg(
        customers_reaching=("responded", "size"), responses=("responded", "sum")
    ).reset_index()
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["customers_reaching"]
    _add_interval(table, "responses", "customers_reaching")
    return table


def _add_interval(table: pd.DataFrame, successes: str, trials: str) -> None:
    """A 90% interval from a Beta(1, 1) prior, in place (for descriptive tables)."""
    a, b = beta_posterior(table[successes], table[trials])
    tail = (1 - INTERVAL_LEVEL) / 2
    table["lower"] = stats.beta.ppf(tail, a, b)
    table["upper"] = stats.beta.ppf(1 - tail, a, b)


def fatigue_fits(touches: pd.DataFrame, min_touches: int) -> pd.DataFrame:
    """Odds multiplier per extra attempt per method, from a logistic fit.

    Each method, message, segment and tier cell has its own intercept; the
    slope in attempt number is shared. Attempts run up to the last one with
    at least ``min_touches`` touches. With stop-on-response sequences the
    customers reaching later attempts are those who had not answered, so a
    decline mixes fatigue with selection of less responsive customers.
    """
    import statsmodels.api as sm

    rows = []
    for method, frame in touches.groupby("method", observed=True):
        per_attempt = frame["attempt"].value_counts()
        enough = per_attempt[per_attempt >= min_touches].index
        last = int(enough.max()) if len(enough) else 0
        if last < 2:
            continue
        used = frame[frame["attempt"] <= last]
        cells = cell_counts(used, ["message", "segment", "tier", "attempt"],
                            "responded")
        cell_key = cells[["message", "segment", "tier"]].astype(str).agg("|".join,
                                                                         axis=1)
        informative = cells.groupby(cell_key)["successes"].transform("sum") > 0
        informative &= cells.groupby(cell_key)["successes"].transform("sum") < (
            cells.groupby(cell_key)["trials"].transform("sum")
        )
        cells, cell_key = cells[informative], cell_key[informative]
        if cells.empty or cells["attempt"].nunique() < 2:
            continue

        design = pd.get_dummies(cell_key, dtype=float)
        design["extra_attempts"] = cells["attempt"].to_numpy(dtype=float) - 1
        outcome = np.column_stack([cells["successes"],
                                   cells["trials"] - cells["successes"]])
        try:
            fitted = sm.GLM(outcome, design, family=sm.families.Binomial()).fit()
        except (ValueError, np.linalg.LinAlgError):
            continue
        lower, upper = fitted.conf_int(alpha=1 - INTERVAL_LEVEL).loc["extra_attempts"]
        slope = float(fitted.params["extra_attempts"])
        rows.append({
            "method": str(method),
            "odds_multiplier": math.exp(slope),
            "lower": math.exp(float(lower)),
            "upper": math.exp(float(upper)),
            "p_value": float(fitted.pvalues["extra_attempts"]),
            "attempts_used": last,
            "touches_used": int(cells["trials"].sum()),
            "mean_attempt": float(frame["attempt"].mean()),
        })
    return pd.DataFrame(rows)


def response_by_window(log: pd.DataFrame, kind: LogKind) -> pd.DataFrame:
    """Response by touches to the same customer in the previous 30 days.

    Needs every touch with its time; a final-touch log gives an empty table.
    """
    if kind == "final_touch":
        return pd.DataFrame()
    frame = log[["customer_id", "method", "contacted_at", "responded"]].copy()
    codes = pd.factorize(frame["customer_id"])[0].astype(np.int64)
    seconds = (frame["contacted_at"] - frame["contacted_at"].min()).dt.total_seconds()
    spread = float(seconds.max()) + WINDOW_DAYS * 86400 + 1
    keys = codes * spread + seconds.to_numpy()
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    window_start = np.searchsorted(ordered, ordered - WINDOW_DAYS * 86400,
                                   side="right")
    earlier = np.empty(len(frame), dtype=np.int64)
    earlier[order] = np.arange(len(frame)) - window_start
    frame["earlier_touches"] = earlier
    table = frame.groupby(["method", "earlier_touches"], observed=True).agg(
        touches=("responded", "size"), responses=("responded", "sum")
    ).reset_index()
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["touches"]
    _add_interval(table, "responses", "touches")
    return table
