"""A scenario's segments from the log, and their tier moves and renewal rows."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cssim.calibration.scenario_form import leading, rounded
from cssim.calibration.transitions import (
    TRANSITION_PRIOR_STRENGTH,
    TransitionEstimates,
)
from cssim.tier import LIVE_TIERS, TIERS


def fill_segments(
    scenario: dict[str, Any],
    sources: dict[str, str],
    log: pd.DataFrame,
    label: str,
    book_customers: int,
) -> None:
    """Add the log's segments; fill customers and initial tiers the base leaves out."""
    latest = log.sort_values("contacted_at").drop_duplicates("customer_id", keep="last")
    shares = latest["segment"].value_counts(normalize=True)
    segments = scenario.setdefault("segments", {})

    for name, share in shares.items():
        name = str(name)
        segment = segments.setdefault(name, {})
        if "customers" not in segment and "accounts" not in segment:
            segment["customers"] = max(1, round(book_customers * share))
            sources[f"segments.{name}.customers"] = (
                f"{book_customers:,} customers split by this segment's share of "
                f"customers in {label} ({share:.1%})"
            )
        if "initial_tiers" not in segment:
            members = latest[latest["segment"] == name]
            tier_shares = members["tier"].value_counts(normalize=True)
            segment["initial_tiers"] = _shares_summing_to_one(tier_shares)
            sources[f"segments.{name}.initial_tiers"] = (
                f"{label}: tier shares of the segment's {len(members):,} customers "
                "at their latest touch"
            )
        segments[name] = leading(segment, ("customers", "accounts", "initial_tiers"))


def _shares_summing_to_one(shares: pd.Series) -> dict[str, float]:
    """Tier shares rounded to 4 decimals, the largest adjusted so they sum to 1."""
    rounded = {str(tier): round(float(share), 4) for tier, share in shares.items()}
    largest = max(rounded, key=rounded.get)
    others = sum(share for tier, share in rounded.items() if tier != largest)
    rounded[largest] = round(1.0 - others, 4)
    return {tier: rounded[tier] for tier in LIVE_TIERS if tier in rounded}


def fill_transitions(
    scenario: dict[str, Any],
    sources: dict[str, str],
    estimates: TransitionEstimates,
    label: str,
) -> None:
    """Each scenario segment's tier moves (and renewal rows) as Dirichlet rows."""
    segments = scenario.setdefault("segments", {})
    counts = estimates.counts
    seen_tiers = set(counts.loc[counts["row_total"] > 0, "from_tier"])
    period = rounded(estimates.period_days)
    unused = sorted(set(counts["segment"]) - set(segments))
    if unused:
        sources["calibration"] += (
            f"; snapshots of segments {unused} are not in the scenario and were "
            "not used"
        )

    for name, rows in counts.groupby("segment", observed=True):
        if name not in segments:
            continue
        transitions: dict[str, Any] = {"period_days": period}
        for tier in LIVE_TIERS:
            path = f"segments.{name}.transitions.{tier}"
            row = rows[rows["from_tier"] == tier]
            if tier not in seen_tiers or row.empty:
                transitions[tier] = {tier: 1.0}
                sources[path] = (f"{label}: no {tier} customer in any snapshot "
                                 "pair; nobody moves")
                continue
            alpha = dict(zip(row["to_tier"], row["alpha"]))
            transitions[tier] = {
                "family": "dirichlet",
                "alpha": {to: rounded(alpha[to]) for to in TIERS},
            }
            observed = int(row["row_total"].iloc[0])
            sparse = " (fewer than the minimum: the prior weighs in)" if bool(
                row["sparse"].iloc[0]) else ""
            sources[path] = (
                f"{label}: {observed:,} moves of {tier} customers between snapshots "
                f"{period:g} days apart{sparse}, plus a Dirichlet prior of strength "
                f"{TRANSITION_PRIOR_STRENGTH:g} centred on the book-wide {tier} row"
            )
        segments[name]["transitions"] = transitions
        if estimates.shows_arr_changes:
            _fill_renewal(segments[name], sources, estimates, str(name), label)


def _fill_renewal(
    segment: dict[str, Any],
    sources: dict[str, str],
    estimates: TransitionEstimates,
    name: str,
    label: str,
) -> None:
    """Renewal rows of a segment from its ARR rises, as Dirichlet rows."""
    renewal = segment.setdefault("renewal", {})
    renewal.setdefault("cycle_days", rounded(estimates.renewal_cycle_days))
    table = estimates.renewal
    for row in table[table["segment"] == name].itertuples():
        renewal[row.tier] = {"family": "dirichlet", "alpha": {
            outcome: rounded(getattr(row, f"alpha_{outcome}"))
            for outcome in ("churn", "renew", "expand")
        }}
        sources[f"segments.{name}.renewal.{row.tier}"] = (
            f"{label}: {row.expansions:,} ARR rises in {row.customer_periods:,} "
            f"customer-periods of {estimates.period_days:g} days, read as "
            f"{row.renewals:.1f} renewals with renewals spread over a "
            f"{estimates.renewal_cycle_days:g}-day cycle; churn seen in snapshots "
            "is in the transition rows, so churn at renewal has only its prior"
        )
