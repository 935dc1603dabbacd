"""A calibrated method's response, messages, actions and durations in a scenario."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cssim.calibration.durations import DURATION_QUANTITIES
from cssim.calibration.result import CalibrationResult
from cssim.calibration.scenario_form import leading, rounded
from cssim.calibration.settings import GOOD_FIT_P_VALUE
from cssim.tier import LIVE_TIERS


def _beta(a: float, b: float) -> dict[str, Any]:
    """A Beta posterior in the scenario's ``UncertainProbability`` form."""
    return {"family": "beta", "a": rounded(a), "b": rounded(b)}


def _prior_text(prior_row: pd.Series) -> str:
    """The prior in words, for sources."""
    return (
        f"Beta({prior_row['a']:.3g}, {prior_row['b']:.3g}) prior "
        f"({prior_row['fit']} across {prior_row['cells']} cells)"
    )


def fill_method(
    scenario: dict[str, Any],
    sources: dict[str, str],
    result: CalibrationResult,
    method: str,
    label: str,
) -> None:
    """Write a method's durations, response, messages and actions, with sources."""
    methods = scenario.setdefault("methods", {})
    target = methods.setdefault(method, {})
    _fill_durations(target, sources, result, method, label)

    priors = result.priors.set_index(["method", "outcome"])
    prior = priors.loc[(method, "response")]
    reference = result.default_messages[method]
    pooled = result.response_by_tier
    pooled = pooled[(pooled["method"] == method) & (pooled["message"] == reference)]
    response = target.setdefault("response", {})
    response["default"] = _tier_posteriors(
        pooled, prior, sources, f"methods.{method}.response.default",
        f"{label}: {_prior_text(prior)} updated with message {reference!r}, "
        "all segments", "touches", "responses",
    )

    cells = result.response
    cells = cells[(cells["method"] == method) & (cells["message"] == reference)]
    segment_values = response.setdefault("segments", {})
    for segment, rows in cells.groupby("segment", observed=True):
        values: dict[str, Any] = {}
        for row in rows.itertuples():
            path = f"methods.{method}.response.segments.{segment}.{row.tier}"
            values[row.tier] = _beta(row.a, row.b)
            pooled_note = (
                f"only {row.touches} touches (minimum {result.min_touches}), "
                "partially pooled: " if row.sparse else ""
            )
            sources[path] = (
                f"{label}: {pooled_note}{_prior_text(prior)} updated with "
                f"{row.responses:,} responses in {row.touches:,} touches"
            )
        segment_values[str(segment)] = {
            tier: values[tier] for tier in LIVE_TIERS if tier in values
        }

    lifts = result.message_lifts
    lifts = lifts[(lifts["method"] == method) & lifts["odds_ratio"].notna()]
    for row in lifts.itertuples():
        response.setdefault("messages", {})[row.message] = rounded(row.odds_ratio)
        caution = "" if row.homogeneous else (
            f"; the lift differs by stratum (equal odds p={row.equal_odds_pvalue:.2g})"
            ", so a method of its own would describe it better"
        )
        sources[f"methods.{method}.response.messages.{row.message}"] = (
            f"{label}: Mantel-Haenszel odds ratio against {row.reference!r} over "
            f"{row.strata} segment-tier strata, 90% interval [{row.lower:.3g}, "
            f"{row.upper:.3g}]{caution}"
        )

    if not result.action_by_tier.empty and method in set(
        result.action_by_tier["method"]
    ):
        action_prior = priors.loc[(method, "action")]
        actions = result.action_by_tier[result.action_by_tier["method"] == method]
        target["action_probability"] = _tier_posteriors(
            actions, action_prior, sources, f"methods.{method}.action_probability",
            f"{label}: {_prior_text(action_prior)} updated with actions among "
            "responses, all messages and segments", "responses", "actions",
        )
    methods[method] = leading(target, ("handling_minutes", "response"))


def _tier_posteriors(
    rows: pd.DataFrame,
    prior: pd.Series,
    sources: dict[str, str],
    path: str,
    text: str,
    trials: str,
    successes: str,
) -> dict[str, Any]:
    """Beta posteriors for every live tier; a tier without data gets the prior."""
    by_tier = rows.set_index("tier")
    values = {}
    for tier in LIVE_TIERS:
        if tier in by_tier.index:
            row = by_tier.loc[tier]
            values[tier] = _beta(row["a"], row["b"])
            sources[f"{path}.{tier}"] = (
                f"{text}: {row[successes]:,} in {row[trials]:,}, {tier} tier"
            )
        else:
            values[tier] = _beta(prior["a"], prior["b"])
            sources[f"{path}.{tier}"] = (
                f"{text}: no data in the {tier} tier, so the prior alone"
            )
    return values


def _fill_durations(
    target: dict[str, Any],
    sources: dict[str, str],
    result: CalibrationResult,
    method: str,
    label: str,
) -> None:
    """Write the chosen family of each duration the log has for the method."""
    for quantity, chosen in result.durations.items():
        if method not in chosen:
            continue
        target[quantity] = chosen[method]
        if not isinstance(chosen[method], dict):
            sources[f"methods.{method}.{quantity}"] = (
                f"{label}: every positive {DURATION_QUANTITIES[quantity]} value is "
                f"{chosen[method]:g}, so a constant"
            )
            continue
        fits = result.duration_fits
        fits = fits[(fits["quantity"] == quantity) & (fits["method"] == method)]
        best = fits.iloc[0]
        ranking = ", ".join(f"{fit.family} {fit.aic:,.0f}" for fit in fits.itertuples())
        verdict = "" if best["good_fit"] else (
            f"; a poor fit (KS p-value under {GOOD_FIT_P_VALUE}): no family "
            "describes these values well, this is the closest by AIC"
        )
        left_out = result.durations_excluded.get(quantity, {}).get(method, 0)
        sources[f"methods.{method}.{quantity}"] = (
            f"{label}: {best['family']} fitted by maximum likelihood (loc 0) to "
            f"{best['observations']:,} positive {DURATION_QUANTITIES[quantity]}; "
            f"lowest AIC of {ranking}; KS statistic {best['ks_statistic']:.3f}, "
            f"p-value {best['ks_pvalue']:.2g}{verdict}; {left_out:,} rows without a "
            "positive value left out"
        )
