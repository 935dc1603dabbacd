"""Rep calendars: the minutes each rep can work each day, and the time spent."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from cssim.scenario import WEEKDAYS, RepGroup

MINUTES_PER_DAY = 1440.0


@dataclass
class RepCalendar:
    """One rep's daily working windows and the minutes actually worked in each.

    A day's window opens at ``day_start_hour`` and lasts the rep's available
    minutes: contracted hours less shrinkage, scaled down while ramping up.
    Work that does not fit in today's window resumes when the next one opens,
    so a rep never works more than the window's minutes on any day.
    """

    rep_id: str
    segments: frozenset[int]
    window_start: np.ndarray
    window_minutes: np.ndarray
    busy_minutes: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.busy_minutes = np.zeros_like(self.window_minutes)
        self._start = self.window_start.tolist()
        self._end = (self.window_start + self.window_minutes).tolist()

    def next_open(self, now: float) -> float:
        """The earliest time at or after ``now`` when the rep can work; inf if none."""
        day = int(now // MINUTES_PER_DAY)
        while day < len(self._start):
            if now < self._end[day] and self._start[day] < self._end[day]:
                return max(now, self._start[day])
            day += 1
        return math.inf

    def work(self, now: float, minutes: float) -> float:
        """Spend ``minutes`` of working time from ``now``; return when it is done.

        Records the minutes against each day they fall in. Returns inf when
        the calendar ends before the work does.
        """
        remaining = minutes
        day = int(now // MINUTES_PER_DAY)
        clock = now
        while day < len(self._start):
            start, end = self._start[day], self._end[day]
            clock = max(clock, start)
            if clock < end:
                chunk = min(remaining, end - clock)
                self.busy_minutes[day] += chunk
                clock += chunk
                remaining -= chunk
                if remaining <= 1e-9:
                    return clock
            day += 1
        return math.inf


def available_minutes(
    group: RepGroup, start_date: dt.date, days: int
) -> np.ndarray:
    """Minutes the rep can work on each day: calendar, shrinkage and ramp-up."""
    working = {WEEKDAYS.index(name) for name in group.working_days}
    first_weekday = start_date.weekday()
    day_index = np.arange(days)
    is_working = np.isin((first_weekday + day_index) % 7, list(working))
    is_working &= day_index >= group.start_day

    full = group.hours_per_day * 60.0 * (1.0 - group.shrinkage)
    if group.ramp_days > 0:
        progress = np.clip((day_index - group.start_day) / group.ramp_days, 0.0, 1.0)
        share = group.ramp_start_share + (1.0 - group.ramp_start_share) * progress
    else:
        share = np.ones(days)
    return np.where(is_working, full * share, 0.0)


def build_calendars(
    groups: list[RepGroup],
    segment_names: list[str],
    start_date: dt.date,
    days: int,
) -> list[RepCalendar]:
    """One calendar per rep; a group of ``count`` reps gives ids name-1, name-2..."""
    calendars = []
    for group in groups:
        covered = group.segments or segment_names
        segments = frozenset(segment_names.index(name) for name in covered)
        minutes = available_minutes(group, start_date, days)
        starts = np.arange(days) * MINUTES_PER_DAY + group.day_start_hour * 60.0
        for number in range(1, group.count + 1):
            rep_id = group.name if group.count == 1 else f"{group.name}-{number}"
            calendars.append(RepCalendar(rep_id, segments, starts, minutes.copy()))
    return calendars
