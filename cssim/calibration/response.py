"""Response and action probabilities per cell as partially pooled Beta posteriors.

Estimates are per touch, the unit the simulation draws a response for. The
probabilities per method, message, segment and tier are Beta posteriors with
partial pooling. The prior is fitted across the cells of a method (empirical
Bayes): a beta-binomial maximum likelihood fit with ``scipy.stats.betabinom``,
its strength ``a + b`` capped at the mean touches per cell so the prior never
outweighs a typical cell; method of moments when the optimiser fails; a
uniform Beta(1, 1) with fewer than three cells or when every touch had the
same outcome. A cell's posterior is ``prior + counts``, so a sparse cell leans
on its neighbours; one ``SparseCellWarning`` per method counts its cells
under ``min_touches`` touches and names the first few.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from cssim.calibration.settings import INTERVAL_LEVEL
from cssim.errors import SparseCellWarning

DEFAULT_MIN_TOUCHES = 30
"""Touches a cell needs before it is trusted on its own (fewer: a warning)."""
UNIFORM_PRIOR = (1.0, 1.0)
MIN_PRIOR_CELLS = 3
"""Cells with touches a method needs before its prior is fitted from them."""
MIN_PRIOR_STRENGTH = 0.5
SPARSE_CELLS_NAMED = 5
"""Sparse cells a method's warning names; the rest are only counted."""
CELL = ["method", "message", "segment", "tier"]


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
        note = _cap_note(cap) if found.x[1] >= bounds[1][1] - 1e-6 else ""
        return BetaPrior(mean * strength, (1 - mean) * strength,
                         "maximum likelihood", cells, note)
    note = _fallback_note(found)
    if start_strength >= cap:
        note += "; " + _cap_note(cap)
    return BetaPrior(start_mean * start_strength, (1 - start_mean) * start_strength,
                     "method of moments", cells, note)


def _cap_note(cap: float) -> str:
    """Why a prior's strength ``a + b`` stopped where it did, in words."""
    return (f"prior weight a+b capped at {cap:.3g} (mean cell size): never "
            "outweighs a typical cell")


def _fallback_note(found: optimize.OptimizeResult) -> str:
    """What stopped the maximum likelihood fit, and the fallback used instead."""
    if not found.success:
        # L-BFGS-B: status 1 is the iteration or evaluation limit; anything else
        # is an abnormal stop, mostly a line search that could not improve.
        reason = ("ran out of iterations" if found.status == 1
                  else "stalled without converging")
    else:
        reason = "gave non-finite values"
    return f"maximum likelihood search {reason}; using the method of moments"


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


def cell_counts(frame: pd.DataFrame, keys: list[str], outcome: str) -> pd.DataFrame:
    """Trials and successes of a boolean column per cell."""
    cells = frame.groupby(keys, observed=True)[outcome].agg(["size", "sum"])
    cells.columns = ["trials", "successes"]
    return cells.astype("int64").reset_index()


def posterior_table(
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


def add_customer_rates(
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


def warn_sparse(response: pd.DataFrame, min_touches: int) -> None:
    """One ``SparseCellWarning`` per method with cells under the minimum.

    The warning counts the method's sparse cells and names the first
    ``SPARSE_CELLS_NAMED`` as message/segment/tier with their touches.
    """
    sparse = response[response["sparse"]]
    for method, cells in sparse.groupby("method", observed=True, sort=False):
        named = ", ".join(
            f"{cell.message}/{cell.segment}/{cell.tier} ({cell.touches})"
            for cell in cells.head(SPARSE_CELLS_NAMED).itertuples()
        )
        more = len(cells) - SPARSE_CELLS_NAMED
        listed = f"{named} and {more} more" if more > 0 else named
        total = int((response["method"] == method).sum())
        warnings.warn(
            f"method {method!r}: {len(cells)} of {total} cells have under "
            f"{min_touches} touches and lean on the method's prior; "
            f"message/segment/tier (touches): {listed}",
            SparseCellWarning,
            stacklevel=3,
        )


def action_tables(
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
    counts = cell_counts(rows, CELL, "acted")
    priors = {
        str(method): fit_beta_prior(cells["successes"], cells["trials"])
        for method, cells in counts.groupby("method", observed=True)
    }
    cells = posterior_table(counts, priors, "responses", "actions")
    by_tier = posterior_table(cell_counts(rows, ["method", "tier"], "acted"), priors,
                              "responses", "actions")
    return cells, by_tier, priors


def priors_table(
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
