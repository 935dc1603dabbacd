"""Small scenario dictionaries for tests, each a valid starting point to modify."""

from __future__ import annotations

import copy
from typing import Any

STAY = {"green": {"green": 1.0}, "yellow": {"yellow": 1.0}, "red": {"red": 1.0}}
NO_RENEWAL_EVENTS = {
    "cycle_days": 100000,
    "green": {"churn": 0.0, "renew": 1.0},
    "yellow": {"churn": 0.0, "renew": 1.0},
    "red": {"churn": 0.0, "renew": 1.0},
}
ALWAYS_ON = {
    "weekly_hours": 168,
    "working_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "day_start_hour": 0,
    "shrinkage": 0.0,
}


def minimal(**changes: Any) -> dict[str, Any]:
    """A one-segment, one-rep, one-method scenario with frozen tiers."""
    scenario = {
        "name": "test",
        "horizon_days": 30,
        "replications": 2,
        "seed": 1,
        "segments": {
            "smb": {
                "customers": 200,
                "initial_tiers": {"red": 1.0},
                "transitions": copy.deepcopy(STAY),
                "renewal": copy.deepcopy(NO_RENEWAL_EVENTS),
            }
        },
        "reps": [{"name": "rep", **ALWAYS_ON}],
        "methods": {
            "phone": {
                "handling_minutes": 10,
                "response": {"default": 0.0},
                "followup_minutes": 5,
            }
        },
        "policy": {"tiers": ["red"], "order": [], "attempts": [{"method": "phone"}]},
    }
    scenario.update(changes)
    return scenario
