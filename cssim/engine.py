"""The discrete-event engine: one replication of an outreach program in SimPy.

Reps are long-lived SimPy processes pulling tasks from the policy's queue
inside their calendars; responses are scheduled callbacks; the whole book's
tiers move once a day with numpy. The engine returns data (an engagement log,
tier snapshots, the due list and rep days), never log lines.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from cssim.book import Book, build_book
from cssim.distributions import Distribution
from cssim.engagement_log import LOG_COLUMNS, SNAPSHOT_COLUMNS, conform
from cssim.method import ResolvedMethod, resolve_methods
from cssim.policy import Eligibility, OutreachQueue, Priority, Task
from cssim.rep import MINUTES_PER_DAY, RepCalendar, build_calendars
from cssim.scenario import Scenario
from cssim.tier import CHURNED, TIERS, daily_matrix, matrix_from_rows
from cssim.tier import step_tiers

MONTH_DAYS = 30
"""KPI months are 30-day periods from the program start."""

STREAMS = ("parameters", "book", "tiers", "renewals", "outreach", "durations",
           "release")
"""Named random streams; each replication spawns one generator per stream so a
change in one part (staffing, say) does not shift another's draws."""



@dataclass
class SimulationOutput:
    """What one replication produced, as plain tables."""

    log: pd.DataFrame
    snapshots: pd.DataFrame
    due: pd.DataFrame
    rep_days: pd.DataFrame
    tier_counts: np.ndarray
    """Customers by [day, segment, tier] at the start of each day."""
    segment_names: list[str]
    start: pd.Timestamp


class Draws:
    """Values from one distribution, drawn in blocks for speed."""

    def __init__(self, distribution: Distribution, rng: np.random.Generator,
                 block: int = 256):
        self.distribution = distribution
        self.rng = rng
        self.block = block
        self.values: list[float] = []

    def next(self) -> float:
        """The next value."""
        if not self.values:
            self.values = self.distribution.sample(self.rng, self.block).tolist()
            self.values.reverse()
        return self.values.pop()


class Uniforms:
    """Uniform(0, 1) draws in blocks."""

    def __init__(self, rng: np.random.Generator, block: int = 1024):
        self.rng = rng
        self.block = block
        self.values: list[float] = []

    def next(self) -> float:
        """The next uniform."""
        if not self.values:
            self.values = self.rng.random(self.block).tolist()
        return self.values.pop()


@dataclass(slots=True)
class Touch:
    """One touch as the engine records it; becomes an engagement-log row."""

    customer: int
    segment: int
    tier: int
    contacted_minute: float
    method: str
    message: str
    attempt: int
    rep: int
    handling_minutes: float
    responded: bool = False
    responded_minute: float = np.nan
    acted: bool = False
    outcome: str | None = None
    followup_minutes: float = 0.0


@dataclass
class FollowUp:
    """Rep work created by a response, owed by the customer's owner."""

    touch: int
    minutes: float


def spawn_streams(seed: np.random.SeedSequence) -> dict[str, np.random.Generator]:
    """One generator per named stream, all from the replication's seed sequence."""
    children = seed.spawn(len(STREAMS))
    return {name: np.random.default_rng(child)
            for name, child in zip(STREAMS, children)}


class OutreachProgram:
    """State and processes of one replication."""

    def __init__(self, scenario: Scenario, seed: np.random.SeedSequence,
                 fixed_parameters: bool = False):
        self.scenario = scenario
        self.fixed_parameters = fixed_parameters
        self.rng = spawn_streams(seed)
        self.env = simpy.Environment()
        self.horizon = scenario.horizon_days
        self.book: Book = build_book(scenario, self.rng["book"])
        self.methods = resolve_methods(
            scenario.methods, self.book.segment_names, self.rng["parameters"],
            fixed_parameters,
        )
        self._setup_tiers()
        self._setup_outreach()

    def _setup_tiers(self) -> None:
        """Daily cumulative transition rows per (segment, engaged) group."""
        rng, fixed = self.rng["parameters"], self.fixed_parameters
        engaged_spec = self.scenario.engagement.transitions
        engaged_rows = engaged_spec.rows(rng, fixed) if engaged_spec else None
        groups = []
        renewal_odds = []
        for segment in self.scenario.segments.values():
            own = segment.transitions
            own_rows = own.rows(rng, fixed)
            for spec, rows in ((own, own_rows),
                               (engaged_spec or own, engaged_rows or own_rows)):
                daily = daily_matrix(matrix_from_rows(rows), spec.period_days)
                groups.append(np.cumsum(daily, axis=1))
            renewal_odds.append(segment.renewal.odds(rng, fixed))
        self.cumulative = np.stack(groups)
        self.renewal_odds = np.stack(renewal_odds)
        """Chances of (churn, expand) at renewal by [segment, live tier]."""
        count = len(self.book)
        self.engaged_until = np.full(count, -1.0)
        self.tier_counts = np.zeros(
            (self.horizon + 1, len(self.book.segment_names), len(TIERS)), dtype=np.int32
        )
        self.snapshots: list[pd.DataFrame] = []

    def _setup_outreach(self) -> None:
        count = len(self.book)
        self.calendars: list[RepCalendar] = build_calendars(
            self.scenario.reps, self.book.segment_names, self.scenario.start_date,
            self.horizon + 1,
        )
        self.queue = OutreachQueue(len(self.book.segment_names))
        self.eligibility = Eligibility(self.scenario, self.book)
        self.priority = Priority(self.scenario, self.book)
        self.queued = np.zeros(count, dtype=bool)
        self.unsubscribed = np.zeros(count, dtype=bool)
        self.responded = np.zeros(count, dtype=bool)
        self.owner = [-1] * count
        self.segment_of: list[int] = self.book.segment.tolist()
        self.tier_of: list[int] = self.book.tier.tolist()
        """Plain-list copies for the per-touch path, refreshed every day."""
        self.touch_times: dict[int, list[float]] = {}
        self.touches: list[Touch] = []
        self.due_records: list[list] = []
        self.waiting: dict[int, tuple[int, Task]] = {}
        """Customers due but not yet contacted: their due record and first task."""
        self.followups: list[deque[FollowUp]] = [deque() for _ in self.calendars]
        self.release_pool: list[tuple[int, int]] = []
        self.work_signal = self.env.event()
        self.agenda: list[tuple[float, int, int, int, str]] = []
        """Retries and responses by time; applied when a rep or the day comes."""
        self.agenda_sequence = 0
        self.idle_reps = 0
        self.alarm_at = math.inf

        outreach, durations = self.rng["outreach"], self.rng["durations"]
        self.uniform = Uniforms(outreach)
        self.handling = {name: Draws(m.spec.handling_minutes, durations)
                         for name, m in self.methods.items()}
        self.followup_minutes = {name: Draws(m.spec.followup_minutes, durations)
                                 for name, m in self.methods.items()}
        self.request_minutes = {name: Draws(m.spec.unrelated_requests.minutes,
                                            durations)
                                for name, m in self.methods.items()}
        self.delays = {name: Draws(m.spec.response_delay_days, outreach)
                       for name, m in self.methods.items()}
        self.method_list = list(self.methods.values())
        self.method_index = {name: i for i, name in enumerate(self.methods)}

    def run(self) -> SimulationOutput:
        """Simulate the horizon and return the replication's tables."""
        self.env.process(self._days())
        if self.scenario.policy.release.mode == "poisson":
            self.env.process(self._drip_release())
        for index in range(len(self.calendars)):
            self.env.process(self._rep(index))
        self.env.run(until=self.horizon * MINUTES_PER_DAY + 1e-6)
        self._catch_up()
        return self._output()

    def _days(self):
        """Each day: renewals, tier moves, snapshots, then who falls due."""
        for day in range(self.horizon + 1):
            self._catch_up()
            if day > 0:
                self._renew(day)
                self._move_tiers(day)
                self.tier_of = self.book.tier.tolist()
                self._drop_recovered()
            self._count_tiers(day)
            if day % MONTH_DAYS == 0 or day == self.horizon:
                self._snapshot(day)
            if day < self.horizon:
                self._fall_due(day)
                yield self.env.timeout(MINUTES_PER_DAY)

    def _renew(self, day: int) -> None:
        """Customers whose renewal fell in the past day churn, renew or expand."""
        book = self.book
        due = np.flatnonzero(
            (book.renewal_day < day) & (book.renewal_day >= day - 1)
            & (book.tier != CHURNED)
        )
        if len(due) == 0:
            return

        rng = self.rng["renewals"]
        draws = rng.random(len(due))
        odds = self.renewal_odds[book.segment[due], book.tier[due]]
        churn = draws < odds[:, 0]
        expand = ~churn & (draws < odds[:, 0] + odds[:, 1])
        book.tier[due[churn]] = CHURNED

        segments = list(self.scenario.segments.values())
        for customer in due[expand].tolist():
            uplift = segments[book.segment[customer]].renewal.expansion_uplift
            book.arr[customer] *= 1.0 + max(uplift.sample(rng), 0.0)
        cycles = np.array([segment.renewal.cycle_days for segment in segments])
        book.renewal_day[due] += cycles[book.segment[due]]

    def _move_tiers(self, day: int) -> None:
        """Every customer takes one daily step of its group's Markov chain."""
        book = self.book
        engaged = self.engaged_until >= day
        group = book.segment.astype(np.intp) * 2 + engaged
        uniforms = self.rng["tiers"].random(len(book))
        book.tier = step_tiers(book.tier, self.cumulative, group, uniforms)

    def _drop_recovered(self) -> None:
        """Customers who churned or left the eligible tiers before contact leave the
        queue (and the backlog); they may fall due again later."""
        if not self.waiting:
            return
        eligible = [TIERS.index(tier) for tier in self.scenario.policy.tiers]
        waiting = np.fromiter(self.waiting, dtype=np.intp, count=len(self.waiting))
        gone = waiting[~np.isin(self.book.tier[waiting], eligible)]
        for customer in gone.tolist():
            self._leave_queue(customer)

    def _leave_queue(self, customer: int) -> None:
        record, task = self.waiting.pop(customer)
        self.due_records[record][3] = self.env.now
        task.cancelled = True
        self.queued[customer] = False

    def _count_tiers(self, day: int) -> None:
        book = self.book
        cells = book.segment.astype(np.intp) * len(TIERS) + book.tier
        counts = np.bincount(cells, minlength=self.tier_counts[day].size)
        self.tier_counts[day] = counts.reshape(self.tier_counts[day].shape)

    def _snapshot(self, day: int) -> None:
        book = self.book
        self.snapshots.append(pd.DataFrame({
            "customer": np.arange(len(book)),
            "day": day,
            "tier": book.tier.copy(),
            "arr": book.arr.copy(),
        }))

    def _fall_due(self, day: int) -> None:
        """Queue customers who became eligible today, in priority then book order."""
        due = self.eligibility.due_now(self.book, day, self.queued | self.unsubscribed)
        if len(due) == 0:
            return

        self.queued[due] = True
        order = self.priority.order(due, self.book.tier[due]).tolist()
        if self.scenario.policy.release.mode == "poisson":
            for customer in order:
                key = self.priority.key(customer, self.tier_of[customer])
                heapq.heappush(self.release_pool, (key, customer))
            return
        now = self.env.now
        for customer in order:
            self._enqueue(customer, 1, now)
        self._signal()

    def _drip_release(self):
        """Release queued customers one at a time at Poisson times."""
        rng = self.rng["release"]
        mean_gap = MINUTES_PER_DAY / self.scenario.policy.release.per_day
        while True:
            yield self.env.timeout(rng.exponential(mean_gap))
            if self.release_pool:
                _, customer = heapq.heappop(self.release_pool)
                self._enqueue(customer, 1, self.env.now)
                self._signal()

    def _enqueue(self, customer: int, attempt: int, now: float) -> None:
        tier = self.tier_of[customer]
        task = self.queue.push(self.segment_of[customer],
                               self.priority.key(customer, tier), now, customer,
                               attempt)
        if attempt == 1:
            record = len(self.due_records)
            self.due_records.append([customer, now, tier, np.nan])
            self.waiting[customer] = (record, task)

    def _signal(self) -> None:
        """Wake every idle rep: new work has arrived."""
        if self.idle_reps and not self.work_signal.triggered:
            self.work_signal.succeed()
            self.work_signal = self.env.event()

    def _rep(self, index: int):
        """A rep: follow-ups first, then the best outreach task it covers."""
        calendar = self.calendars[index]
        env = self.env
        while True:
            opens = calendar.next_open(env.now)
            if opens == float("inf"):
                return
            if opens > env.now:
                yield self._until(opens)

            self._catch_up()
            if self.followups[index]:
                followup = self.followups[index].popleft()
                finish = calendar.work(env.now, followup.minutes)
                yield self._until(min(finish, self._end()))
                self.touches[followup.touch].followup_minutes += followup.minutes
                continue

            batch = self._next_batch(calendar)
            if not batch:
                self.idle_reps += 1
                self._set_alarm()
                yield self.work_signal
                self.idle_reps -= 1
                continue
            yield from self._touch(index, calendar, batch)

    def _until(self, when: float) -> simpy.Timeout:
        """A timeout that fires at ``when``; times a rounding error in the past
        (a finish time recomputed after the clock moved) fire now."""
        return self.env.timeout(max(0.0, when - self.env.now))

    def _end(self) -> float:
        return self.horizon * MINUTES_PER_DAY + 1.0

    def _next_batch(self, calendar: RepCalendar) -> list[Task]:
        """The next valid task, with seat-mates when its method runs in batches."""
        attempts = self.scenario.policy.attempts
        while True:
            task = self.queue.pop(calendar.segments)
            if task is None:
                return []
            if not self._still_wanted(task):
                continue
            if self._over_cap(task):
                continue

            method = self.methods[attempts[task.attempt - 1].method].spec
            if method.seats is None or method.seats == 1:
                return [task]
            name = attempts[task.attempt - 1].method
            mates = self.queue.take_matching(
                calendar.segments,
                lambda other: attempts[other.attempt - 1].method == name
                and other.due <= self.env.now and self._still_wanted(other)
                and not self._over_cap(other, reschedule=False),
                method.seats - 1,
            )
            return [task] + mates

    def _still_wanted(self, task: Task) -> bool:
        """Drop tasks for customers who churned, unsubscribed or already responded."""
        customer = task.customer
        if self.tier_of[customer] == CHURNED or self.unsubscribed[customer]:
            return False
        if task.attempt > 1:
            return not (self.scenario.policy.stop_on_response
                        and self.responded[customer])
        return True

    def _over_cap(self, task: Task, reschedule: bool = True) -> bool:
        """True if one more touch would break the 30-day cap; retry when it allows."""
        times = self.touch_times.get(task.customer)
        cap = self.scenario.policy.max_contacts_per_30_days
        if not times or len(times) < cap:
            return False
        window = MONTH_DAYS * MINUTES_PER_DAY
        recent = [t for t in times if t > self.env.now - window]
        if len(recent) < cap:
            return False
        if reschedule:
            retry_at = recent[-cap] + window
            self._later(retry_at, task.customer, task.attempt)
        return True

    def _later(self, when: float, customer: int, attempt: int) -> None:
        """Put a task in the queue at ``when`` (minutes), through the agenda."""
        self._plan(when, customer, attempt, "retry")

    def _plan(self, when: float, first: int, second: int, kind: str) -> None:
        """Add a retry or a response to the agenda; idle reps get an alarm."""
        if when >= self._end():
            return
        self.agenda_sequence += 1
        heapq.heappush(self.agenda, (when, self.agenda_sequence, first, second, kind))
        if self.idle_reps:
            self._set_alarm()

    def _catch_up(self) -> None:
        """Apply, in time order, every retry and response due by now.

        Keeping them off SimPy's event list saves an event each; results are
        the same because each is applied with its own time before anything
        later can read the state it changes.
        """
        agenda, now = self.agenda, self.env.now
        if not agenda or agenda[0][0] > now:
            return
        while agenda and agenda[0][0] <= now:
            when, _, first, second, kind = heapq.heappop(agenda)
            if kind == "retry":
                self._enqueue(first, second, when)
            else:
                self._respond(first, self.method_list[second], when)
        self._signal()

    def _set_alarm(self) -> None:
        """Wake idle reps when the next agenda item falls due."""
        if not self.agenda or self.agenda[0][0] >= self.alarm_at:
            return
        self.alarm_at = self.agenda[0][0]
        alarm = self._until(self.alarm_at)
        alarm.callbacks.append(self._ring)

    def _ring(self, event: simpy.Event) -> None:
        if self.env.now < self.alarm_at:
            return
        self.alarm_at = math.inf
        self._catch_up()
        if self.idle_reps:
            self._set_alarm()

    def _touch(self, index: int, calendar: RepCalendar, batch: list[Task]):
        """Contact the batch: spend rep time, then draw what each customer does."""
        env = self.env
        attempt_spec = self.scenario.policy.attempts[batch[0].attempt - 1]
        method = self.methods[attempt_spec.method]
        per_contact = [self.handling[method.name].next() for _ in batch]
        shared = method.spec.batch_minutes / len(batch)
        minutes = sum(per_contact) + method.spec.batch_minutes

        start = env.now
        finish = calendar.work(start, minutes)
        rows = []
        for task, own in zip(batch, per_contact):
            customer = task.customer
            rows.append(len(self.touches))
            self.touches.append(Touch(
                customer, self.segment_of[customer],
                self.tier_of[customer], start, method.name,
                attempt_spec.message, task.attempt, index, own + shared,
            ))
            if self.owner[customer] < 0:
                self.owner[customer] = index
            self.waiting.pop(customer, None)
        yield self._until(min(finish, self._end()))
        if finish >= self._end():
            return

        for task, row in zip(batch, rows):
            self._after_touch(task, row, method, finish)

    def _after_touch(self, task: Task, row: int, method: ResolvedMethod,
                     finish: float) -> None:
        """Record the touch's consequences: fatigue, response, next attempt."""
        customer = task.customer
        touch = self.touches[row]
        times = self.touch_times.setdefault(customer, [])
        window = MONTH_DAYS * MINUTES_PER_DAY
        earlier = sum(1 for t in times if t > touch.contacted_minute - window)
        times.append(touch.contacted_minute)

        fatigue = self.scenario.engagement.fatigue_multiplier ** earlier
        spec = method.spec
        if self.uniform.next() < min(1.0, spec.unsubscribe_probability * fatigue):
            self.unsubscribed[customer] = True
            touch.outcome = "unsubscribed"
        elif self.uniform.next() < min(1.0, spec.complaint_probability * fatigue):
            touch.outcome = "complaint"

        chance = method.response_probability(touch.segment, touch.tier, touch.message)
        if self.uniform.next() < chance:
            delay = self.delays[method.name].next()
            if delay <= spec.response_window_days:
                self._schedule_response(row, method, finish + delay * MINUTES_PER_DAY)

        attempts = self.scenario.policy.attempts
        if task.attempt < len(attempts) and not self.unsubscribed[customer]:
            spacing = attempts[task.attempt].after_days * MINUTES_PER_DAY
            self._later(finish + spacing, customer, task.attempt + 1)

    def _schedule_response(self, row: int, method: ResolvedMethod, when: float
                           ) -> None:
        self._plan(when, row, self.method_index[method.name], "response")

    def _respond(self, row: int, method: ResolvedMethod, when: float) -> None:
        """A response arrives at ``when``: maybe an action, engagement, follow-up."""
        touch = self.touches[row]
        customer = touch.customer
        touch.responded = True
        touch.responded_minute = when
        self.responded[customer] = True

        acted = self.uniform.next() < method.action[touch.tier]
        touch.acted = acted
        if acted:
            duration = self.scenario.engagement.duration_days
            self.engaged_until[customer] = when / MINUTES_PER_DAY + duration

        minutes = self.followup_minutes[method.name].next()
        requests = method.spec.unrelated_requests
        if requests.probability and self.uniform.next() < requests.probability:
            kinds = list(requests.kinds)
            weights = np.array([requests.kinds[k] for k in kinds])
            pick = int(np.searchsorted(np.cumsum(weights), self.uniform.next()
                                       * weights.sum(), side="right"))
            touch.outcome = touch.outcome or kinds[min(pick, len(kinds) - 1)]
            minutes += self.request_minutes[method.name].next()
        self.followups[self.owner[customer]].append(FollowUp(row, minutes))

    def _output(self) -> SimulationOutput:
        """Turn the replication's records into tables in the shared schemas."""
        start = pd.Timestamp(self.scenario.start_date, tz=self.scenario.timezone)
        names = Names(self.book, start)
        rep_ids = [calendar.rep_id for calendar in self.calendars]
        touches = pd.DataFrame([
            (t.customer, t.segment, t.tier, t.contacted_minute, t.method, t.message,
             t.attempt, rep_ids[t.rep], t.handling_minutes, t.responded,
             t.responded_minute, t.acted, t.outcome, t.followup_minutes)
            for t in self.touches
        ], columns=[
            "customer", "segment", "tier", "contacted_at", "method", "message",
            "attempt", "rep_id", "handling_minutes", "responded", "responded_at",
            "acted", "outcome", "followup_minutes",
        ])
        log = names.apply(touches, minutes=("contacted_at", "responded_at"))
        log["followup_minutes"] = log["followup_minutes"].where(log["responded"])
        log = conform(log, LOG_COLUMNS)

        snapshots = pd.concat(self.snapshots, ignore_index=True)
        snapshots["as_of"] = snapshots.pop("day") * MINUTES_PER_DAY
        snapshots["segment"] = self.book.segment[snapshots["customer"]]
        snapshots["status"] = np.where(snapshots["tier"] == CHURNED, "churned",
                                       "active")
        snapshots = conform(names.apply(snapshots, minutes=("as_of",)),
                            SNAPSHOT_COLUMNS)

        due = pd.DataFrame(self.due_records,
                           columns=["customer", "due_at", "tier", "left_at"])
        due["segment"] = self.book.segment[due["customer"].to_numpy(dtype=int)]
        due = names.apply(due, minutes=("due_at", "left_at"))

        rep_days = pd.concat([
            pd.DataFrame({
                "rep_id": calendar.rep_id,
                "day": np.arange(self.horizon),
                "available_minutes": calendar.window_minutes[: self.horizon],
                "busy_minutes": calendar.busy_minutes[: self.horizon],
            })
            for calendar in self.calendars
        ], ignore_index=True)
        return SimulationOutput(
            log=log, snapshots=snapshots, due=due, rep_days=rep_days,
            tier_counts=self.tier_counts, segment_names=self.book.segment_names,
            start=start,
        )


class Names:
    """Turns the engine's integer codes and minutes into ids, names and times."""

    def __init__(self, book: Book, start: pd.Timestamp):
        self.customer_ids = book.customer_id
        self.segment_names = np.array(book.segment_names, dtype=object)
        self.tier_names = np.array(TIERS, dtype=object)
        self.start = start

    def apply(self, frame: pd.DataFrame, minutes: tuple[str, ...]) -> pd.DataFrame:
        """Replace customer, segment and tier codes; minutes become UTC times."""
        out = frame.copy()
        codes = out.pop("customer").to_numpy(dtype=int)
        out.insert(0, "customer_id", self.customer_ids[codes])
        out["segment"] = self.segment_names[out["segment"].to_numpy(dtype=int)]
        out["tier"] = self.tier_names[out["tier"].to_numpy(dtype=int)]
        for column in minutes:
            offsets = pd.to_timedelta(out[column], unit="min")
            out[column] = (self.start + offsets).dt.tz_convert("UTC")
        return out


def simulate(scenario: Scenario, seed: np.random.SeedSequence,
             fixed_parameters: bool = False) -> tuple[SimulationOutput, Book]:
    """Run one replication; return its tables and the book as it ended."""
    program = OutreachProgram(scenario, seed, fixed_parameters)
    output = program.run()
    return output, program.book
