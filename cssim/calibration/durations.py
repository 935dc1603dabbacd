"""Duration families fitted by maximum likelihood, chosen by AIC, checked by KS.

Minutes and delays (handling, follow-up, response delay in days): expon,
gamma, lognorm and weibull_min fitted by maximum likelihood (loc 0), chosen
by AIC, checked with the Kolmogorov-Smirnov test. When the best family's
p-value is under ``GOOD_FIT_P_VALUE`` it is still written (a scenario
distribution must be a scipy.stats family) and flagged as a poor fit in the
tables and ``sources``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cssim.calibration.scenario_form import rounded
from cssim.calibration.settings import GOOD_FIT_P_VALUE

HANDLING_FAMILIES: tuple[str, ...] = ("expon", "gamma", "lognorm", "weibull_min")
MIN_DURATION_VALUES = 10
"""Positive values a method needs before a duration family is fitted to them."""
DURATION_QUANTITIES = {
    "handling_minutes": "handling minutes",
    "followup_minutes": "follow-up minutes",
    "response_delay_days": "response delay in days",
}


def fit_durations(
    values: np.ndarray, families: Sequence[str] = HANDLING_FAMILIES
) -> pd.DataFrame:
    """Fit each family by maximum likelihood with loc 0; AIC and KS per family.

    ``values`` must be positive. Rows come sorted by AIC, best first; ``good_fit``
    is the KS p-value at or above ``GOOD_FIT_P_VALUE`` (the p-value is
    approximate, since the parameters come from the same data).
    """
    rows = []
    for name in families:
        family = getattr(stats, name, None)
        if not isinstance(family, stats.rv_continuous):
            raise ValueError(
                f"duration family {name!r}: expected a scipy.stats continuous "
                "distribution such as lognorm, gamma or weibull_min"
            )
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fitted = family.fit(values, floc=0)
        except (ValueError, RuntimeError, FloatingPointError):
            continue
        shape_names = [
            shape.strip() for shape in (family.shapes or "").split(",") if shape
        ]
        parameters = dict(zip(shape_names, map(float, fitted[:-2])))
        parameters["scale"] = float(fitted[-1])

        log_likelihood = float(family.logpdf(values, *fitted).sum())
        aic = 2 * (len(shape_names) + 1) - 2 * log_likelihood
        if not math.isfinite(aic):
            aic = math.inf
        test = stats.kstest(values, family.cdf, args=fitted)
        rows.append({
            "family": name,
            "parameters": parameters,
            "observations": len(values),
            "log_likelihood": log_likelihood,
            "aic": aic,
            "ks_statistic": float(test.statistic),
            "ks_pvalue": float(test.pvalue),
        })

    if not rows:
        raise ValueError(
            f"no family among {list(families)} could be fitted to "
            f"{len(values)} values"
        )
    table = pd.DataFrame(rows).sort_values("aic", ignore_index=True)
    table.insert(5, "delta_aic", table["aic"] - table["aic"].min())
    table["good_fit"] = table["ks_pvalue"] >= GOOD_FIT_P_VALUE
    return table


def fit_handling_minutes(
    minutes: np.ndarray, families: Sequence[str] = HANDLING_FAMILIES
) -> pd.DataFrame:
    """Handling-minute fits: ``fit_durations`` under its earlier name."""
    return fit_durations(minutes, families)


def _duration_values(log: pd.DataFrame, quantity: str) -> pd.Series | None:
    """The positive-or-not values of one duration quantity, None if absent."""
    if quantity == "response_delay_days":
        if "responded_at" not in log.columns or log["responded_at"].isna().all():
            return None
        responded = log["responded"].astype(bool)
        delay = (log["responded_at"] - log["contacted_at"]).dt.total_seconds()
        return (delay / 86400)[responded]
    if quantity not in log.columns or log[quantity].isna().all():
        return None
    return pd.to_numeric(log[quantity], errors="coerce")


def fit_log_durations(
    log: pd.DataFrame, families: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], dict[str, dict[str, int]],
           dict[tuple[str, str], np.ndarray]]:
    """Fits per quantity and method, the chosen family, the values left out and used."""
    tables, chosen, excluded, used_values = [], {}, {}, {}
    for quantity in DURATION_QUANTITIES:
        values = _duration_values(log, quantity)
        if values is None:
            continue
        for method, rows in values.groupby(log.loc[values.index, "method"],
                                           observed=True):
            usable = rows[rows > 0].dropna().to_numpy(dtype=float)
            excluded.setdefault(quantity, {})[str(method)] = int(
                len(rows) - len(usable)
            )
            if len(usable) < MIN_DURATION_VALUES:
                continue
            if np.ptp(usable) == 0:
                chosen.setdefault(quantity, {})[str(method)] = rounded(usable[0])
                continue
            table = fit_durations(usable, families)
            used_values[(quantity, str(method))] = usable
            table.insert(0, "method", str(method))
            table.insert(0, "quantity", quantity)
            tables.append(table)
            best = table.iloc[0]
            chosen.setdefault(quantity, {})[str(method)] = {
                "family": best["family"],
                **{name: rounded(value)
                   for name, value in best["parameters"].items()},
            }
    fits = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return fits, chosen, excluded, used_values
