"""A scenario dict filled from a calibration, with a source for every number."""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd

from cssim.calibration.book_writer import fill_segments, fill_transitions
from cssim.calibration.method_writer import fill_method
from cssim.calibration.policy_writer import fill_attempts
from cssim.calibration.result import CalibrationResult
from cssim.calibration.transitions import SPACING_TOLERANCE

DEFAULT_BOOK_CUSTOMERS = 3000


def default_base_scenario() -> dict[str, Any]:
    """A scenario skeleton for a calibrated method: team, policy and horizon.

    Segments, methods and policy attempts are left for the calibration to fill.
    """
    return {
        "name": "calibrated",
        "description": "Outreach calibrated from an engagement log.",
        "horizon_days": 90,
        "replications": 100,
        "seed": 0,
        "segments": {},
        "reps": [{"name": "rep", "count": 6, "weekly_hours": 40.0,
                  "shrinkage": 0.2}],
        "methods": {},
        "policy": {"tiers": ["red", "yellow"], "order": ["tier", "arr"],
                   "max_contacts_per_30_days": 3},
        "sources": {},
    }


def scenario_from_calibration(
    result: CalibrationResult,
    log: pd.DataFrame,
    base: dict[str, Any] | None,
    source_label: str,
    *,
    book_customers: int = DEFAULT_BOOK_CUSTOMERS,
    attempt_variants: bool = True,
) -> dict[str, Any]:
    """A scenario dict with the calibrated methods, book, attempts and tier moves.

    Fills, in a copy of ``base`` (or ``default_base_scenario()``): every
    method's response (default per tier, segment overrides, message odds
    multipliers), action probability, handling and follow-up minutes and
    response delay where the log has them; for each segment of the log,
    ``customers`` and ``initial_tiers`` where the base leaves them out;
    ``policy.attempts`` (with per-attempt message variants carrying the
    fatigue when ``attempt_variants``); with snapshots, each segment's
    ``transitions`` and, where ARR changes show, ``renewal`` rows; and
    ``sources`` for every number filled.
    """
    scenario = copy.deepcopy(base) if base is not None else default_base_scenario()
    sources = {"calibration": _log_description(result, source_label)}
    sources.update(scenario.get("sources") or {})

    fill_segments(scenario, sources, log, source_label, book_customers)
    for method in result.methods:
        fill_method(scenario, sources, result, method, source_label)
    fill_attempts(scenario, sources, result, log, source_label, attempt_variants)
    if result.transitions is not None:
        fill_transitions(scenario, sources, result.transitions, source_label)

    scenario["sources"] = sources
    return scenario


def _log_description(result: CalibrationResult, label: str) -> str:
    """One sentence on what was read, for the scenario's ``sources``."""
    kind = (
        "final touches (each row stands for `attempt` touches, a response "
        "only on the last)" if result.log_kind == "final_touch"
        else "one row per touch"
    )
    text = (
        f"{label}: {result.source_rows:,} rows read as {kind}; "
        f"{result.touches:,} touches of {result.customers:,} customers, "
        f"{result.first_contact:%Y-%m-%d} to {result.last_contact:%Y-%m-%d}. "
        "Response probabilities are per touch, Beta posteriors whose prior is "
        "fitted across each method's message, segment and tier cells "
        "(empirical Bayes, beta-binomial maximum likelihood)"
    )
    if result.transitions is not None:
        spacing = result.transitions.spacing
        text += (
            f"; tier moves from {spacing['pairs_used']:,} consecutive snapshot "
            f"pairs ({spacing['pairs_irregular']:,} left out: spacing more than "
            f"{SPACING_TOLERANCE:.0%} from the median {spacing['median_days']:g} "
            "days)"
        )
    return text
