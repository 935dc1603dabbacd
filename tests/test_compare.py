"""Replay forecasts and forecast-versus-actual comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from builders import minimal

from cssim.compare import compare_kpis, coverage
from cssim.engine import simulate
from cssim.replay import ReplayError, replay, touches_of
from cssim.scenario_file import scenario_from_dict


def schedule(customers: int, attempt: int = 1) -> pd.DataFrame:
    start = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    return pd.DataFrame({
        "customer_id": [f"c{i}" for i in range(customers)],
        "segment": "smb",
        "tier": "red",
        "contacted_at": start + pd.to_timedelta(np.arange(customers) % 20, unit="D"),
        "method": "phone",
        "message": "default",
        "attempt": attempt,
        "responded": False,
    })


def response_rates(kpis: pd.DataFrame) -> np.ndarray:
    rows = kpis[(kpis["kpi"] == "response_rate") & (kpis["segment"] == "all")]
    return rows.groupby("replication")["value"].mean().to_numpy()


def test_replay_response_rate_matches_the_method_probability():
    """Replayed single touches respond at the configured rate."""
    raw = minimal()
    raw["methods"]["phone"]["response"] = {"default": 0.3}
    scenario = scenario_from_dict(raw)

    rates = response_rates(replay(scenario, schedule(1000), 20, seed=3))

    # 20 replications x 1,000 customers: standard error sqrt(.21/20000).
    assert abs(rates.mean() - 0.3) <= 4 * np.sqrt(0.3 * 0.7 / 20000)
    assert rates.std() > 0


def test_final_touch_rows_expand_to_their_attempt_count():
    """A row with attempt 3 stands for three calls, so response is 1 - 0.7^3."""
    raw = minimal()
    raw["methods"]["phone"]["response"] = {"default": 0.3}
    scenario = scenario_from_dict(raw)

    assert len(touches_of(schedule(10, attempt=3))) == 30
    rates = response_rates(replay(scenario, schedule(1000, attempt=3), 20, seed=4))

    expected = 1 - 0.7**3
    assert abs(rates.mean() - expected) <= 4 * np.sqrt(expected * (1 - expected)
                                                        / 20000)


def test_replay_refuses_a_method_the_scenario_lacks():
    """A schedule naming an undefined method is an error that names it."""
    touches = schedule(5).assign(method="carrier_pigeon")

    with pytest.raises(ReplayError, match="carrier_pigeon"):
        replay(scenario_from_dict(minimal()), touches, 2, seed=1)


def test_percentile_is_the_mid_rank_among_replications():
    """An actual of 2 among forecasts 1, 2, 3, 4 sits at the 37.5th percentile."""
    forecast = pd.DataFrame({"replication": range(4), "month": 1, "segment": "all",
                             "kpi": "touches", "value": [1.0, 2.0, 3.0, 4.0]})
    actual = pd.DataFrame({"month": [1], "segment": ["all"], "kpi": ["touches"],
                           "value": [2.0]})

    table = compare_kpis(forecast, actual)

    assert table["percentile"].iloc[0] == pytest.approx(0.375)
    assert table["error"].iloc[0] == pytest.approx(-0.5)
    assert bool(table["inside"].iloc[0])


def test_a_forecast_of_its_own_model_covers_the_actual_at_the_nominal_rate():
    """Actuals simulated from the forecast's own model fall inside 90% intervals."""
    from scipy import stats

    from cssim.kpi import compute_kpis

    raw = minimal(horizon_days=30)
    raw["segments"]["smb"]["customers"] = 400
    raw["reps"][0]["count"] = 2
    raw["methods"]["phone"]["response"] = {"default": 0.25}
    scenario = scenario_from_dict(raw)
    seeds = 40

    checks = []
    for seed in range(seeds):
        output, _ = simulate(scenario, np.random.SeedSequence(100 + seed))
        actual = compute_kpis(output.log, output.snapshots, output.start, 1)
        actual = actual[(actual["kpi"] == "response_rate")
                        & (actual["segment"] == "all")]
        checks.append(compare_kpis(replay(scenario, output.log, 100, seed=seed),
                                   actual))
    result = coverage(pd.concat(checks))

    # Independent seeds: the inside count is Binomial(40, 0.9); accept its
    # central 99.9% range.
    low, high = stats.binom.ppf([0.0005, 0.9995], seeds, 0.9)
    assert result["checked"] == seeds
    assert low <= result["inside"] <= high
