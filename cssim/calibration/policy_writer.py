"""A scenario's policy attempts from the log, with variants carrying the fatigue."""

from __future__ import annotations

import math
import re
from typing import Any

import pandas as pd

from cssim.calibration.result import CalibrationResult
from cssim.calibration.scenario_form import rounded

ATTEMPTS_QUANTILE = 0.75
"""Policy attempts: this quantile of touches per customer, rounded up."""
DEFAULT_SPACING_DAYS = 7.0
ATTEMPT_SUFFIX = "_attempt_"
"""Message variants written for fatigue are named ``<message>_attempt_<k>``."""


def fill_attempts(
    scenario: dict[str, Any],
    sources: dict[str, str],
    result: CalibrationResult,
    log: pd.DataFrame,
    label: str,
    attempt_variants: bool,
) -> None:
    """Policy attempts for the method with most touches: count, messages, spacing.

    Each attempt's message is the base's, else the log's most used message at
    that attempt number. When every attempt has one message and the fatigue
    fit exists, attempt k gets the variant ``<message>_attempt_<k>`` with odds
    multiplier ``m ** (k - mean attempt)``: the cell posteriors average over
    the attempts in the log, so the multiplier is centred on its mean attempt.
    """
    method = result.methods[0]
    contacts = result.contacts_per_customer.set_index("method").loc[method]
    quantile_column = f"p{round(ATTEMPTS_QUANTILE * 100)}"
    count = max(1, math.ceil(contacts[quantile_column]))

    policy = scenario.setdefault("policy", {})
    previous = policy.get("attempts") or []
    rows = log[log["method"] == method]
    messages = [
        _attempt_message(previous, rows, number, result.default_messages[method])
        for number in range(1, count + 1)
    ]

    data_spacing = result.attempt_spacing_days.get(method)
    if len(previous) > 1 and "after_days" in previous[1]:
        spacing = float(previous[1]["after_days"])
        spacing_source = "the base scenario"
    elif data_spacing is not None:
        spacing = round(data_spacing, 1)
        spacing_source = f"{label} (median days between consecutive attempts)"
    else:
        spacing = DEFAULT_SPACING_DAYS
        spacing_source = "an assumption (the log has no time between attempts)"

    fatigue = result.fatigue
    fatigue = fatigue[fatigue["method"] == method] if len(fatigue) else fatigue
    single = len(set(messages)) == 1 and not re.search(
        rf"{ATTEMPT_SUFFIX}\d+$", messages[0]
    )
    if attempt_variants and count > 1 and single and len(fatigue):
        messages = _attempt_variants(scenario, sources, method, messages[0],
                                     fatigue.iloc[0], count, label)

    policy["attempts"] = [
        {"method": method, "message": message,
         "after_days": 0.0 if number == 0 else spacing}
        for number, message in enumerate(messages)
    ]
    sources["policy.attempts"] = (
        f"{label}: {count} attempt{'s' if count > 1 else ''} = {quantile_column} "
        "of touches per customer, "
        f"rounded up (mean {contacts['mean']:.2f}, median {contacts['p50']:g}, "
        f"p90 {contacts['p90']:g}, max {contacts['max']:g}); spacing "
        f"{spacing:g} days from {spacing_source}"
    )


def _attempt_message(
    previous: list[dict[str, Any]], rows: pd.DataFrame, number: int, fallback: str
) -> str:
    """The base's message for an attempt, else the log's most used one there."""
    if len(previous) >= number and "message" in previous[number - 1]:
        return str(previous[number - 1]["message"])
    if previous and "message" in previous[0]:
        return str(previous[0]["message"])
    at_attempt = rows.loc[rows["attempt"] == number, "message"].dropna()
    return str(at_attempt.mode().iloc[0]) if len(at_attempt) else fallback


def _attempt_variants(
    scenario: dict[str, Any],
    sources: dict[str, str],
    method: str,
    message: str,
    fatigue: pd.Series,
    count: int,
    label: str,
) -> list[str]:
    """Per-attempt message variants carrying the fatigue odds multiplier."""
    response = scenario["methods"][method].setdefault("response", {})
    lifts = response.setdefault("messages", {})
    base_lift = float(lifts.get(message, 1.0))
    variants = []
    for number in range(1, count + 1):
        variant = f"{message}{ATTEMPT_SUFFIX}{number}"
        steps = number - fatigue["mean_attempt"]
        lifts[variant] = rounded(base_lift * fatigue["odds_multiplier"] ** steps)
        sources[f"methods.{method}.response.messages.{variant}"] = (
            f"{label}: attempt {number} of message {message!r}: odds multiplier "
            f"{fatigue['odds_multiplier']:.4g} per extra attempt (90% interval "
            f"[{fatigue['lower']:.4g}, {fatigue['upper']:.4g}], logistic fit over "
            f"attempts 1-{fatigue['attempts_used']}) raised to {steps:+.2f}, the "
            f"distance from the mean attempt {fatigue['mean_attempt']:.2f} of the "
            "touches the response posteriors average over"
        )
        variants.append(variant)
    return variants
