"""The outreach policy: who is eligible when, and the queue that orders their touches.

Serving rule: a rep takes the task with the best priority (the policy's
``order``: tier with red first, ARR largest first, segment as listed), then
the earliest time it fell due, then the earliest created. Customers who fall
due at the same instant are created in priority order, then in book order, so
the rule is deterministic and does not depend on how a heap breaks ties.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

from cssim.book import Book
from cssim.scenario import Scenario
from cssim.tier import LIVE_TIERS, TIER_INDEX

NEVER = math.inf
TIER_RANK = {"red": 0, "yellow": 1, "green": 2}


@dataclass(slots=True)
class Task:
    """A touch waiting for a rep; the queue orders tasks by ``key``."""

    key: tuple
    """(priority, due, sequence): the serving rule as one sortable tuple."""
    customer: int
    attempt: int
    cancelled: bool = False

    @property
    def due(self) -> float:
        """When the task fell due, in minutes from the program start."""
        return self.key[1]


class Eligibility:
    """Which customers the policy may contact on a given day."""

    def __init__(self, scenario: Scenario, book: Book):
        policy = scenario.policy
        names = book.segment_names
        targeted = set(policy.segments or names)

        self.opens = np.full((len(names), len(LIVE_TIERS) + 1), NEVER)
        for wave in policy.waves:
            for segment in wave.segments or names:
                if segment not in targeted:
                    continue
                for tier in wave.tiers or policy.tiers:
                    if tier in policy.tiers:
                        cell = (names.index(segment), TIER_INDEX[tier])
                        self.opens[cell] = min(self.opens[cell], wave.day)
        self.rich_enough = book.arr >= policy.min_arr
        self.enter_when_eligible = policy.enter_when_eligible

    def due_now(self, book: Book, day: int, already: np.ndarray) -> np.ndarray:
        """Indices of customers who fall due on ``day`` and were never queued."""
        opens = self.opens[book.segment, book.tier]
        if self.enter_when_eligible:
            eligible = opens <= day
        else:
            eligible = opens == day
        return np.flatnonzero(eligible & self.rich_enough & ~already)


def priority_keys(scenario: Scenario, book: Book) -> list[tuple]:
    """A sortable key per customer from the policy's order (smaller goes first)."""
    policy = scenario.policy
    names = book.segment_names
    segment_rank = {name: i for i, name in enumerate(policy.segment_order or names)}
    rank_of_segment = np.array([segment_rank.get(n, len(names)) for n in names])
    rank_of_tier = np.array([TIER_RANK[t] for t in LIVE_TIERS] + [3])

    columns = []
    for key in policy.order:
        if key == "tier":
            columns.append(rank_of_tier[book.tier])
        elif key == "arr":
            columns.append(-book.arr)
        else:
            columns.append(rank_of_segment[book.segment])
    if not columns:
        return [()] * len(book)
    return list(zip(*(column.tolist() for column in columns)))


class OutreachQueue:
    """Tasks waiting for a rep, one heap per segment so coverage is cheap to honour."""

    def __init__(self, segments: int):
        self.heaps: list[list[Task]] = [[] for _ in range(segments)]
        self.sequence = 0
        self.waiting = 0

    def push(self, segment: int, priority: tuple, due: float, customer: int,
             attempt: int) -> Task:
        """Add a task; ties on priority and due time go to the earlier pushed."""
        task = Task((priority, due, self.sequence), customer, attempt)
        self.sequence += 1
        self.waiting += 1
        heapq.heappush(self.heaps[segment], (task.key, task))
        return task

    def pop(self, segments: frozenset[int]) -> Task | None:
        """Remove and return the best task among the given segments' heaps."""
        best_segment, best_key = -1, None
        for segment in segments:
            heap = self.heaps[segment]
            while heap and heap[0][1].cancelled:
                heapq.heappop(heap)
            if heap and (best_key is None or heap[0][0] < best_key):
                best_segment, best_key = segment, heap[0][0]
        if best_key is None:
            return None
        self.waiting -= 1
        return heapq.heappop(self.heaps[best_segment])[1]

    def take_matching(self, segments: frozenset[int], wanted, limit: int) -> list[Task]:
        """Remove up to ``limit`` best tasks for which ``wanted(task)`` holds."""
        found = [
            entry
            for segment in segments
            for entry in self.heaps[segment]
            if not entry[1].cancelled and wanted(entry[1])
        ]
        chosen = [task for _, task in heapq.nsmallest(limit, found)]
        for task in chosen:
            task.cancelled = True
            self.waiting -= 1
        return chosen
