"""The calibration end to end: a log (and snapshots) into estimates and a scenario."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pandas as pd

from cssim.calibration.contacts import (
    attempt_spacing,
    contacts_per_customer,
    response_by_month,
)
from cssim.calibration.drift import DEFAULT_HALF_LIFE_DAYS, adjust_scenario
from cssim.calibration.durations import HANDLING_FAMILIES, fit_log_durations
from cssim.calibration.fatigue import (
    fatigue_fits,
    response_by_attempt,
    response_by_window,
)
from cssim.calibration.log_checks import (
    LogKind,
    check_log,
    detect_log_kind,
    implied_touches,
)
from cssim.calibration.messages import default_messages, message_lifts
from cssim.calibration.response import (
    CELL,
    DEFAULT_MIN_TOUCHES,
    action_tables,
    add_customer_rates,
    cell_counts,
    fit_beta_prior,
    posterior_table,
    priors_table,
    warn_sparse,
)
from cssim.calibration.result import CalibrationResult
from cssim.calibration.scenario_writer import (
    DEFAULT_BOOK_CUSTOMERS,
    scenario_from_calibration,
)
from cssim.calibration.transitions import (
    DEFAULT_CYCLE_DAYS,
    DEFAULT_MIN_TRANSITIONS,
    estimate_transitions,
)
from cssim.scenario_file import scenario_from_dict


def calibrate(
    log: pd.DataFrame,
    *,
    min_touches: int = DEFAULT_MIN_TOUCHES,
    log_kind: LogKind | None = None,
    families: Sequence[str] = HANDLING_FAMILIES,
    snapshots: pd.DataFrame | None = None,
    min_transitions: int = DEFAULT_MIN_TRANSITIONS,
    renewal_cycle_days: float = DEFAULT_CYCLE_DAYS,
) -> CalibrationResult:
    """Estimate responses, actions, durations, fatigue and tier moves.

    Warns with one ``SparseCellWarning`` per method whose method-message-
    segment-tier cells include some with fewer than ``min_touches`` touches
    (counting them and naming the first few) and, with snapshots, one per
    transition row with fewer than ``min_transitions`` moves.
    """
    check_log(log)
    kind = log_kind or detect_log_kind(log)
    touches = implied_touches(log, kind)

    response_counts = cell_counts(touches, CELL, "responded")
    priors = {
        str(method): fit_beta_prior(rows["successes"], rows["trials"])
        for method, rows in response_counts.groupby("method", observed=True)
    }
    response = posterior_table(response_counts, priors, "touches", "responses")
    add_customer_rates(response, log, CELL)
    response["sparse"] = response["touches"] < min_touches
    warn_sparse(response, min_touches)
    by_tier_counts = cell_counts(touches, ["method", "message", "tier"], "responded")
    response_by_tier = posterior_table(by_tier_counts, priors, "touches",
                                       "responses")
    add_customer_rates(response_by_tier, log, ["method", "message", "tier"])

    action, action_by_tier, action_priors = action_tables(log)
    prior_table = priors_table(priors, action_priors)
    defaults = default_messages(touches)

    duration_fits, durations, excluded, values = fit_log_durations(log, families)
    methods = touches["method"].value_counts().index.tolist()
    transitions = None
    if snapshots is not None:
        transitions = estimate_transitions(
            snapshots, min_transitions=min_transitions,
            renewal_cycle_days=renewal_cycle_days,
        )
    return CalibrationResult(
        log_kind=kind,
        source_rows=len(log),
        customers=int(log["customer_id"].nunique()),
        touches=len(touches),
        first_contact=log["contacted_at"].min(),
        last_contact=log["contacted_at"].max(),
        min_touches=min_touches,
        response=response,
        response_by_tier=response_by_tier,
        priors=prior_table,
        action=action,
        action_by_tier=action_by_tier,
        message_lifts=message_lifts(response_counts, defaults),
        default_messages=defaults,
        contacts_per_customer=contacts_per_customer(touches),
        response_by_attempt=response_by_attempt(touches),
        response_by_month=response_by_month(log),
        attempt_spacing_days=attempt_spacing(log, kind, methods),
        methods=methods,
        duration_fits=duration_fits,
        durations=durations,
        durations_excluded=excluded,
        duration_values=values,
        fatigue=fatigue_fits(touches, min_touches),
        response_by_window=response_by_window(log, kind),
        transitions=transitions,
    )


def calibrate_to_scenario(
    log: pd.DataFrame,
    base: dict[str, Any] | None,
    source_label: str,
    snapshots: pd.DataFrame | None = None,
    *,
    book_customers: int = DEFAULT_BOOK_CUSTOMERS,
    min_touches: int = DEFAULT_MIN_TOUCHES,
    min_transitions: int = DEFAULT_MIN_TRANSITIONS,
    log_kind: LogKind | None = None,
    attempt_variants: bool = True,
    half_life_days: float | None = DEFAULT_HALF_LIFE_DAYS,
) -> tuple[dict[str, Any], CalibrationResult]:
    """Calibrate from ``log`` (and ``snapshots``) into a validated scenario dict.

    With ``half_life_days``, methods whose monthly response rates moved get a
    per-replication log-odds shift (see ``cssim.calibration.drift``); None
    leaves the posteriors as the whole log gives them.

    Returns the scenario as plain data (ready for ``yaml.safe_dump``; it has
    passed ``scenario_from_dict``) and the ``CalibrationResult``. Prints
    nothing; warns with ``SparseCellWarning`` and raises
    ``EngagementLogError``, ``SnapshotError`` or ``ScenarioError``.
    """
    cycle = DEFAULT_CYCLE_DAYS
    if base is not None:
        renewals = [
            segment.get("renewal", {}).get("cycle_days")
            for segment in (base.get("segments") or {}).values()
        ]
        cycle = float(next((days for days in renewals if days), cycle))
    result = calibrate(
        log, min_touches=min_touches, log_kind=log_kind, snapshots=snapshots,
        min_transitions=min_transitions, renewal_cycle_days=cycle,
    )
    scenario = scenario_from_calibration(
        result, log, base, source_label, book_customers=book_customers,
        attempt_variants=attempt_variants,
    )
    for name, method in scenario.get("methods", {}).items():
        method.get("response", {}).pop("log_odds_shift", None)
        scenario.get("sources", {}).pop(f"methods.{name}.response.log_odds_shift",
                                        None)
    if half_life_days is not None:
        touches = implied_touches(log, result.log_kind)
        scenario, drift = adjust_scenario(scenario, touches, half_life_days)
        result = dataclasses.replace(result, drift=drift)
    scenario_from_dict(scenario, source=f"scenario calibrated from {source_label}")
    return scenario, result
