"""Running many replications of a scenario, in parallel, reproducibly.

Replication ``i`` always gets child ``i`` of ``SeedSequence(seed)``, and
results are put back in replication order, so the same scenario and seed give
the same numbers whatever the number of worker processes.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cssim.engine import MONTH_DAYS, simulate
from cssim.errors import CapacityWarning
from cssim.kpi import compute_kpis, summarise
from cssim.scenario import Scenario

logger = logging.getLogger("cssim")

SATURATED_UTILISATION = 0.95
"""Utilisation above which a team with a backlog is taken to be over capacity."""


@dataclass
class ReplicationResult:
    """One replication's KPIs and detail tables."""

    replication: int
    kpis: pd.DataFrame
    log: pd.DataFrame
    snapshots: pd.DataFrame
    rep_days: pd.DataFrame


@dataclass
class RunResult:
    """Every replication of one run, and the summary over them."""

    scenario: Scenario
    seed: int
    replications: int
    workers: int
    kpis: pd.DataFrame
    summary: pd.DataFrame
    log: pd.DataFrame
    snapshots: pd.DataFrame
    rep_days: pd.DataFrame


def months_in(scenario: Scenario) -> int:
    """Number of 30-day KPI months in the horizon (a partial last month counts)."""
    return math.ceil(scenario.horizon_days / MONTH_DAYS)


def replicate(scenario: Scenario, seed: int, replication: int,
              fixed_parameters: bool = False) -> ReplicationResult:
    """Simulate one replication and measure its KPIs."""
    sequence = np.random.SeedSequence(seed, spawn_key=(replication,))
    output, _ = simulate(scenario, sequence, fixed_parameters)
    kpis = compute_kpis(
        output.log, output.snapshots, output.start, months_in(scenario),
        due=output.due, rep_days=output.rep_days,
    )
    return ReplicationResult(
        replication=replication,
        kpis=kpis.assign(replication=replication),
        log=output.log.assign(replication=replication),
        snapshots=output.snapshots.assign(replication=replication),
        rep_days=output.rep_days.assign(replication=replication),
    )


def run_replications(
    scenario: Scenario,
    replications: int | None = None,
    seed: int | None = None,
    workers: int | None = None,
    fixed_parameters: bool = False,
    on_done: Callable[[int], None] | None = None,
) -> RunResult:
    """Run replications in ``workers`` processes (all cores by default).

    ``on_done(replication)`` is called in this process as each one finishes,
    for progress display.
    """
    replications = replications or scenario.replications
    seed = scenario.seed if seed is None else seed
    workers = min(workers or os.cpu_count() or 1, replications)
    logger.info("running %d replications of %r with seed %d on %d worker(s)",
                replications, scenario.name, seed, workers)

    results: list[ReplicationResult] = []
    if workers == 1:
        for replication in range(replications):
            results.append(replicate(scenario, seed, replication, fixed_parameters))
            if on_done:
                on_done(replication)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(replicate, scenario, seed, replication, fixed_parameters)
                for replication in range(replications)
            ]
            for future in as_completed(futures):
                results.append(future.result())
                if on_done:
                    on_done(results[-1].replication)
    results.sort(key=lambda result: result.replication)

    def stack(name: str) -> pd.DataFrame:
        frames = [getattr(result, name) for result in results]
        frame = pd.concat(frames, ignore_index=True)
        return frame[["replication"] + [c for c in frame if c != "replication"]]

    kpis = stack("kpis")
    summary = summarise(kpis)
    _warn_if_over_capacity(scenario, summary)
    ran = scenario.model_copy(update={"replications": replications, "seed": seed})
    return RunResult(
        scenario=ran, seed=seed, replications=replications, workers=workers,
        kpis=kpis, summary=summary, log=stack("log"), snapshots=stack("snapshots"),
        rep_days=stack("rep_days"),
    )


def _warn_if_over_capacity(scenario: Scenario, summary: pd.DataFrame) -> None:
    """Warn when demand is above capacity.

    Either the mean backlog grows every month, or the team is nearly fully
    busy in the last month and still ends it with customers waiting.
    """
    overall = summary[summary["segment"] == "all"].sort_values("month")
    backlog = overall.loc[overall["kpi"] == "backlog", "mean"].to_numpy()
    busy = overall.loc[overall["kpi"] == "rep_utilisation", "mean"].to_numpy()
    if len(backlog) == 0 or backlog[-1] <= 0:
        return

    growing = len(backlog) >= 2 and bool(np.all(np.diff(backlog) > 0))
    saturated = len(busy) > 0 and busy[-1] >= SATURATED_UTILISATION
    if growing or saturated:
        warnings.warn(
            f"{scenario.name}: demand is above the team's capacity: "
            f"{backlog[-1]:.0f} customers still waiting at the last month end "
            f"(month ends: {', '.join(f'{m:.0f}' for m in backlog)})",
            CapacityWarning,
            stacklevel=3,
        )
