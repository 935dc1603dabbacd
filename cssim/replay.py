"""Forecasts for outreach already scheduled or made: draw what customers do.

A backtest asks what a calibrated scenario predicts for the touches a team
actually made. Replay takes those touches as given (who, when, which method,
message, tier and segment) and draws each one's response and action from the
scenario's methods, once per replication, with posterior parameters drawn per
replication as in a full run. The KPIs come from the same code as always.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cssim.kpi import outreach_kpis
from cssim.method import resolve_methods
from cssim.scenario import Scenario
from cssim.tier import TIER_INDEX


class ReplayError(ValueError):
    """The schedule names a method, segment or tier the scenario does not have."""


def touches_of(log: pd.DataFrame) -> pd.DataFrame:
    """One row per touch, expanding logs that keep only each customer's last one."""
    from cssim.calibration.log_checks import detect_log_kind, implied_touches

    return implied_touches(log, detect_log_kind(log))


def replay(
    scenario: Scenario,
    schedule: pd.DataFrame,
    replications: int,
    seed: int,
    fixed_parameters: bool = False,
    group: str = "segment",
) -> pd.DataFrame:
    """KPIs per replication for the given touches: replication, month, segment, kpi.

    ``group`` is the log column the KPIs are broken down by (see
    ``cssim.kpi.compute_kpis``).

    Only the outreach KPIs (touches, reach, response and action rates,
    contacts per customer) are meaningful here: health and team load are not
    simulated.
    """
    touches = touches_of(schedule)
    segment_names = list(scenario.segments)
    _check(touches, scenario)
    segment_codes = touches["segment"].map(segment_names.index).to_numpy()
    tier_codes = touches["tier"].map(TIER_INDEX).to_numpy()
    method_codes = touches["method"].astype(str).to_numpy()
    message_codes = touches["message"].astype(str).to_numpy()
    start = pd.Timestamp(scenario.start_date, tz=scenario.timezone)
    months = int(np.ceil(scenario.horizon_days / 30))

    frames = []
    for replication in range(replications):
        sequence = np.random.SeedSequence(seed, spawn_key=(replication,))
        rng = np.random.default_rng(sequence)
        methods = resolve_methods(scenario.methods, segment_names, rng,
                                  fixed_parameters)
        chance = np.zeros(len(touches))
        action = np.zeros(len(touches))
        for name, method in methods.items():
            rows = method_codes == name
            chance[rows] = method.response_probabilities(
                segment_codes[rows], tier_codes[rows], message_codes[rows])
            action[rows] = method.action[tier_codes[rows]]

        responded = rng.random(len(touches)) < chance
        acted = responded & (rng.random(len(touches)) < action)
        frames.append(touches.assign(replication=replication, responded=responded,
                                     acted=acted))

    drawn = pd.concat(frames, ignore_index=True)
    drawn = drawn.assign(outcome=pd.NA, followup_minutes=np.nan)
    kpis = outreach_kpis(drawn, start, months, by=("replication",), group=group)
    return kpis[["replication", "month", "segment", "kpi", "value"]]


def _check(touches: pd.DataFrame, scenario: Scenario) -> None:
    for column, known in (("method", scenario.methods),
                          ("segment", scenario.segments),
                          ("tier", ("green", "yellow", "red"))):
        unknown = sorted(set(touches[column].astype(str)) - set(known))
        if unknown:
            raise ReplayError(
                f"the outreach log has {column} value(s) {unknown} that scenario "
                f"{scenario.name!r} does not define (it has {sorted(known)})"
            )
