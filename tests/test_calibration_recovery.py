"""Simulated logs and snapshots calibrate back to the parameters that made them."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from builders import ALWAYS_ON, minimal
from cssim.calibration import calibrate
from cssim.engine import simulate
from cssim.errors import SparseCellWarning
from cssim.scenario_file import scenario_from_dict

SEEDS = 40
LEVEL = 0.90
RANGE = 0.999
"""Central share of the coverage count's binomial distribution that passes."""

KNOWN_RESPONSE = {
    "smb": {"green": 0.30, "yellow": 0.18, "red": 0.08},
    "enterprise": {"green": 0.40, "yellow": 0.25, "red": 0.12},
}
KNOWN_MOVES = {
    "green": {"green": 0.90, "yellow": 0.06, "red": 0.02, "churned": 0.02},
    "yellow": {"green": 0.10, "yellow": 0.80, "red": 0.07, "churned": 0.03},
    "red": {"green": 0.05, "yellow": 0.12, "red": 0.79, "churned": 0.04},
}
CUSTOMERS = 500


def known_scenario() -> Any:
    """Two segments with known response by tier, one known monthly tier matrix."""
    data = minimal(horizon_days=90)
    data["segments"] = {
        name: {
            "customers": CUSTOMERS,
            "initial_tiers": {"green": 0.4, "yellow": 0.35, "red": 0.25},
            "transitions": copy.deepcopy(KNOWN_MOVES),
            "renewal": {"cycle_days": 100000},
        }
        for name in KNOWN_RESPONSE
    }
    data["reps"] = [{"name": "rep", "count": 3, **ALWAYS_ON}]
    data["methods"]["phone"]["response"] = {
        "default": 0.1, "segments": copy.deepcopy(KNOWN_RESPONSE),
    }
    data["policy"] = {
        "tiers": ["green", "yellow", "red"], "order": [],
        "attempts": [{"method": "phone"}, {"method": "phone", "after_days": 3}],
        "stop_on_response": False,
    }
    return scenario_from_dict(data, source="recovery scenario")


def tolerated(checks: int) -> tuple[int, int]:
    """Central ``RANGE`` of Binomial(checks, LEVEL): the coverage counts accepted."""
    tail = (1 - RANGE) / 2
    low = int(stats.binom.ppf(tail, checks, LEVEL))
    high = int(stats.binom.ppf(1 - tail, checks, LEVEL))
    return low, high


@pytest.fixture(scope="module")
def calibrations() -> list[Any]:
    """One calibration per seed of the known scenario's log and snapshots."""
    scenario = known_scenario()
    results = []
    for seed in range(SEEDS):
        output, _ = simulate(scenario, np.random.SeedSequence(1000 + seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SparseCellWarning)
            results.append(calibrate(output.log, snapshots=output.snapshots))
    return results


def test_response_intervals_cover_known_rates(calibrations: list[Any]) -> None:
    """Known rates fall in their 90% partially pooled intervals about 90% of the time.

    40 seeds x 6 segment-tier cells = 240 checks; 216 covered expected; the
    central 99.9% of Binomial(240, 0.9) is accepted.
    """
    covered = checks = 0
    for result in calibrations:
        cells = result.response.set_index(["segment", "tier"])
        for segment, rates in KNOWN_RESPONSE.items():
            for tier, rate in rates.items():
                row = cells.loc[(segment, tier)]
                covered += int(row["lower"] <= rate <= row["upper"])
                checks += 1
    low, high = tolerated(checks)
    assert checks == SEEDS * 6
    assert low <= covered <= high, (covered, checks, low, high)


def test_transition_intervals_cover_known_moves(calibrations: list[Any]) -> None:
    """Each row's known stay and churn chances fall in their 90% intervals ~90%.

    40 seeds x 2 segments x 3 rows x 2 entries (stay, churn) = 480 checks;
    the central 99.9% of Binomial(480, 0.9) is accepted.
    """
    covered = checks = 0
    for result in calibrations:
        estimates = result.transitions
        assert estimates.period_days == pytest.approx(30.0)
        table = estimates.counts.set_index(["segment", "from_tier", "to_tier"])
        for segment in KNOWN_RESPONSE:
            for tier, row in KNOWN_MOVES.items():
                for target in (tier, "churned"):
                    cell = table.loc[(segment, tier, target)]
                    covered += int(cell["lower"] <= row[target] <= cell["upper"])
                    checks += 1
    low, high = tolerated(checks)
    assert checks == SEEDS * 12
    assert low <= covered <= high, (covered, checks, low, high)


def test_calibrated_scenario_carries_dirichlet_rows(calibrations: list[Any]) -> None:
    """A transition row is written as a Dirichlet whose mean is the known row."""
    from cssim.calibration import scenario_from_calibration

    scenario = known_scenario()
    output, _ = simulate(scenario, np.random.SeedSequence(7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SparseCellWarning)
        result = calibrate(output.log, snapshots=output.snapshots)
    data = scenario_from_calibration(result, output.log, None, "simulated")
    loaded = scenario_from_dict(data, source="calibrated")

    row = loaded.segments["smb"].transitions.red
    assert row.family == "dirichlet"
    mean = pd.Series(row.mean())
    known = pd.Series(KNOWN_MOVES["red"])
    assert (mean - known).abs().max() < 0.08
    assert loaded.segments["smb"].transitions.period_days == pytest.approx(30.0)


def test_no_fatigue_is_found_where_none_was_simulated(
    calibrations: list[Any],
) -> None:
    """With constant odds, the per-attempt multiplier's 90% interval holds 1 ~90%.

    40 checks; the central 99.9% of Binomial(40, 0.9) is accepted.
    """
    covered = sum(
        int(row.lower <= 1.0 <= row.upper)
        for result in calibrations
        for row in result.fatigue.itertuples()
    )
    low, high = tolerated(SEEDS)
    assert low <= covered <= high, (covered, low, high)


def test_action_intervals_cover_a_shared_rate(calibrations: list[Any]) -> None:
    """A rate shared by every cell is covered at least about 90% of the time.

    40 seeds x 6 cells = 240 checks against the simulated 0.5. The cells are
    alike, so the fitted prior is strong and the intervals err on the wide
    side: only the lower end of the central 99.9% binomial range applies.
    """
    known = known_scenario().methods["phone"].action_probability
    covered = checks = 0
    for result in calibrations:
        for row in result.action.itertuples():
            covered += int(row.lower <= known <= row.upper)
            checks += 1
    low, _ = tolerated(checks)
    assert checks == SEEDS * 6
    assert covered >= low, (covered, checks, low)
