"""Drift over time: response rates that move from month to month, all cells together.

A response posterior fitted to two years of touches is very sure of a
long-run average that may no longer hold. For each method this module looks
at monthly response rates on the log-odds scale, recent months weighted
more: how far the recent level sits from the whole log's, and how much the
months vary beyond binomial noise. Both become the method's
``response.log_odds_shift``, a normal distribution drawn once per
replication and added to every cell, so a forecast carries the drift the
history shows and cells keep the differences between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

DEFAULT_HALF_LIFE_DAYS = 90.0
"""A month's weight halves for every 90 days before the log's last touch."""
MIN_MONTHS = 3
"""Fewer months than this say nothing about variation between months."""
MIN_SPREAD = 0.01
"""Below this spread of monthly log-odds the months agree: no shift."""


@dataclass(frozen=True)
class Drift:
    """How one method's monthly response rates moved."""

    method: str
    months: int
    overall_rate: float
    recent_rate: float
    shift: float
    """Recent log-odds minus the whole log's."""
    spread: float
    """Standard deviation of monthly log-odds beyond binomial noise."""
    half_life_days: float

    def describe(self) -> str:
        """One line for the calibration summary and the scenario's sources."""
        if self.spread < MIN_SPREAD:
            return (f"{self.method}: {self.months} months agree within binomial "
                    f"noise (response {self.overall_rate:.4f}); no shift")
        return (f"{self.method}: {self.months} months; response {self.overall_rate:.4f}"
                f" over the log, {self.recent_rate:.4f} recently (half-life "
                f"{self.half_life_days:g} days); log-odds shift "
                f"norm(loc={self.shift:.3f}, scale={self.spread:.3f}) per replication")


def monthly_counts(touches: pd.DataFrame, half_life_days: float) -> pd.DataFrame:
    """Touches and responses per calendar month (UTC), with each month's weight."""
    months = touches["contacted_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    table = touches.assign(month=months).groupby("month").agg(
        trials=("responded", "size"), successes=("responded", "sum"),
        last=("contacted_at", "max"))
    age_days = (table["last"].max() - table["last"]).dt.total_seconds() / 86400
    table["weight"] = 0.5 ** (age_days / half_life_days)
    return table.drop(columns="last").reset_index()


def measure_drift(touches: pd.DataFrame, method: str,
                  half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> Drift | None:
    """The recent level and the month-to-month spread of one method's responses.

    Monthly log-odds use half-counts so empty months stay finite; their
    binomial variance (1/s + 1/f) is taken off the weighted variance between
    months, and what remains, if anything, is drift.
    """
    counts = monthly_counts(touches[touches["method"] == method], half_life_days)
    if len(counts) < MIN_MONTHS:
        return None

    successes = counts["successes"].to_numpy(dtype=float) + 0.5
    failures = counts["trials"].to_numpy(dtype=float) - successes + 1.0
    weights = counts["weight"].to_numpy() / counts["weight"].sum()
    log_odds = np.log(successes / failures)
    recent = float(np.sum(weights * log_odds))
    noise = float(np.sum(weights * (1 / successes + 1 / failures)))
    between = float(np.sum(weights * (log_odds - recent) ** 2))
    overall = counts["successes"].sum() / counts["trials"].sum()
    overall_log_odds = float(special.logit(min(max(overall, 1e-9), 1 - 1e-9)))
    return Drift(method, len(counts), float(overall),
                 float(special.expit(recent)), recent - overall_log_odds,
                 math.sqrt(max(between - noise, 0.0)), half_life_days)


def adjust_scenario(scenario: dict[str, Any], touches: pd.DataFrame,
                    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
                    ) -> tuple[dict[str, Any], list[Drift]]:
    """Give every method whose months disagree a log-odds shift for its drift.

    Months that agree within binomial noise leave the method as it is: its
    whole-log posteriors already describe it.
    """
    found = []
    sources = scenario.setdefault("sources", {})
    for name, method in scenario.get("methods", {}).items():
        drift = measure_drift(touches, name, half_life_days)
        if drift is None:
            continue
        found.append(drift)
        if drift.spread < MIN_SPREAD:
            continue
        response = method.setdefault("response", {})
        response["log_odds_shift"] = {"family": "norm", "loc": round(drift.shift, 4),
                                      "scale": round(drift.spread, 4)}
        sources[f"methods.{name}.response.log_odds_shift"] = (
            "drift between months: " + drift.describe())
    return scenario, found
