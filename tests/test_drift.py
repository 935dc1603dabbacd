"""Drift between months: measured from a log, carried into forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import minimal
from scipy import special

from cssim.calibration.drift import adjust_scenario, measure_drift
from cssim.method import resolve_methods
from cssim.scenario_file import scenario_from_dict


def monthly_log(log_odds_by_month: list[float], touches_per_month: int,
                seed: int) -> pd.DataFrame:
    """A touch log whose response rate follows the given monthly log-odds."""
    rng = np.random.default_rng(seed)
    frames = []
    for month, log_odds in enumerate(log_odds_by_month):
        start = pd.Timestamp("2024-01-01", tz="UTC") + pd.DateOffset(months=month)
        frames.append(pd.DataFrame({
            "method": "phone",
            "contacted_at": start + pd.to_timedelta(
                rng.uniform(0, 27, touches_per_month), unit="D"),
            "responded": rng.random(touches_per_month) < special.expit(log_odds),
        }))
    return pd.concat(frames, ignore_index=True)


def test_a_steady_rate_shows_no_drift():
    """Months drawn from one rate give no shift and no spread beyond noise."""
    log = monthly_log([-1.5] * 12, 2000, seed=1)

    drift = measure_drift(log, "phone", half_life_days=90)

    # Each month's log-odds has a standard error near 0.05; 12 months.
    assert abs(drift.shift) < 0.1
    assert drift.spread < 0.1


def test_a_rising_rate_shifts_towards_recent_months():
    """A rate rising 0.2 log-odds a month is forecast near its recent level."""
    log = monthly_log([-3 + 0.2 * month for month in range(12)], 2000, seed=2)

    drift = measure_drift(log, "phone", half_life_days=60)

    overall = special.logit(log["responded"].mean())
    recent = special.logit(drift.recent_rate)
    assert recent == pytest.approx(overall + drift.shift, abs=1e-9)
    # Recent months weigh more: the level sits between the average month's
    # log-odds (-1.9) and the last month's (-0.8).
    assert -1.9 < recent < -0.8
    assert drift.shift > 0.3
    # The months spread 2.2 log-odds apart, far beyond binomial noise.
    assert drift.spread > 0.2


def test_too_few_months_leave_the_scenario_alone():
    """Two months of data cannot show drift, so nothing is added."""
    raw = minimal()
    log = monthly_log([-1.0, 0.0], 500, seed=3)

    adjusted, found = adjust_scenario(raw, log)

    assert found == []
    assert "log_odds_shift" not in adjusted["methods"]["phone"]["response"]


def test_the_shift_moves_every_cell_of_a_replication_together():
    """One draw of the shift moves all segments and tiers the same way."""
    raw = minimal()
    raw["segments"]["mid"] = dict(raw["segments"]["smb"])
    raw["methods"]["phone"]["response"] = {
        "default": {"green": 0.3, "yellow": 0.2, "red": 0.1},
        "log_odds_shift": {"family": "norm", "loc": 0.0, "scale": 1.0},
    }
    scenario = scenario_from_dict(raw)
    names = list(scenario.segments)

    shifts = []
    for seed in range(20):
        method = resolve_methods(scenario.methods, names,
                                 np.random.default_rng(seed), fixed=False)["phone"]
        base = special.logit(np.array([0.3, 0.2, 0.1]))
        moved = special.logit(method.response) - base
        assert np.allclose(moved, moved[0, 0])
        shifts.append(moved[0, 0])
    fixed = resolve_methods(scenario.methods, names, np.random.default_rng(0),
                            fixed=True)["phone"]

    assert np.std(shifts) > 0.5
    assert np.allclose(fixed.response[0], [0.3, 0.2, 0.1])
