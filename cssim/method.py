"""Outreach methods resolved for one replication: probabilities as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from cssim.scenario import Method, UncertainProbability
from cssim.tier import LIVE_TIERS


def draw_probability(
    value: float | UncertainProbability,
    rng: np.random.Generator,
    fixed: bool,
) -> float:
    """A plain probability: posterior draws vary by replication unless fixed."""
    if isinstance(value, UncertainProbability):
        return value.mean() if fixed else float(rng.beta(value.a, value.b))
    return float(value)


def _per_tier(values, rng, fixed, fallback=None) -> np.ndarray:
    out = np.zeros(len(LIVE_TIERS))
    for index, tier in enumerate(LIVE_TIERS):
        if isinstance(values, dict):
            if tier in values:
                out[index] = draw_probability(values[tier], rng, fixed)
            elif fallback is not None:
                out[index] = fallback[index]
        else:
            out[index] = draw_probability(values, rng, fixed)
    return out


@dataclass
class ResolvedMethod:
    """One method's numbers for one replication."""

    name: str
    spec: Method
    response: np.ndarray
    """Response probability by [segment, tier] before message lifts."""
    action: np.ndarray
    """Action probability by tier, given a response."""

    def response_probability(self, segment: int, tier: int, message: str) -> float:
        """Chance of a response, with the message's odds multiplier applied."""
        base = self.response[segment, tier]
        lift = self.spec.response.messages.get(message, 1.0)
        if lift == 1.0 or base >= 1.0:
            return base
        odds = base / (1.0 - base) * lift
        return odds / (1.0 + odds)


    def response_probabilities(self, segments: np.ndarray, tiers: np.ndarray,
                               messages: np.ndarray) -> np.ndarray:
        """Chances of a response for many touches at once, lifts applied."""
        base = self.response[segments, tiers]
        lifts = np.ones(len(base))
        for message, lift in self.spec.response.messages.items():
            lifts[messages == message] = lift
        odds = base / np.maximum(1.0 - base, 1e-12) * lifts
        return np.where(base >= 1.0, 1.0, odds / (1.0 + odds))


def resolve_methods(
    methods: dict[str, Method],
    segment_names: list[str],
    rng: np.random.Generator,
    fixed: bool,
) -> dict[str, ResolvedMethod]:
    """Draw each uncertain probability once, in a fixed order, for a replication."""
    resolved = {}
    for name, spec in methods.items():
        default = _per_tier(spec.response.default, rng, fixed)
        table = np.tile(default, (len(segment_names), 1))
        for segment, values in spec.response.segments.items():
            row = segment_names.index(segment)
            table[row] = _per_tier(values, rng, fixed, fallback=default)
        action = _per_tier(spec.action_probability, rng, fixed)
        shift = spec.response.log_odds_shift
        if shift is not None:
            delta = shift.mean() if fixed else float(shift.sample(rng))
            table = special.expit(special.logit(np.clip(table, 1e-9, 1 - 1e-9))
                                  + delta)
        resolved[name] = ResolvedMethod(name, spec, table, action)
    return resolved
