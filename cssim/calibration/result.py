"""Everything estimated from one engagement log, as values and tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cssim.calibration.log_checks import LogKind
from cssim.calibration.transitions import TransitionEstimates


@dataclass(frozen=True)
class CalibrationResult:
    """Everything estimated from one engagement log, as values and tables."""

    log_kind: LogKind
    source_rows: int
    customers: int
    touches: int
    first_contact: pd.Timestamp
    last_contact: pd.Timestamp
    min_touches: int
    response: pd.DataFrame
    """Per method, message, segment and tier: touches, responses, posterior
    ``a``, ``b``, mean and 90% interval, customers, their rate, ``sparse``."""
    response_by_tier: pd.DataFrame
    """The same per method, message and tier, pooled over segments."""
    priors: pd.DataFrame
    """Per method and outcome (response, action): the fitted Beta prior."""
    action: pd.DataFrame
    """Acted among responses per method, message, segment and tier; may be empty."""
    action_by_tier: pd.DataFrame
    """The same per method and tier, pooled over messages and segments."""
    message_lifts: pd.DataFrame
    """Per method and non-default message: Mantel-Haenszel odds ratio, interval,
    strata and the p-value of equal odds across strata."""
    default_messages: dict[str, str]
    """Each method's most used message, the reference for odds multipliers."""
    contacts_per_customer: pd.DataFrame
    """Per method: customers, mean touches per customer and quantiles."""
    response_by_attempt: pd.DataFrame
    """Per method and attempt: customers reaching it, responses, rate, interval."""
    response_by_month: pd.DataFrame
    """Per method and calendar month (UTC) of the logged rows: drift over time."""
    attempt_spacing_days: dict[str, float | None]
    """Median days between consecutive attempts; None when the log has no times."""
    methods: list[str] = field(default_factory=list)
    """Methods by touches, most first."""
    duration_fits: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per quantity (handling, follow-up, delay), method and family: the fits."""
    durations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Chosen distribution per quantity and method, in scenario form."""
    durations_excluded: dict[str, dict[str, int]] = field(default_factory=dict)
    """Rows per quantity and method left out of a fit (missing or not positive)."""
    duration_values: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    """The positive values each fit used, by quantity and method (for plots)."""
    fatigue: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per method: odds multiplier per extra attempt, 90% interval, attempts used,
    p-value, and the mean attempt number of the method's touches."""
    response_by_window: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Per method and touches in the previous 30 days: touches, responses, rate."""
    transitions: TransitionEstimates | None = None
    drift: list = field(default_factory=list)
    """Per method with enough months: how its monthly response rates moved."""
    """Estimates from tier snapshots, when they were given."""

    @property
    def handling_minutes_fits(self) -> pd.DataFrame:
        """Per method and family: parameters, log-likelihood, AIC, delta AIC, KS."""
        if self.duration_fits.empty:
            return pd.DataFrame()
        fits = self.duration_fits[self.duration_fits["quantity"] == "handling_minutes"]
        return fits.drop(columns="quantity").reset_index(drop=True)

    @property
    def handling_minutes(self) -> dict[str, dict[str, Any]]:
        """Chosen handling-minutes distribution per method, in scenario form."""
        return self.durations.get("handling_minutes", {})

    @property
    def handling_minutes_excluded(self) -> dict[str, int]:
        """Non-positive or missing minutes left out of each method's fit."""
        return self.durations_excluded.get("handling_minutes", {})
