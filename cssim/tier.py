"""Health tiers and the transition matrices that move customers between them."""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import linalg

from cssim.errors import RateConversionWarning

TIERS: tuple[str, ...] = ("green", "yellow", "red", "churned")
"""Tier names in index order; churned is absorbing and ends a customer's life."""

LIVE_TIERS: tuple[str, ...] = TIERS[:3]
TIER_INDEX: dict[str, int] = {name: i for i, name in enumerate(TIERS)}
CHURNED: int = TIER_INDEX["churned"]
ROOT_TOLERANCE = 0.01


def matrix_from_rows(rows: dict[str, dict[str, float]]) -> np.ndarray:
    """Build a 4x4 row-stochastic matrix from ``{from: {to: probability}}``.

    Tiers missing from a row get probability 0; churned stays churned.
    """
    matrix = np.zeros((len(TIERS), len(TIERS)))
    for source, row in rows.items():
        for target, probability in row.items():
            matrix[TIER_INDEX[source], TIER_INDEX[target]] = probability
    matrix[CHURNED] = 0.0
    matrix[CHURNED, CHURNED] = 1.0
    return matrix


def daily_matrix(period_matrix: np.ndarray, period_days: float) -> np.ndarray:
    """Daily transition matrix for a per-period one (cached: replications share it)."""
    rows = tuple(map(tuple, period_matrix.tolist()))
    return _daily_matrix(rows, float(period_days)).copy()


@functools.lru_cache(maxsize=256)
def _daily_matrix(rows: tuple, period_days: float) -> np.ndarray:
    """Convert a transition matrix over ``period_days`` to one over a single day.

    The daily matrix is the principal matrix root ``P ** (1 / period_days)``,
    equivalent to a continuous-time generator ``Q = log(P) / period_days``
    evaluated over one day, so that ``period_days`` daily steps reproduce P.
    Where the root has small negative entries (P has no exact stochastic
    root, typically a zero entry that two steps would make positive), they
    are clipped and rows renormalised; a ``RateConversionWarning`` says so
    when the result reproduces P only to worse than ``ROOT_TOLERANCE``.
    """
    period_matrix = np.array(rows)
    if period_days == 1:
        return period_matrix

    root = linalg.fractional_matrix_power(period_matrix, 1.0 / period_days)
    root = np.clip(np.real(root), 0.0, None)
    root = root / root.sum(axis=1, keepdims=True)

    rebuilt = np.linalg.matrix_power(root, round(period_days))
    error = float(np.abs(rebuilt - period_matrix).max())
    if error > ROOT_TOLERANCE:
        warnings.warn(
            f"transition matrix has no close daily root: {period_days:g} daily "
            f"steps reproduce it only within {error:.3f} per entry",
            RateConversionWarning,
            stacklevel=2,
        )
    return root


def step_tiers(
    tiers: np.ndarray,
    cumulative: np.ndarray,
    group: np.ndarray,
    uniforms: np.ndarray,
) -> np.ndarray:
    """Move every customer one step at once.

    ``cumulative[g, i]`` is the cumulative transition row of tier ``i`` in
    matrix group ``g``; ``group`` gives each customer's matrix group (segment,
    engaged or not). A customer moves to the first tier whose cumulative
    probability exceeds its uniform draw.
    """
    rows = cumulative[group, tiers]
    return (uniforms[:, None] >= rows[:, :-1]).sum(axis=1).astype(tiers.dtype)
