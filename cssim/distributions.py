"""Random quantities named as scipy.stats families, validated when a scenario loads."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, model_validator
from scipy import stats


class Distribution(BaseModel):
    """A scipy.stats continuous family with its parameters, e.g. lognorm(s, scale).

    Written in a scenario as ``{family: lognorm, s: 0.6, scale: 8}``; a bare
    number stands for a constant.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    family: str

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return {"family": "constant", "value": float(value)}
        return value

    @model_validator(mode="after")
    def _check_family(self) -> "Distribution":
        params = self.params
        if self.family == "constant":
            if set(params) != {"value"}:
                raise ValueError("a constant takes exactly one parameter, 'value'")
            return self

        family = getattr(stats, self.family, None)
        if not isinstance(family, stats.rv_continuous):
            raise ValueError(
                f"family {self.family!r} is not a scipy.stats continuous "
                "distribution (e.g. expon, lognorm, gamma, weibull_min, beta)"
            )
        shapes = [s.strip() for s in (family.shapes or "").split(",") if s.strip()]
        allowed = set(shapes) | {"loc", "scale"}
        unknown = set(params) - allowed
        missing = set(shapes) - set(params)
        if unknown or missing:
            raise ValueError(
                f"{self.family} takes shape parameters {shapes or 'none'} plus "
                f"loc and scale; got {sorted(params)}"
            )
        for name, value in params.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"parameter {name!r} must be a number, got {value!r}")
        if params.get("scale", 1.0) <= 0:
            raise ValueError(f"scale must be positive, got {params['scale']}")
        return self

    @property
    def params(self) -> dict[str, float]:
        """The family's parameters as given."""
        return dict(self.__pydantic_extra__ or {})

    @cached_property
    def frozen(self) -> Any:
        """The frozen scipy.stats distribution (not for constants)."""
        return getattr(stats, self.family)(**self.params)

    def sample(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """Draw from the distribution with the caller's generator."""
        if self.family == "constant":
            value = self.params["value"]
            return value if size is None else np.full(size, value)
        return self.frozen.rvs(size=size, random_state=rng)

    def mean(self) -> float:
        """The distribution's mean."""
        if self.family == "constant":
            return self.params["value"]
        return float(self.frozen.mean())

    def support_min(self) -> float:
        """The smallest value the distribution can produce."""
        if self.family == "constant":
            return self.params["value"]
        return float(self.frozen.support()[0])

    def describe(self) -> str:
        """Short text such as ``lognorm(s=0.6, scale=8)``."""
        inner = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{self.family}({inner})"
