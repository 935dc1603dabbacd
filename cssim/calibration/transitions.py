"""Tier snapshots into Dirichlet transition rows and renewal odds by tier.

Moves between consecutive snapshots per segment, a Dirichlet posterior per
row whose prior (strength ``TRANSITION_PRIOR_STRENGTH``) is centred on the
book-wide row; renewal and expansion by tier from ARR changes.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cssim.calibration.log_checks import is_aware_time
from cssim.calibration.settings import INTERVAL_LEVEL
from cssim.errors import CssimError, SparseCellWarning
from cssim.tier import LIVE_TIERS, TIERS

DEFAULT_MIN_TRANSITIONS = 30
"""Observed moves a transition row needs before it is trusted on its own."""
TRANSITION_PRIOR_STRENGTH = 2.0
"""Weight, in observed moves, of the book-wide row in a segment's prior."""
SPACING_TOLERANCE = 0.25
"""Snapshot pairs further than this share from the median spacing are left out."""
EXPANSION_MIN_SHARE = 0.001
"""An ARR rise above this share between snapshots counts as an expansion."""
DEFAULT_CYCLE_DAYS = 365.0
_SNAPSHOT_COLUMNS = ("customer_id", "as_of", "segment", "tier", "arr", "status")


class SnapshotError(CssimError, ValueError):
    """Tier snapshots cannot be calibrated from: a column or row is unusable."""


@dataclass(frozen=True)
class TransitionEstimates:
    """Tier moves, churn and renewal estimated from tier snapshots."""

    period_days: float
    """Mean days between the consecutive snapshots that were used."""
    spacing: dict[str, float]
    """Pairs seen, used, left out for irregular spacing; median and mean gap."""
    counts: pd.DataFrame
    """Per segment, from-tier and to-tier: moves, prior and posterior alpha,
    posterior mean and 90% interval, row total and ``sparse``."""
    renewal: pd.DataFrame
    """Per segment and tier: customer-periods, expansions, contractions,
    implied renewals and the Dirichlet alpha of churn, renew and expand."""
    renewal_cycle_days: float
    shows_arr_changes: bool


def estimate_transitions(
    snapshots: pd.DataFrame,
    *,
    min_transitions: int = DEFAULT_MIN_TRANSITIONS,
    renewal_cycle_days: float = DEFAULT_CYCLE_DAYS,
) -> TransitionEstimates:
    """Tier moves, churn and renewal by tier from consecutive tier snapshots.

    Each customer's snapshots are paired in date order; a pair whose gap is
    more than ``SPACING_TOLERANCE`` away from the median gap is left out and
    counted (a quarter's gap is not a month's move), and the period is the
    mean gap of the pairs kept. A row's prior is Dirichlet with strength
    ``TRANSITION_PRIOR_STRENGTH`` centred on the book-wide row (its counts
    plus a half each); rows under ``min_transitions`` moves warn.
    """
    _check_snapshots(snapshots)
    pairs, spacing = _snapshot_pairs(snapshots)
    if pairs.empty:
        raise SnapshotError(
            "tier snapshots: expected customers seen on two or more dates at a "
            f"regular spacing, got {spacing['pairs_seen']:,} consecutive pairs of "
            f"which {spacing['pairs_used']:,} usable"
        )
    period = float(spacing["mean_days"])

    moves = pairs.groupby(["segment", "from_tier", "to_tier"], observed=True).size()
    moves = moves.unstack("to_tier", fill_value=0).reindex(columns=list(TIERS),
                                                            fill_value=0)
    counts = _dirichlet_table(moves, "from_tier", "to_tier")
    rows = counts.groupby(["segment", "from_tier"], observed=True)["count"].sum()
    sparse_rows = rows[rows < min_transitions]
    for (segment, tier), seen in sparse_rows.items():
        warnings.warn(
            f"tier snapshots, segment {segment!r}, {tier} row: {seen} moves, fewer "
            f"than the minimum {min_transitions}; its Dirichlet prior centred on "
            "the book-wide row weighs in",
            SparseCellWarning,
            stacklevel=3,
        )
    counts["sparse"] = counts.set_index(["segment", "from_tier"]).index.isin(
        sparse_rows.index
    )

    renewal, shows_changes = _renewal_table(pairs, period, renewal_cycle_days)
    return TransitionEstimates(
        period_days=period,
        spacing=spacing,
        counts=counts,
        renewal=renewal,
        renewal_cycle_days=renewal_cycle_days,
        shows_arr_changes=shows_changes,
    )


def _check_snapshots(snapshots: pd.DataFrame) -> None:
    """Raise ``SnapshotError`` naming the column or row that cannot be used."""
    missing = [name for name in _SNAPSHOT_COLUMNS if name not in snapshots.columns]
    if missing:
        raise SnapshotError(
            f"tier snapshots: missing column(s) {missing}; expected "
            f"{list(_SNAPSHOT_COLUMNS)}, got {list(snapshots.columns)}"
        )
    if not is_aware_time(snapshots["as_of"]):
        raise SnapshotError(
            "tier snapshots column 'as_of': expected timezone-aware timestamps, got "
            f"dtype {snapshots['as_of'].dtype}; conform the export to the schema"
        )
    checks = [
        ("tier", ~snapshots["tier"].isin(TIERS), f"one of {list(TIERS)}"),
        ("status", ~snapshots["status"].isin(["active", "churned"]),
         "active or churned"),
        ("as_of", snapshots["as_of"].isna(), "a date"),
        ("customer_id", snapshots["customer_id"].isna(), "a customer id"),
        ("segment", snapshots["segment"].isna(), "a segment name"),
    ]
    for column, bad, expected in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            raise SnapshotError(
                f"tier snapshots row {position} ({bad.sum()} rows in all), column "
                f"{column!r}: expected {expected}, got "
                f"{snapshots[column].iloc[position]!r}"
            )


def _snapshot_pairs(snapshots: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    """Consecutive snapshot pairs of live customers, with the spacing summary."""
    frame = snapshots.sort_values(["customer_id", "as_of"]).reset_index(drop=True)
    frame["state"] = np.where(frame["status"].astype(str) == "churned", "churned",
                              frame["tier"].astype(str))
    following = frame.groupby("customer_id", observed=True).shift(-1)
    pairs = pd.DataFrame({
        "segment": frame["segment"].astype(str),
        "from_tier": frame["state"],
        "to_tier": following["state"],
        "gap_days": (following["as_of"] - frame["as_of"]).dt.total_seconds() / 86400,
        "arr_from": pd.to_numeric(frame["arr"], errors="coerce"),
        "arr_to": pd.to_numeric(following["arr"], errors="coerce"),
    })
    pairs = pairs[pairs["to_tier"].notna() & pairs["from_tier"].isin(LIVE_TIERS)]
    seen = len(pairs)
    median = float(pairs["gap_days"].median()) if seen else math.nan
    regular = (pairs["gap_days"] - median).abs() <= SPACING_TOLERANCE * median
    regular &= pairs["gap_days"] > 0
    kept = pairs[regular]
    spacing = {
        "pairs_seen": seen,
        "pairs_used": len(kept),
        "pairs_irregular": seen - len(kept),
        "median_days": median,
        "mean_days": float(kept["gap_days"].mean()) if len(kept) else math.nan,
        "min_days": float(pairs["gap_days"].min()) if seen else math.nan,
        "max_days": float(pairs["gap_days"].max()) if seen else math.nan,
    }
    return kept.reset_index(drop=True), spacing


def _dirichlet_table(
    counts: pd.DataFrame, row_name: str, column_name: str
) -> pd.DataFrame:
    """Long table of Dirichlet posteriors per row from a (segment, row) count table.

    The prior of each row is ``TRANSITION_PRIOR_STRENGTH`` times the book-wide
    share of each outcome, the shares from the book's counts plus a half each.
    """
    pooled = counts.groupby(level=row_name, observed=True).sum()
    shares = (pooled + 0.5).div(pooled.sum(axis=1) + 0.5 * pooled.shape[1], axis=0)
    prior = shares * TRANSITION_PRIOR_STRENGTH

    long = counts.stack().rename("count").reset_index()
    long.columns = ["segment", row_name, column_name, "count"]
    long["prior_alpha"] = [
        prior.loc[row, column]
        for row, column in zip(long[row_name], long[column_name])
    ]
    long["alpha"] = long["count"] + long["prior_alpha"]
    total = long.groupby(["segment", row_name], observed=True)["alpha"].transform("sum")
    long["row_total"] = long.groupby(["segment", row_name], observed=True)[
        "count"
    ].transform("sum")
    long["mean"] = long["alpha"] / total
    tail = (1 - INTERVAL_LEVEL) / 2
    long["lower"] = stats.beta.ppf(tail, long["alpha"], total - long["alpha"])
    long["upper"] = stats.beta.ppf(1 - tail, long["alpha"], total - long["alpha"])
    return long


def _renewal_table(
    pairs: pd.DataFrame, period_days: float, cycle_days: float
) -> tuple[pd.DataFrame, bool]:
    """Expansion at renewal by segment and tier, from ARR rises between snapshots.

    Renewals are taken as spread evenly over the cycle, so a customer-period
    holds ``period_days / cycle_days`` renewals. Churn seen in snapshots is
    already in the transition rows, so renewal churn gets only its prior.
    """
    active = pairs[pairs["to_tier"] != "churned"].dropna(subset=["arr_from",
                                                                 "arr_to"])
    change = active["arr_to"] / active["arr_from"].where(active["arr_from"] > 0) - 1
    frame = active.assign(
        expanded=change > EXPANSION_MIN_SHARE,
        contracted=change < -EXPANSION_MIN_SHARE,
    )
    table = frame.groupby(["segment", "from_tier"], observed=True).agg(
        customer_periods=("expanded", "size"),
        expansions=("expanded", "sum"),
        contractions=("contracted", "sum"),
    )
    table["renewals"] = table["customer_periods"] * period_days / cycle_days
    table["expansions_counted"] = np.minimum(table["expansions"], table["renewals"])
    outcomes = pd.DataFrame({
        "churn": 0.0,
        "renew": table["renewals"] - table["expansions_counted"],
        "expand": table["expansions_counted"],
    }, index=table.index)
    posterior = _dirichlet_table(outcomes, "from_tier", "outcome")
    alpha = posterior.pivot_table(index=["segment", "from_tier"], columns="outcome",
                                  values="alpha", observed=True)
    table = table.join(alpha.add_prefix("alpha_")).reset_index()
    table = table.rename(columns={"from_tier": "tier"})
    shows_changes = bool(frame["expanded"].any() or frame["contracted"].any())
    return table, shows_changes
