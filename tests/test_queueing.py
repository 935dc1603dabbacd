"""Capacity alone: the engine against the closed-form M/M/c queue (Erlang C)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from builders import minimal

from cssim.engine import simulate
from cssim.scenario_file import scenario_from_dict

SERVERS = 3
SERVICE_MINUTES = 60.0
ARRIVALS_PER_DAY = 50.4
"""Offered load 2.1 erlangs on 3 reps: utilisation 0.7."""

WARM_UP_DAYS = 5
HORIZON_DAYS = 45
REPLICATIONS = 40


def erlang_c_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean wait in queue of an M/M/c queue, from the Erlang C formula."""
    load = arrival_rate / service_rate
    top = load**servers / math.factorial(servers) * servers / (servers - load)
    bottom = sum(load**k / math.factorial(k) for k in range(servers)) + top
    return top / bottom / (servers * service_rate - arrival_rate)


def mm_c_scenario() -> dict:
    """Poisson stream of due customers, exponential calls, c reps always working."""
    raw = minimal(horizon_days=HORIZON_DAYS)
    raw["segments"]["smb"]["customers"] = int(ARRIVALS_PER_DAY * HORIZON_DAYS * 1.5)
    raw["reps"][0]["count"] = SERVERS
    raw["methods"]["phone"]["handling_minutes"] = {
        "family": "expon", "scale": SERVICE_MINUTES}
    raw["policy"]["release"] = {"mode": "poisson", "per_day": ARRIVALS_PER_DAY}
    return raw


def mean_wait_minutes(seed: int) -> float:
    """Mean wait from falling due to first contact, after the warm-up cut."""
    scenario = scenario_from_dict(mm_c_scenario())
    output, _ = simulate(scenario, np.random.SeedSequence(seed))

    first = output.log.groupby("customer_id")["contacted_at"].min()
    due = output.due.set_index("customer_id")["due_at"]
    warm = due[due >= output.start + pd.Timedelta(days=WARM_UP_DAYS)]
    served = warm.index.intersection(first.index)
    # Customers still waiting at the horizon would bias the mean down; keep only
    # those due early enough that they are all served (checked below).
    cutoff = output.start + pd.Timedelta(days=HORIZON_DAYS - 5)
    early = warm[warm < cutoff]
    assert early.index.isin(served).all()
    waits = (first[early.index] - early).dt.total_seconds() / 60.0
    return float(waits.mean())


def test_mean_wait_matches_erlang_c():
    """Mean wait before first contact matches Erlang C within the Monte Carlo error."""
    expected = erlang_c_wait(SERVERS, ARRIVALS_PER_DAY / 1440, 1 / SERVICE_MINUTES)

    means = np.array([mean_wait_minutes(seed) for seed in range(REPLICATIONS)])

    # Replication means are independent; a 99.9% interval is about 3.3 standard
    # errors of their average.
    standard_error = means.std(ddof=1) / math.sqrt(REPLICATIONS)
    assert abs(means.mean() - expected) <= 3.3 * standard_error, (
        f"simulated {means.mean():.2f} min vs Erlang C {expected:.2f} min "
        f"(standard error {standard_error:.2f})"
    )


def test_erlang_c_reference_values():
    """The closed form gives the textbook values for one and two servers."""
    # M/M/1 with lambda=0.5, mu=1: Wq = rho / (mu - lambda) = 1.
    assert math.isclose(erlang_c_wait(1, 0.5, 1.0), 1.0)
    # M/M/2 with lambda=1, mu=1: Wq = 1/3.
    assert math.isclose(erlang_c_wait(2, 1.0, 1.0), 1 / 3)
