"""Tier moves: the daily root of a monthly matrix and the chain the engine runs."""

from __future__ import annotations

import numpy as np
import pytest
from builders import minimal

from cssim.engine import simulate
from cssim.scenario_file import scenario_from_dict
from cssim.tier import LIVE_TIERS, daily_matrix, matrix_from_rows, step_tiers

MONTHLY = {
    "green": {"green": 0.85, "yellow": 0.12, "red": 0.03},
    "yellow": {"green": 0.25, "yellow": 0.55, "red": 0.20},
    "red": {"green": 0.10, "yellow": 0.30, "red": 0.60},
}


def test_thirty_daily_steps_reproduce_the_monthly_matrix():
    """The daily root raised to the 30th power gives back the monthly matrix."""
    monthly = matrix_from_rows(MONTHLY)
    daily = daily_matrix(monthly, 30)

    assert np.allclose(np.linalg.matrix_power(daily, 30), monthly, atol=1e-9)
    assert np.allclose(daily.sum(axis=1), 1.0)
    assert daily.min() >= 0.0


def test_step_tiers_draws_each_row_with_its_probabilities():
    """One vectorised step moves a large cohort with its row's probabilities."""
    rng = np.random.default_rng(11)
    matrix = matrix_from_rows(MONTHLY)
    cumulative = np.cumsum(matrix, axis=1)[None, :, :]
    count = 100_000
    tiers = np.full(count, 1, dtype=np.int8)

    moved = step_tiers(tiers, cumulative, np.zeros(count, dtype=np.intp),
                       rng.random(count))

    shares = np.bincount(moved, minlength=4) / count
    # Binomial standard error of a share over 100,000 draws; 4 SE either side.
    tolerance = 4 * np.sqrt(matrix[1] * (1 - matrix[1]) / count)
    assert np.all(np.abs(shares - matrix[1]) <= tolerance + 1e-12)


def test_tier_mix_after_long_horizon_matches_the_markov_chain():
    """Without outreach, the book's tier mix at day 240 matches pi0 times D^240."""
    count, horizon = 20_000, 240
    initial = {"green": 0.5, "yellow": 0.3, "red": 0.2}
    raw = minimal(horizon_days=horizon)
    segment = raw["segments"]["smb"]
    segment.update(customers=count, initial_tiers=initial, transitions=MONTHLY)
    raw["policy"]["tiers"] = []
    scenario = scenario_from_dict(raw)

    output, book = simulate(scenario, np.random.SeedSequence(5))

    daily = daily_matrix(matrix_from_rows(MONTHLY), 30)
    start = np.array([initial[t] for t in LIVE_TIERS] + [0.0])
    expected = start @ np.linalg.matrix_power(daily, horizon)
    observed = np.bincount(book.tier, minlength=4) / count
    # Each customer's final tier is an independent draw from `expected`, so
    # each share is Binomial(count, p) / count: allow 4 standard errors.
    tolerance = 4 * np.sqrt(expected * (1 - expected) / count)
    assert np.all(np.abs(observed - expected) <= tolerance + 1e-12)

    stationary = np.linalg.matrix_power(daily, 3000)[0]
    assert expected == pytest.approx(stationary, abs=0.01)


def test_customers_per_tier_sum_to_the_book_every_day():
    """Counts by tier, churned included, add up to the book size on every day."""
    raw = minimal(horizon_days=60)
    raw["segments"]["smb"].update(
        customers=3000,
        initial_tiers={"green": 0.6, "yellow": 0.3, "red": 0.1},
        transitions={
            "green": {"green": 0.9, "yellow": 0.08, "red": 0.01, "churned": 0.01},
            "yellow": {"green": 0.15, "yellow": 0.7, "red": 0.1, "churned": 0.05},
            "red": {"green": 0.05, "yellow": 0.2, "red": 0.65, "churned": 0.1},
        },
    )
    scenario = scenario_from_dict(raw)

    output, _ = simulate(scenario, np.random.SeedSequence(2))

    per_day = output.tier_counts.sum(axis=(1, 2))
    assert np.all(per_day == 3000)
    churned = output.tier_counts[:, 0, 3]
    assert churned[-1] > 0 and np.all(np.diff(churned) >= 0)


def test_a_matrix_without_a_daily_root_warns_with_its_own_category():
    """A monthly matrix that swaps green and yellow has no close daily root."""
    from cssim.errors import RateConversionWarning

    swap = matrix_from_rows({"green": {"yellow": 1.0}, "yellow": {"green": 1.0},
                             "red": {"red": 1.0}})

    with pytest.warns(RateConversionWarning, match="no close daily root"):
        daily_matrix(swap, 29)
