"""The scenario schema: every input of a simulated outreach program, validated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PositiveInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cssim.distributions import Distribution
from cssim.tier import LIVE_TIERS

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Minutes = Annotated[float, Field(ge=0.0)]
LiveTier = Literal["green", "yellow", "red"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ROW_SUM_TOLERANCE = 1e-6


class Schema(BaseModel):
    """Base of every scenario section: unknown keys are errors, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True,
                              use_attribute_docstrings=True)


class UncertainProbability(Schema):
    """A probability known only up to a Beta posterior, drawn once per replication."""

    family: Literal["beta"]
    """Always ``beta``."""
    a: float = Field(gt=0)
    """Successes plus the prior's a."""
    b: float = Field(gt=0)
    """Failures plus the prior's b."""

    def mean(self) -> float:
        """The posterior mean, used with fixed parameters."""
        return self.a / (self.a + self.b)


def _probability(value: Any) -> float | UncertainProbability:
    if isinstance(value, UncertainProbability):
        return value
    if isinstance(value, dict):
        return UncertainProbability.model_validate(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a probability in [0, 1] or {family: beta, a, b}")
    if not 0.0 <= value <= 1.0:
        raise ValueError("expected a probability in [0, 1]")
    return float(value)


def _tier_probabilities(value: Any) -> Any:
    if isinstance(value, dict) and "family" not in value:
        unknown = set(value) - set(LIVE_TIERS)
        if unknown:
            raise ValueError(
                f"keys must be tiers {list(LIVE_TIERS)}; got {sorted(unknown)}"
            )
        probabilities = {}
        for tier, probability in value.items():
            try:
                probabilities[tier] = _probability(probability)
            except ValueError as error:
                raise ValueError(f"tier {tier!r}: {error}") from None
        return probabilities
    return _probability(value)


@dataclass(frozen=True)
class Label:
    """How the scenario reference names a type that pydantic sees as Any."""

    text: str


ProbabilityValue = Annotated[Any, PlainValidator(_probability),
                             Label("probability or beta posterior")]
"""A probability, or a ``{family: beta, a, b}`` posterior over it."""

TierProbabilities = Annotated[Any, PlainValidator(_tier_probabilities),
                              Label("probability, or per tier")]
"""One probability for every tier, or one per tier (tiers left out get 0)."""


def _check_rows(rows: dict[str, dict[str, float]], what: str) -> None:
    for source, row in rows.items():
        total = sum(row.values())
        if abs(total - 1.0) > ROW_SUM_TOLERANCE:
            raise ValueError(
                f"{what} row {source!r} sums to {total:.6g}; each row must sum to 1"
            )


class DirichletRow(Schema):
    """A row of probabilities known up to a Dirichlet posterior, drawn per run."""

    family: Literal["dirichlet"]
    """Always ``dirichlet``."""
    alpha: dict[str, float]
    """Concentration per outcome: counts seen plus the prior's."""

    @field_validator("alpha")
    @classmethod
    def _positive(cls, alpha: dict[str, float]) -> dict[str, float]:
        for name, value in alpha.items():
            if value <= 0:
                raise ValueError(f"alpha of {name!r} must be positive, got {value}")
        return alpha

    def mean(self) -> dict[str, float]:
        """The posterior mean row."""
        total = sum(self.alpha.values())
        return {name: value / total for name, value in self.alpha.items()}

    def draw(self, rng: np.random.Generator) -> dict[str, float]:
        """One row drawn from the posterior."""
        values = rng.dirichlet(list(self.alpha.values()))
        return dict(zip(self.alpha, values.tolist()))


def _row(outcomes: tuple[str, ...], what: str):
    """Validator of a row: plain probabilities summing to 1, or a Dirichlet."""
    def validate(value: Any, info: ValidationInfo) -> dict[str, float] | DirichletRow:
        if isinstance(value, DirichletRow):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"expected a {what} row {{outcome: probability}} or "
                             "{family: dirichlet, alpha: {..}}")
        if "family" in value:
            row = DirichletRow.model_validate(value)
            names = row.alpha
        else:
            row = {name: _probability(p) for name, p in value.items()}
            names = row
            if any(isinstance(p, UncertainProbability) for p in row.values()):
                raise ValueError("row entries must be plain probabilities; use "
                                 "{family: dirichlet, alpha: ..} for uncertainty")
            total = sum(row.values())
            if abs(total - 1.0) > ROW_SUM_TOLERANCE:
                raise ValueError(f"{what} row {info.field_name!r} sums to "
                                 f"{total:.6g}; it must sum to 1")
        unknown = set(names) - set(outcomes)
        if unknown:
            raise ValueError(f"outcomes must be among {list(outcomes)}; got "
                             f"{sorted(unknown)}")
        return row

    return PlainValidator(validate)


TransitionRow = Annotated[
    Any, _row(("green", "yellow", "red", "churned"), "transition"),
    Label("row: {tier: probability} or dirichlet")]
"""Where a customer of one tier is a period later: probabilities or a Dirichlet."""


def draw_row(row: dict[str, float] | DirichletRow, rng: np.random.Generator,
             fixed: bool) -> dict[str, float]:
    """Plain probabilities for one replication: posterior rows drawn unless fixed."""
    if isinstance(row, DirichletRow):
        return row.mean() if fixed else row.draw(rng)
    return dict(row)


class Transitions(Schema):
    """Tier-to-tier move probabilities over ``period_days`` (default a 30-day month).

    Each row gives the chances that a customer in that tier is in each tier
    (or churned) one period later; the engine converts them to a daily step
    with the matrix root (see ``cssim.tier.daily_matrix``).
    """

    period_days: float = Field(default=30.0, gt=0)
    """Days the probabilities cover (30: a month)."""
    green: TransitionRow
    """Where a green customer is one period later; sums to 1, or a Dirichlet."""
    yellow: TransitionRow
    """Where a yellow customer is one period later; sums to 1, or a Dirichlet."""
    red: TransitionRow
    """Where a red customer is one period later; sums to 1, or a Dirichlet."""

    def rows(self, rng: np.random.Generator | None = None,
             fixed: bool = True) -> dict[str, dict[str, float]]:
        """The matrix as ``{from: {to: probability}}``; posterior rows drawn."""
        return {tier: draw_row(getattr(self, tier), rng, fixed or rng is None)
                for tier in LIVE_TIERS}


STAY_PUT = {tier: {tier: 1.0} for tier in LIVE_TIERS}

RenewalRow = Annotated[Any, _row(("churn", "renew", "expand"), "renewal"),
                       Label("row: {churn, renew, expand} or dirichlet")]
"""Chances of churn, renew and expand at renewal: probabilities or a Dirichlet."""


class Renewal(Schema):
    """Renewal cycle and the churn, renew and expand odds at renewal by tier."""

    cycle_days: float = Field(default=365.0, gt=0)
    """Days between renewals; first renewals spread evenly over one cycle."""
    green: RenewalRow = {"churn": 0.02, "renew": 0.83, "expand": 0.15}
    """Renewal odds of a green customer (churn, renew, expand)."""
    yellow: RenewalRow = {"churn": 0.10, "renew": 0.85, "expand": 0.05}
    """Renewal odds of a yellow customer (churn, renew, expand)."""
    red: RenewalRow = {"churn": 0.35, "renew": 0.65, "expand": 0.0}
    """Renewal odds of a red customer (churn, renew, expand)."""
    expansion_uplift: Distribution = Distribution.model_validate(
        {"family": "uniform", "loc": 0.05, "scale": 0.25}
    )
    """Share of ARR added by an expansion."""

    def odds(self, rng: np.random.Generator | None = None,
             fixed: bool = True) -> np.ndarray:
        """Chances of (churn, expand) by live tier, posterior rows drawn with rng."""
        table = np.zeros((len(LIVE_TIERS), 2))
        for index, tier in enumerate(LIVE_TIERS):
            row = draw_row(getattr(self, tier), rng, fixed or rng is None)
            table[index] = row.get("churn", 0.0), row.get("expand", 0.0)
        return table


class Segment(Schema):
    """A group of customers that share rates: plan, region, size or industry."""

    customers: PositiveInt | None = None
    """Number of customers to draw (or give accounts)."""
    accounts: str | None = None
    """CSV with columns customer_id, tier, arr and optional renewal_date."""
    arr: Distribution = Distribution.model_validate(
        {"family": "lognorm", "s": 0.8, "scale": 20000}
    )
    """Annual recurring revenue per customer, drawn when the book is built."""
    initial_tiers: dict[LiveTier, Probability] = {"green": 0.6, "yellow": 0.25,
                                                   "red": 0.15}
    """Share of customers starting in each tier; sums to 1."""
    transitions: Transitions = Transitions(**STAY_PUT)
    """Tier moves without outreach; default: nobody moves."""
    renewal: Renewal = Renewal()
    """Renewal cycle and odds."""

    @model_validator(mode="after")
    def _book_is_given_once(self) -> "Segment":
        if (self.customers is None) == (self.accounts is None):
            raise ValueError("give either 'customers' (a count) or 'accounts' (a CSV)")
        return self

    @field_validator("initial_tiers")
    @classmethod
    def _mix_sums_to_one(cls, mix: dict[str, float]) -> dict[str, float]:
        _check_rows({"initial_tiers": mix}, "tier mix")
        return mix


class RepGroup(Schema):
    """One rep, or ``count`` identical reps, with their calendar and coverage."""

    name: str
    """Rep id, or the prefix of ids name-1, name-2... when count > 1."""
    count: PositiveInt = 1
    """Identical reps in this group."""
    weekly_hours: float = Field(default=40.0, gt=0, le=168)
    """Contracted hours a week; a part-timer has fewer."""
    working_days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    """Days of the week the rep works; hours split evenly over them."""
    day_start_hour: float = Field(default=9.0, ge=0, lt=24)
    """Local hour the working window opens."""
    shrinkage: float = Field(default=0.2, ge=0, lt=1)
    """Share of working time lost to meetings, training and leave."""
    segments: list[str] | None = None
    """Segments this rep covers; all when left out."""
    start_day: int = Field(default=0, ge=0)
    """Program day the rep starts (a hire later in the quarter)."""
    ramp_days: int = Field(default=0, ge=0)
    """Days from start to full capacity; 0 for none."""
    ramp_start_share: float = Field(default=0.5, ge=0, le=1)
    """Share of full capacity on the first day; rises linearly to 1 over ramp_days."""

    @model_validator(mode="after")
    def _day_fits_in_calendar(self) -> "RepGroup":
        if not self.working_days:
            raise ValueError("working_days must name at least one day")
        hours_per_day = self.weekly_hours / len(self.working_days)
        if self.day_start_hour + hours_per_day > 24 + 1e-9:
            raise ValueError(
                f"weekly_hours {self.weekly_hours:g} over {len(self.working_days)} "
                f"working days is {hours_per_day:g} hours a day, which from "
                f"day_start_hour {self.day_start_hour:g} runs past midnight"
            )
        return self

    @property
    def hours_per_day(self) -> float:
        """Contracted hours on each working day, before shrinkage."""
        return self.weekly_hours / len(self.working_days)


class UnrelatedRequests(Schema):
    """Requests unrelated to health that a response brings with it."""

    probability: Probability = 0.0
    """Chance that a response brings an unrelated request."""
    minutes: Distribution = Distribution.model_validate(20.0)
    """Rep minutes to handle one."""
    kinds: dict[str, Probability] = {
        "feature_request": 0.4,
        "technical_problem": 0.3,
        "training_need": 0.2,
        "billing_question": 0.1,
    }
    """Share of each kind of request; written as the touch's outcome."""

    @field_validator("kinds")
    @classmethod
    def _kinds_sum_to_one(cls, kinds: dict[str, float]) -> dict[str, float]:
        _check_rows({"kinds": kinds}, "request kind")
        return kinds


class Response(Schema):
    """Response probability by tier, with per-segment overrides and message lifts."""

    default: TierProbabilities = 0.1
    """Chance of a response per touch, one number or per tier."""
    segments: dict[str, TierProbabilities] = {}
    """Per-segment values; tiers left out use the default."""
    messages: dict[str, float] = {}
    """Odds multipliers per message variant; variants left out have 1."""
    log_odds_shift: Distribution | None = None
    """Drawn once per replication and added to every cell's log-odds: drift
    that moves all segments and tiers together (e.g. norm(loc, scale))."""

    @field_validator("messages")
    @classmethod
    def _positive_lifts(cls, lifts: dict[str, float]) -> dict[str, float]:
        for name, lift in lifts.items():
            if lift <= 0:
                raise ValueError(f"odds multiplier for message {name!r} must be "
                                 f"positive, got {lift}")
        return lifts


class Method(Schema):
    """An outreach method: its cost in rep time, its response and what follows."""

    handling_minutes: Distribution = Distribution.model_validate(10.0)
    """Rep minutes per contact (preparation and handling)."""
    batch_minutes: Minutes = 0.0
    """Fixed rep minutes per batch (a webinar session); 0 for one-to-one methods."""
    seats: PositiveInt | None = None
    """Most customers in one batch; one-to-one methods leave it out."""
    response: Response = Response()
    """Chance of a response per touch, by tier, segment and message."""
    action_probability: TierProbabilities = 0.5
    """Chance that a responding customer does what was asked."""
    response_delay_days: Distribution = Distribution.model_validate(
        {"family": "expon", "scale": 2.0}
    )
    """Days from the touch to the response."""
    response_window_days: float = Field(default=14.0, gt=0)
    """Responses later than this are not counted (and create no work)."""
    followup_minutes: Distribution = Distribution.model_validate(15.0)
    """Rep minutes of follow-up each response creates for the customer's owner."""
    unrelated_requests: UnrelatedRequests = UnrelatedRequests()
    """Requests unrelated to health that responses bring."""
    unsubscribe_probability: Probability = 0.0
    """Chance per touch of an unsubscribe (ends outreach to the customer)."""
    complaint_probability: Probability = 0.0
    """Chance per touch of a complaint."""

    @field_validator("handling_minutes", "followup_minutes", "response_delay_days")
    @classmethod
    def _non_negative(cls, value: Distribution) -> Distribution:
        if value.support_min() < 0:
            raise ValueError(
                f"{value.describe()} can draw negative values; use a family on "
                "[0, inf) such as expon, lognorm, gamma or weibull_min"
            )
        return value

    @model_validator(mode="after")
    def _batch_has_seats(self) -> "Method":
        if self.batch_minutes > 0 and self.seats is None:
            raise ValueError("a method with batch_minutes needs seats (its cap)")
        return self


class Attempt(Schema):
    """One touch of the outreach sequence."""

    method: str
    """A method defined under methods."""
    message: str = "default"
    """Message variant (see the method's response.messages)."""
    after_days: float = Field(default=0.0, ge=0)
    """Days after the previous attempt (ignored for the first)."""


class Wave(Schema):
    """Customers released into the queue on a day of the program."""

    day: int = Field(ge=0)
    """Program day the wave opens."""
    segments: list[str] | None = None
    """Segments it opens; all targeted ones when left out."""
    tiers: list[LiveTier] | None = None
    """Tiers it opens; the policy's tiers when left out."""


class Release(Schema):
    """How eligible customers of a wave enter the queue."""

    mode: Literal["at_once", "poisson"] = "at_once"
    """at_once: everyone due joins the queue; poisson: a random drip."""
    per_day: float | None = Field(default=None, gt=0)
    """Mean releases per day for ``poisson`` (a drip in priority order)."""

    @model_validator(mode="after")
    def _rate_given(self) -> "Release":
        if (self.mode == "poisson") != (self.per_day is not None):
            raise ValueError("per_day is required with mode 'poisson' and only there")
        return self


class Policy(Schema):
    """Who is contacted, in what order, how often and with which method."""

    tiers: list[LiveTier] = ["red", "yellow"]
    """Tiers eligible for outreach."""
    segments: list[str] | None = None
    """Segments eligible; all when left out."""
    min_arr: float = Field(default=0.0, ge=0)
    """Smallest ARR eligible."""
    order: list[Literal["tier", "arr", "segment"]] = ["tier", "arr"]
    """Priority keys: tier (red first), arr (largest first), segment (as listed)."""
    segment_order: list[str] | None = None
    """Segment order for the segment key; definition order when left out."""
    waves: list[Wave] = [Wave(day=0)]
    """When each segment and tier opens; default: everything on day 0."""
    release: Release = Release()
    """How due customers enter the queue."""
    attempts: list[Attempt] = Field(min_length=1)
    """The touch sequence: method, message and spacing of each attempt."""
    stop_on_response: bool = True
    """Skip later attempts once the customer has responded."""
    max_contacts_per_30_days: PositiveInt = 3
    """Never more touches than this to one customer in any 30 days."""
    enter_when_eligible: bool = True
    """Customers who drop into an eligible tier mid-program join the queue."""


class Engagement(Schema):
    """How acting on outreach changes a customer's tier moves, and for how long."""

    duration_days: float = Field(default=60.0, ge=0)
    """Days an action keeps a customer on the engaged transitions."""
    transitions: Transitions | None = None
    """Moves while engaged; None keeps the segment's own transitions."""
    fatigue_multiplier: float = Field(default=1.5, ge=1)
    """Unsubscribe and complaint odds multiply by this per earlier touch in 30 days."""


class Scenario(Schema):
    """A whole outreach program: book, team, methods, policy and horizon."""

    name: str
    """Scenario name; names the MLflow experiment and output folder."""
    description: str = ""
    """Free text."""
    objective: Literal["retention", "expansion"] = "retention"
    """What the program is for; recorded with the run."""
    start_date: dt.date = dt.date(2026, 1, 5)
    """First program day."""
    timezone: str = "UTC"
    """Zone of the reps' working hours; log times are written in UTC."""
    horizon_days: PositiveInt = 90
    """Days simulated; KPIs come in 30-day months."""
    replications: PositiveInt = 100
    """Replications when the command line does not say."""
    seed: int = Field(default=0, ge=0)
    """Seed when the command line does not say."""
    segments: dict[str, Segment] = Field(min_length=1)
    """The book, by segment name."""
    reps: list[RepGroup] = Field(min_length=1)
    """The team."""
    methods: dict[str, Method] = Field(min_length=1)
    """Outreach methods by name (phone, email, webinar, self_serve...)."""
    policy: Policy
    """Who is contacted, in what order, how and how often."""
    engagement: Engagement = Engagement()
    """How acting on outreach changes tier moves."""
    sources: dict[str, str] = {}
    """Free text per field path saying where a number came from."""

    @model_validator(mode="after")
    def _names_resolve(self) -> "Scenario":
        problems: list[str] = []
        segment_names = set(self.segments)

        def check(names: list[str] | None, where: str) -> None:
            for name in names or []:
                if name not in segment_names:
                    problems.append(
                        f"{where} names segment {name!r}, which is not defined "
                        f"(segments: {sorted(segment_names)})"
                    )

        for i, rep in enumerate(self.reps):
            check(rep.segments, f"reps.{i}.segments")
        check(self.policy.segments, "policy.segments")
        check(self.policy.segment_order, "policy.segment_order")
        for i, wave in enumerate(self.policy.waves):
            check(wave.segments, f"policy.waves.{i}.segments")
        for name, method in self.methods.items():
            check(list(method.response.segments), f"methods.{name}.response.segments")
        for i, attempt in enumerate(self.policy.attempts):
            if attempt.method not in self.methods:
                problems.append(
                    f"policy.attempts.{i}.method is {attempt.method!r}, which is not "
                    f"defined (methods: {sorted(self.methods)})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r} (e.g. UTC, Europe/Lisbon)")
        return zone

    def targeted_segments(self) -> list[str]:
        """Segments the policy may contact."""
        return list(self.policy.segments or self.segments)

    def uncovered_segments(self) -> list[str]:
        """Targeted segments that no rep covers."""
        covered: set[str] = set()
        for rep in self.reps:
            covered.update(rep.segments or self.segments)
        return [name for name in self.targeted_segments() if name not in covered]


def resolve(scenario: Scenario) -> dict[str, Any]:
    """The scenario with every default filled in, as plain data."""
    return scenario.model_dump(mode="json")
