"""Calibration from engagement logs and tier snapshots into a scenario's numbers.

Works on any log in the engagement-log schema. Estimates are per touch, the
unit the simulation draws a response for:

- **Response and action probabilities** per method, message, segment and tier
  are Beta posteriors with partial pooling. The prior is fitted across the
  cells of a method (empirical Bayes): a beta-binomial maximum likelihood fit
  with ``scipy.stats.betabinom``, its strength ``a + b`` capped at the mean
  touches per cell so the prior never outweighs a typical cell; method of
  moments when the optimiser fails; a uniform Beta(1, 1) with fewer than
  three cells or when every touch had the same outcome. A cell's posterior is
  ``prior + counts``, so a sparse cell leans on its neighbours;
  ``SparseCellWarning`` names every cell under ``min_touches`` touches.
- **Messages** other than a method's most used one become odds multipliers
  (Mantel-Haenszel over segment and tier, with a 90% interval and a test of
  equal odds across strata; a rejected test is flagged in the table: such a
  message is better modelled as a method of its own).
- **Minutes and delays** (handling, follow-up, response delay in days):
  expon, gamma, lognorm and weibull_min fitted by maximum likelihood (loc 0),
  chosen by AIC, checked with the Kolmogorov-Smirnov test. When the best
  family's p-value is under ``GOOD_FIT_P_VALUE`` it is still written (a
  scenario distribution must be a scipy.stats family) and flagged as a poor
  fit in the tables and ``sources``.
- **Fatigue**: response by attempt number and by touches in the previous 30
  days, and a logistic fit of the odds multiplier per extra attempt (cell
  effects plus a slope in attempt, via statsmodels) with a 90% interval.
- **Tier transitions** from snapshots: moves between consecutive snapshots
  per segment, a Dirichlet posterior per row whose prior (strength
  ``TRANSITION_PRIOR_STRENGTH``) is centred on the book-wide row; renewal
  and expansion by tier from ARR changes.

A log is either ``every_touch`` (one row per touch) or ``final_touch`` (one row
per customer and method: its last touch, with ``attempt`` touches in all and
the response, if any, on that last one, as in Bank Marketing). Unless told,
a log whose customers each have one row per method while some attempt is
above 1 is read as ``final_touch``.
"""

from __future__ import annotations

import copy
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from scipy import optimize, stats

from cssim.errors import CssimError, SparseCellWarning
from cssim.scenario_file import scenario_from_dict
from cssim.tier import LIVE_TIERS, TIERS

LogKind = Literal["every_touch", "final_touch"]

DEFAULT_MIN_TOUCHES = 30
"""Touches a cell needs before it is trusted on its own (fewer: a warning)."""
DEFAULT_MIN_TRANSITIONS = 30
"""Observed moves a transition row needs before it is trusted on its own."""

HANDLING_FAMILIES: tuple[str, ...] = ("expon", "gamma", "lognorm", "weibull_min")
MIN_DURATION_VALUES = 10
"""Positive values a method needs before a duration family is fitted to them."""
GOOD_FIT_P_VALUE = 0.01
"""A fit whose Kolmogorov-Smirnov p-value is below this is flagged as poor."""
UNIFORM_PRIOR = (1.0, 1.0)
MIN_PRIOR_CELLS = 3
"""Cells with touches a method needs before its prior is fitted from them."""
MIN_PRIOR_STRENGTH = 0.5
INTERVAL_LEVEL = 0.90
CONTACT_QUANTILES: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95)
ATTEMPTS_QUANTILE = 0.75
"""Policy attempts: this quantile of touches per customer, rounded up."""
WINDOW_DAYS = 30
"""The contact-pressure window, as in the policy's cap."""

TRANSITION_PRIOR_STRENGTH = 2.0
"""Weight, in observed moves, of the book-wide row in a segment's prior."""
SPACING_TOLERANCE = 0.25
"""Snapshot pairs further than this share from the median spacing are left out."""
EXPANSION_MIN_SHARE = 0.001
"""An ARR rise above this share between snapshots counts as an expansion."""
DEFAULT_CYCLE_DAYS = 365.0

DEFAULT_BOOK_CUSTOMERS = 3000
DEFAULT_SPACING_DAYS = 7.0
SIGNIFICANT_DIGITS = 5
ATTEMPT_SUFFIX = "_attempt_"
"""Message variants written for fatigue are named ``<message>_attempt_<k>``."""

_CALIBRATION_COLUMNS = ("customer_id", "segment", "tier", "contacted_at", "method",
                        "message", "attempt", "responded")
_SNAPSHOT_COLUMNS = ("customer_id", "as_of", "segment", "tier", "arr", "status")
_CELL = ["method", "message", "segment", "tier"]
DURATION_QUANTITIES = {
    "handling_minutes": "handling minutes",
    "followup_minutes": "follow-up minutes",
    "response_delay_days": "response delay in days",
}


class EngagementLogError(CssimError, ValueError):
    """An engagement log cannot be calibrated from: a column or row is unusable."""


class SnapshotError(CssimError, ValueError):
    """Tier snapshots cannot be calibrated from: a column or row is unusable."""


@dataclass(frozen=True)
class BetaPrior:
    """The Beta prior shared by the cells of one method, and how it was found."""

    a: float
    b: float
    fit: str
    """maximum likelihood, method of moments, or uniform."""
    cells: int
    note: str = ""

    @property
    def strength(self) -> float:
        """Prior weight in touches, ``a + b``."""
        return self.a + self.b


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
    handling_minutes_fits: pd.DataFrame
    """Per method and family: parameters, log-likelihood, AIC, delta AIC, KS."""
    handling_minutes: dict[str, dict[str, Any]]
    """Chosen distribution per method, in scenario form."""
    handling_minutes_excluded: dict[str, int]
    """Non-positive or missing minutes left out of each method's fit."""
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
    """Estimates from tier snapshots, when they were given."""


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

    Warns with ``SparseCellWarning`` for every method-message-segment-tier cell
    with fewer than ``min_touches`` touches and, with snapshots, every
    transition row with fewer than ``min_transitions`` moves.
    """
    _check_log(log)
    kind = log_kind or detect_log_kind(log)
    touches = _implied_touches(log, kind)

    response_counts = _counts(touches, _CELL, "responded")
    priors = {
        str(method): fit_beta_prior(rows["successes"], rows["trials"])
        for method, rows in response_counts.groupby("method", observed=True)
    }
    response = _posterior_table(response_counts, priors, "touches", "responses")
    _add_customer_rates(response, log, _CELL)
    response["sparse"] = response["touches"] < min_touches
    _warn_sparse(response, min_touches)
    by_tier_counts = _counts(touches, ["method", "message", "tier"], "responded")
    response_by_tier = _posterior_table(by_tier_counts, priors, "touches",
                                        "responses")
    _add_customer_rates(response_by_tier, log, ["method", "message", "tier"])

    action, action_by_tier, action_priors = _action_tables(log)
    prior_table = _prior_table(priors, action_priors)
    defaults = _default_messages(touches)

    duration_fits, durations, excluded, values = _duration_fits(log, families)
    handling_fits = duration_fits[
        duration_fits["quantity"] == "handling_minutes"
    ].drop(columns="quantity").reset_index(drop=True) if len(duration_fits) else (
        pd.DataFrame()
    )
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
        message_lifts=_message_lifts(response_counts, defaults),
        default_messages=defaults,
        handling_minutes_fits=handling_fits,
        handling_minutes=durations.get("handling_minutes", {}),
        handling_minutes_excluded=excluded.get("handling_minutes", {}),
        contacts_per_customer=_contacts_per_customer(touches),
        response_by_attempt=_response_by_attempt(touches),
        response_by_month=_response_by_month(log),
        attempt_spacing_days=_attempt_spacing(log, kind, methods),
        methods=methods,
        duration_fits=duration_fits,
        durations=durations,
        durations_excluded=excluded,
        duration_values=values,
        fatigue=_fatigue_fits(touches, min_touches),
        response_by_window=_response_by_window(log, kind),
        transitions=transitions,
    )


def detect_log_kind(log: pd.DataFrame) -> LogKind:
    """``final_touch`` if each customer has one row per method and some attempt > 1."""
    one_row_each = not log.duplicated(["customer_id", "method"]).any()
    if one_row_each and (log["attempt"] > 1).any():
        return "final_touch"
    return "every_touch"


def beta_posterior(
    responses: Any, touches: Any, prior: tuple[float, float] = UNIFORM_PRIOR
) -> tuple[Any, Any]:
    """Beta posterior parameters after ``responses`` in ``touches`` from ``prior``."""
    return prior[0] + responses, prior[1] + touches - responses


def fit_beta_prior(successes: Any, trials: Any) -> BetaPrior:
    """The Beta prior of cell rates that best explains the cells' counts.

    Maximum likelihood of a beta-binomial over the cells, mean and strength
    ``a + b`` as free parameters, the strength between ``MIN_PRIOR_STRENGTH``
    and the mean trials per cell. Falls back to the method of moments if the
    optimiser fails, and to Beta(1, 1) with fewer than ``MIN_PRIOR_CELLS``
    cells or when every trial had the same outcome.
    """
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    used = trials > 0
    successes, trials = successes[used], trials[used]
    cells = len(trials)
    if cells < MIN_PRIOR_CELLS:
        return BetaPrior(*UNIFORM_PRIOR, "uniform", cells,
                         f"fewer than {MIN_PRIOR_CELLS} cells to fit a prior from")
    if successes.sum() == 0 or successes.sum() == trials.sum():
        return BetaPrior(*UNIFORM_PRIOR, "uniform", cells,
                         "every trial had the same outcome")

    cap = max(float(trials.mean()), MIN_PRIOR_STRENGTH * 2)
    start_mean, start_strength = _moments_prior(successes, trials, cap)

    def negative_log_likelihood(point: np.ndarray) -> float:
        mean = 1.0 / (1.0 + math.exp(-point[0]))
        strength = math.exp(point[1])
        return -float(stats.betabinom.logpmf(
            successes, trials, mean * strength, (1 - mean) * strength
        ).sum())

    bounds = [(-12.0, 12.0), (math.log(MIN_PRIOR_STRENGTH), math.log(cap))]
    start = np.array([
        math.log(start_mean / (1 - start_mean)),
        float(np.clip(math.log(start_strength), *bounds[1])),
    ])
    found = optimize.minimize(negative_log_likelihood, start, bounds=bounds,
                              method="L-BFGS-B")
    if found.success and np.all(np.isfinite(found.x)):
        mean = 1.0 / (1.0 + math.exp(-found.x[0]))
        strength = math.exp(found.x[1])
        note = "strength at its cap" if found.x[1] >= bounds[1][1] - 1e-6 else ""
        return BetaPrior(mean * strength, (1 - mean) * strength,
                         "maximum likelihood", cells, note)
    return BetaPrior(start_mean * start_strength, (1 - start_mean) * start_strength,
                     "method of moments", cells,
                     f"optimiser did not converge: {found.message}")


def _moments_prior(
    successes: np.ndarray, trials: np.ndarray, cap: float
) -> tuple[float, float]:
    """Mean and strength of a Beta prior matched to the cells' rates by moments.

    The between-cell variance is the observed variance of cell rates less
    their average binomial variance; when that is not positive, the strength
    is the cap (the cells look alike).
    """
    mean = float(np.clip(successes.sum() / trials.sum(), 1e-6, 1 - 1e-6))
    rates = successes / trials
    observed = float(np.average((rates - mean) ** 2, weights=trials))
    binomial = mean * (1 - mean) * float(np.mean(1 / trials))
    between = observed - binomial
    if between <= 0:
        return mean, cap
    strength = mean * (1 - mean) / between - 1
    return mean, float(np.clip(strength, MIN_PRIOR_STRENGTH, cap))


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
    if not _is_aware_time(snapshots["as_of"]):
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

    _fill_segments(scenario, sources, log, source_label, book_customers)
    for method in result.methods:
        _fill_method(scenario, sources, result, method, source_label)
    _fill_attempts(scenario, sources, result, log, source_label, attempt_variants)
    if result.transitions is not None:
        _fill_transitions(scenario, sources, result.transitions, source_label)

    scenario["sources"] = sources
    return scenario


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
) -> tuple[dict[str, Any], CalibrationResult]:
    """Calibrate from ``log`` (and ``snapshots``) into a validated scenario dict.

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
    scenario_from_dict(scenario, source=f"scenario calibrated from {source_label}")
    return scenario, result


def describe_calibration(result: CalibrationResult) -> str:
    """Plain-text tables of the estimates, for a scenario file's header or a report."""
    lines = [
        f"log: {result.source_rows:,} rows read as {result.log_kind}, "
        f"{result.customers:,} customers, {result.touches:,} touches,",
        f"     {result.first_contact:%Y-%m-%d} to {result.last_contact:%Y-%m-%d}",
        "",
        "response per touch, Beta prior fitted across each method's cells:",
    ]
    for row in result.priors.itertuples():
        lines.append(
            f"  {row.method} {row.outcome}: Beta({row.a:.3g}, {row.b:.3g}), "
            f"{row.fit}, {row.cells} cells{'; ' + row.note if row.note else ''}"
        )
    lines.append("  responses/touches, posterior mean [90% interval]")
    by_tier = result.response_by_tier.assign(segment="(all)", sparse=False)
    for row in pd.concat([result.response, by_tier]).itertuples():
        flag = "  sparse, pooled" if row.sparse else ""
        lines.append(
            f"  {row.method} {row.segment:<14} {row.tier:<7}"
            f"{row.responses:>6,}/{row.touches:<7,} {row.mean:.4f} "
            f"[{row.lower:.4f}, {row.upper:.4f}]{flag}"
        )

    for row in result.message_lifts.itertuples():
        lines.append(
            f"  {row.method} message {row.message}: odds x{row.odds_ratio:.3g} "
            f"[{row.lower:.3g}, {row.upper:.3g}] against {row.reference}"
        )
    lines += _describe_fatigue(result)
    lines += _describe_durations(result)

    lines += ["", "touches per customer"]
    for row in result.contacts_per_customer.to_dict("records"):
        names = [f"p{round(quantile * 100)}" for quantile in CONTACT_QUANTILES]
        quantiles = ", ".join(f"{name} {row[name]:g}" for name in names)
        lines.append(
            f"  {row['method']} mean {row['mean']:.2f}, {quantiles}, "
            f"max {row['max']:g}"
        )
    if result.transitions is not None:
        lines += _describe_transitions(result.transitions)
    return "\n".join(lines)


def _describe_fatigue(result: CalibrationResult) -> list[str]:
    """Lines on the odds multiplier per extra attempt."""
    if result.fatigue.empty:
        return []
    lines = ["", "fatigue: odds multiplier per extra attempt [90% interval]"]
    for row in result.fatigue.itertuples():
        lines += [
            f"  {row.method} x{row.odds_multiplier:.3f} [{row.lower:.3f}, "
            f"{row.upper:.3f}] over attempts 1-{row.attempts_used}, "
            f"p={row.p_value:.2g};",
            f"  mean attempt of the touches {row.mean_attempt:.2f}",
        ]
    return lines


def _describe_durations(result: CalibrationResult) -> list[str]:
    """Lines on each fitted duration family."""
    if result.duration_fits.empty:
        return []
    lines = ["", "durations, maximum likelihood with loc 0; a poor fit has KS p < "
             f"{GOOD_FIT_P_VALUE}"]
    for row in result.duration_fits.itertuples():
        shown = ", ".join(
            f"{name}={value:.4g}" for name, value in row.parameters.items()
        )
        flag = "" if row.good_fit else ", poor fit"
        lines += [
            f"  {row.method} {DURATION_QUANTITIES[row.quantity]}: {row.family}{flag}",
            f"      AIC {row.aic:,.0f} (+{row.delta_aic:,.0f}), KS "
            f"{row.ks_statistic:.3f} p {row.ks_pvalue:.2g}; {shown}",
        ]
    return lines


def _describe_transitions(estimates: TransitionEstimates) -> list[str]:
    """Lines on the snapshot spacing and the posterior mean transition rows."""
    spacing = estimates.spacing
    lines = [
        "",
        f"tier moves per {estimates.period_days:.1f} days from "
        f"{spacing['pairs_used']:,} snapshot pairs "
        f"({spacing['pairs_irregular']:,} left out for irregular spacing); "
        "posterior means:",
    ]
    table = estimates.counts.pivot_table(
        index=["segment", "from_tier", "row_total"], columns="to_tier",
        values="mean", observed=True,
    ).reindex(columns=list(TIERS))
    for (segment, tier, total), row in table.iterrows():
        shown = " ".join(f"{to} {row[to]:.3f}" for to in TIERS)
        lines.append(f"  {segment:<14} {tier:<7} n={total:<7,.0f} {shown}")
    return lines


def write_scenario_yaml(
    scenario: dict[str, Any], path: str | Path, header: str = ""
) -> Path:
    """Write a scenario dict as YAML, with ``header`` as comment lines on top."""
    path = Path(path)
    comment = "".join(
        f"# {line}".rstrip() + "\n" for line in header.splitlines()
    )
    plain = _plain(scenario)
    sources = plain.pop("sources", None)
    body = yaml.safe_dump(
        plain, sort_keys=False, allow_unicode=True, width=80,
        default_flow_style=None,
    )
    if sources:
        body += yaml.safe_dump(
            {"sources": sources}, sort_keys=False, allow_unicode=True, width=80,
            default_flow_style=False,
        )
    sections = [
        ("\n" + line) if index and line[:1].isalpha() else line
        for index, line in enumerate(body.splitlines())
    ]
    text = comment + ("\n" if comment else "") + "\n".join(sections) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _check_log(log: pd.DataFrame) -> None:
    """Raise ``EngagementLogError`` naming the column or row that cannot be used."""
    missing = [name for name in _CALIBRATION_COLUMNS if name not in log.columns]
    if missing:
        raise EngagementLogError(
            f"engagement log: missing column(s) {missing}; expected the schema's "
            f"columns {list(_CALIBRATION_COLUMNS)}, got {list(log.columns)}"
        )
    if log.empty:
        raise EngagementLogError("engagement log: expected touches, got no rows")
    expected_types = [
        ("responded", pd.api.types.is_bool_dtype, "booleans"),
        ("contacted_at", _is_aware_time, "timezone-aware timestamps"),
    ]
    for column, is_expected, expected in expected_types:
        if not is_expected(log[column]):
            raise EngagementLogError(
                f"engagement log column {column!r}: expected {expected}, got dtype "
                f"{log[column].dtype}; conform the export to the schema first"
            )

    checks = [
        ("responded", log["responded"].isna(), "true or false"),
        ("tier", ~log["tier"].isin(LIVE_TIERS), f"one of {list(LIVE_TIERS)}"),
        ("attempt", ~(log["attempt"] >= 1).fillna(False), "an integer >= 1"),
        ("customer_id", log["customer_id"].isna(), "a customer id"),
        ("contacted_at", log["contacted_at"].isna(), "a contact time"),
        ("segment", log["segment"].isna(), "a segment name"),
        ("method", log["method"].isna(), "a method name"),
    ]
    for column, bad, expected in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            value = log[column].iloc[position]
            raise EngagementLogError(
                f"engagement log row {position} ({bad.sum()} rows in all), column "
                f"{column!r}: expected {expected}, got {value!r}"
            )


def _is_aware_time(values: pd.Series) -> bool:
    """True for a datetime column with a time zone."""
    return isinstance(values.dtype, pd.DatetimeTZDtype)


def _implied_touches(log: pd.DataFrame, kind: LogKind) -> pd.DataFrame:
    """One row per touch; a final-touch row stands for ``attempt`` touches.

    The implied earlier touches of a final-touch row carry its message.
    """
    columns = ["customer_id", "method", "message", "segment", "tier", "attempt",
               "responded"]
    frame = log[columns].reset_index(drop=True)
    frame["message"] = frame["message"].astype("string").fillna("default")
    frame["responded"] = frame["responded"].astype(bool)
    if kind == "every_touch":
        return frame

    expanded = frame.loc[frame.index.repeat(frame["attempt"])]
    final_attempt = expanded["attempt"].to_numpy()
    expanded["attempt"] = expanded.groupby(level=0).cumcount().to_numpy() + 1
    expanded["responded"] = expanded["responded"] & (
        expanded["attempt"].to_numpy() == final_attempt
    )
    return expanded.reset_index(drop=True)


def _counts(frame: pd.DataFrame, keys: list[str], outcome: str) -> pd.DataFrame:
    """Trials and successes of a boolean column per cell."""
    cells = frame.groupby(keys, observed=True)[outcome].agg(["size", "sum"])
    cells.columns = ["trials", "successes"]
    return cells.astype("int64").reset_index()


def _posterior_table(
    counts: pd.DataFrame,
    priors: dict[str, BetaPrior],
    trials_name: str,
    successes_name: str,
) -> pd.DataFrame:
    """Beta posterior per cell: the method's prior plus the cell's counts."""
    table = counts.rename(columns={"trials": trials_name,
                                   "successes": successes_name})
    prior_a = table["method"].map(lambda method: priors[str(method)].a)
    prior_b = table["method"].map(lambda method: priors[str(method)].b)
    table["a"] = prior_a + table[successes_name]
    table["b"] = prior_b + table[trials_name] - table[successes_name]
    table["mean"] = table["a"] / (table["a"] + table["b"])
    tail = (1 - INTERVAL_LEVEL) / 2
    table["lower"] = stats.beta.ppf(tail, table["a"], table["b"])
    table["upper"] = stats.beta.ppf(1 - tail, table["a"], table["b"])
    table["raw_rate"] = table[successes_name] / table[trials_name]
    return table


def _add_customer_rates(
    table: pd.DataFrame, log: pd.DataFrame, keys: list[str]
) -> None:
    """Customers per cell and the share of them who responded, in place."""
    frame = log.assign(message=log["message"].astype("string").fillna("default"))
    customers = frame.groupby(keys, observed=True)["customer_id"].nunique()
    responders = (
        frame[frame["responded"].astype(bool)]
        .groupby(keys, observed=True)["customer_id"].nunique()
    )
    index = pd.MultiIndex.from_frame(table[keys]) if len(keys) > 1 else table[keys[0]]
    table["customers"] = customers.reindex(index, fill_value=0).to_numpy()
    table["customers_responded"] = responders.reindex(index, fill_value=0).to_numpy()
    table["customer_rate"] = table["customers_responded"] / table["customers"]


def _warn_sparse(response: pd.DataFrame, min_touches: int) -> None:
    """One ``SparseCellWarning`` per cell under the minimum, naming it."""
    for cell in response[response["sparse"]].itertuples():
        warnings.warn(
            f"method {cell.method!r}, message {cell.message!r}, segment "
            f"{cell.segment!r}, tier {cell.tier!r}: {cell.touches} touches, fewer "
            f"than the minimum {min_touches}; pooled: its posterior leans on the "
            "prior fitted across the method's cells",
            SparseCellWarning,
            stacklevel=3,
        )


def _action_tables(
    log: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, BetaPrior]]:
    """Acted among responses, per cell and per tier, with the fitted priors."""
    if "acted" not in log.columns or log["acted"].isna().all():
        return pd.DataFrame(), pd.DataFrame(), {}
    rows = log[log["responded"].astype(bool) & log["acted"].notna()]
    if rows.empty:
        return pd.DataFrame(), pd.DataFrame(), {}
    rows = rows.assign(
        acted=rows["acted"].astype(bool),
        message=rows["message"].astype("string").fillna("default"),
    )
    counts = _counts(rows, _CELL, "acted")
    priors = {
        str(method): fit_beta_prior(cells["successes"], cells["trials"])
        for method, cells in counts.groupby("method", observed=True)
    }
    cells = _posterior_table(counts, priors, "responses", "actions")
    by_tier = _posterior_table(_counts(rows, ["method", "tier"], "acted"), priors,
                               "responses", "actions")
    return cells, by_tier, priors


def _prior_table(
    response: dict[str, BetaPrior], action: dict[str, BetaPrior]
) -> pd.DataFrame:
    """One row per method and outcome with its prior's numbers."""
    rows = [
        {"method": method, "outcome": outcome, "a": prior.a, "b": prior.b,
         "mean": prior.a / prior.strength, "strength": prior.strength,
         "fit": prior.fit, "cells": prior.cells, "note": prior.note}
        for outcome, priors in (("response", response), ("action", action))
        for method, prior in priors.items()
    ]
    return pd.DataFrame(rows)


def _default_messages(touches: pd.DataFrame) -> dict[str, str]:
    """Each method's most used message."""
    counts = touches.groupby(["method", "message"], observed=True).size()
    return {
        str(method): str(per_method.droplevel("method").idxmax())
        for method, per_method in counts.groupby(level="method", observed=True)
    }


def _message_lifts(counts: pd.DataFrame, defaults: dict[str, str]) -> pd.DataFrame:
    """Mantel-Haenszel odds ratio of each message against its method's default.

    Strata are segment and tier cells touched with both messages. A p-value of
    the equal-odds test under ``GOOD_FIT_P_VALUE`` marks a message whose lift
    differs by stratum (``homogeneous`` false).
    """
    from statsmodels.stats.contingency_tables import StratifiedTable

    rows = []
    for method, cells in counts.groupby("method", observed=True):
        reference = defaults[str(method)]
        for message in sorted(set(cells["message"]) - {reference}):
            mine = cells[cells["message"] == message].set_index(["segment", "tier"])
            theirs = cells[cells["message"] == reference].set_index(["segment",
                                                                     "tier"])
            strata = mine.index.intersection(theirs.index)
            row = {"method": method, "message": message, "reference": reference,
                   "touches": int(mine["trials"].sum()), "strata": len(strata),
                   "odds_ratio": math.nan, "lower": math.nan, "upper": math.nan,
                   "equal_odds_pvalue": math.nan}
            if len(strata):
                tables = [
                    [[mine.loc[s, "successes"], mine.loc[s, "trials"]
                      - mine.loc[s, "successes"]],
                     [theirs.loc[s, "successes"], theirs.loc[s, "trials"]
                      - theirs.loc[s, "successes"]]]
                    for s in strata
                ]
                stratified = StratifiedTable(np.array(tables, dtype=float).transpose(
                    1, 2, 0), shift_zeros=True)
                lower, upper = stratified.oddsratio_pooled_confint(
                    alpha=1 - INTERVAL_LEVEL
                )
                row.update(odds_ratio=float(stratified.oddsratio_pooled),
                           lower=float(lower), upper=float(upper))
                if len(strata) > 1:
                    row["equal_odds_pvalue"] = float(
                        stratified.test_equal_odds().pvalue
                    )
            rows.append(row)
    lifts = pd.DataFrame(rows, columns=[
        "method", "message", "reference", "touches", "strata", "odds_ratio",
        "lower", "upper", "equal_odds_pvalue",
    ])
    lifts["homogeneous"] = ~(lifts["equal_odds_pvalue"] < GOOD_FIT_P_VALUE)
    return lifts


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


def _duration_fits(
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
                chosen.setdefault(quantity, {})[str(method)] = _rounded(usable[0])
                continue
            table = fit_durations(usable, families)
            used_values[(quantity, str(method))] = usable
            table.insert(0, "method", str(method))
            table.insert(0, "quantity", quantity)
            tables.append(table)
            best = table.iloc[0]
            chosen.setdefault(quantity, {})[str(method)] = {
                "family": best["family"],
                **{name: _rounded(value)
                   for name, value in best["parameters"].items()},
            }
    fits = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return fits, chosen, excluded, used_values


def _contacts_per_customer(touches: pd.DataFrame) -> pd.DataFrame:
    """Distribution of touches per customer, per method."""
    counts = touches.groupby(["method", "customer_id"], observed=True).size()
    rows = []
    for method, per_customer in counts.groupby(level="method", observed=True):
        row: dict[str, Any] = {
            "method": method,
            "customers": len(per_customer),
            "mean": float(per_customer.mean()),
        }
        for quantile in CONTACT_QUANTILES:
            row[f"p{round(quantile * 100)}"] = float(per_customer.quantile(quantile))
        row["max"] = int(per_customer.max())
        rows.append(row)
    return pd.DataFrame(rows)


def _response_by_attempt(touches: pd.DataFrame) -> pd.DataFrame:
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


def _fatigue_fits(touches: pd.DataFrame, min_touches: int) -> pd.DataFrame:
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
        cells = _counts(used, ["message", "segment", "tier", "attempt"],
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


def _response_by_window(log: pd.DataFrame, kind: LogKind) -> pd.DataFrame:
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


def _response_by_month(log: pd.DataFrame) -> pd.DataFrame:
    """Share of logged rows that responded, per method and calendar month."""
    month = pd.to_datetime(log["contacted_at"], utc=True).dt.strftime("%Y-%m")
    frame = pd.DataFrame({
        "method": log["method"].to_numpy(),
        "month": month.to_numpy(),
        "responded": log["responded"].astype(bool).to_numpy(),
    })
    table = frame.groupby(["method", "month"]).agg(
        rows=("responded", "size"), responses=("responded", "sum")
    ).reset_index()
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["rows"]
    return table


def _attempt_spacing(
    log: pd.DataFrame, kind: LogKind, methods: list[str]
) -> dict[str, float | None]:
    """Median days from one attempt to the next, per method (every-touch logs)."""
    if kind == "final_touch":
        return {method: None for method in methods}
    ordered = log.sort_values("contacted_at")
    spacing: dict[str, float | None] = {}
    for method in methods:
        rows = ordered[ordered["method"] == method]
        grouped = rows.groupby("customer_id", observed=True)
        gaps = grouped["contacted_at"].diff().dt.total_seconds() / 86400
        steps = grouped["attempt"].diff() == 1
        usable = gaps[steps]
        spacing[method] = float(usable.median()) if len(usable) else None
    return spacing


def _beta(a: float, b: float) -> dict[str, Any]:
    """A Beta posterior in the scenario's ``UncertainProbability`` form."""
    return {"family": "beta", "a": _rounded(a), "b": _rounded(b)}


def _rounded(value: float) -> float | int:
    """A plain number with a few significant digits; whole numbers as int."""
    value = float(value)
    if value.is_integer():
        return int(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


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


def _prior_text(prior_row: pd.Series) -> str:
    """The prior in words, for sources."""
    return (
        f"Beta({prior_row['a']:.3g}, {prior_row['b']:.3g}) prior "
        f"({prior_row['fit']} across {prior_row['cells']} cells)"
    )


def _fill_method(
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
        response.setdefault("messages", {})[row.message] = _rounded(row.odds_ratio)
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
    methods[method] = _leading(target, ("handling_minutes", "response"))


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


def _fill_segments(
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
        segments[name] = _leading(segment, ("customers", "accounts", "initial_tiers"))


def _shares_summing_to_one(shares: pd.Series) -> dict[str, float]:
    """Tier shares rounded to 4 decimals, the largest adjusted so they sum to 1."""
    rounded = {str(tier): round(float(share), 4) for tier, share in shares.items()}
    largest = max(rounded, key=rounded.get)
    others = sum(share for tier, share in rounded.items() if tier != largest)
    rounded[largest] = round(1.0 - others, 4)
    return {tier: rounded[tier] for tier in LIVE_TIERS if tier in rounded}




def _fill_attempts(
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
        lifts[variant] = _rounded(base_lift * fatigue["odds_multiplier"] ** steps)
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


def _fill_transitions(
    scenario: dict[str, Any],
    sources: dict[str, str],
    estimates: TransitionEstimates,
    label: str,
) -> None:
    """Each scenario segment's tier moves (and renewal rows) as Dirichlet rows."""
    segments = scenario.setdefault("segments", {})
    counts = estimates.counts
    seen_tiers = set(counts.loc[counts["row_total"] > 0, "from_tier"])
    period = _rounded(estimates.period_days)
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
                "alpha": {to: _rounded(alpha[to]) for to in TIERS},
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
    renewal.setdefault("cycle_days", _rounded(estimates.renewal_cycle_days))
    table = estimates.renewal
    for row in table[table["segment"] == name].itertuples():
        renewal[row.tier] = {"family": "dirichlet", "alpha": {
            outcome: _rounded(getattr(row, f"alpha_{outcome}"))
            for outcome in ("churn", "renew", "expand")
        }}
        sources[f"segments.{name}.renewal.{row.tier}"] = (
            f"{label}: {row.expansions:,} ARR rises in {row.customer_periods:,} "
            f"customer-periods of {estimates.period_days:g} days, read as "
            f"{row.renewals:.1f} renewals with renewals spread over a "
            f"{estimates.renewal_cycle_days:g}-day cycle; churn seen in snapshots "
            "is in the transition rows, so churn at renewal has only its prior"
        )


def _leading(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The mapping with ``keys`` (those present) moved to the front, for reading."""
    first = {key: mapping[key] for key in keys if key in mapping}
    return first | {key: value for key, value in mapping.items() if key not in first}


def _plain(value: Any) -> Any:
    """Convert numpy scalars and containers to plain YAML-safe Python values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
