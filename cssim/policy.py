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
    """A touch waiting for a rep."""

    due: float
    """When the task fell due, in minutes from the program start."""
    customer: int
    attempt: int
    cancelled: bool = False


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


class Priority:
    """Integer priority keys from the policy's order; a smaller key goes first.

    Keys are mixed-radix numbers built from the order's components (tier
    rank, ARR rank, segment rank), precomputed for every customer in every
    tier so that a customer who changes tier is queued with its current one.
    """

    def __init__(self, scenario: Scenario, book: Book):
        policy = scenario.policy
        names = book.segment_names
        count = len(book)
        listed = policy.segment_order or names
        segment_rank = np.array(
            [listed.index(n) if n in listed else len(listed) for n in names])
        arr_rank = np.empty(count, dtype=np.int64)
        arr_rank[np.argsort(-book.arr, kind="stable")] = np.arange(count)

        self.by_tier = np.zeros((len(TIER_RANK) + 1, count), dtype=np.int64)
        for tier in range(len(TIER_RANK) + 1):
            tier_rank = TIER_RANK.get(LIVE_TIERS[tier], 3) if tier < 3 else 3
            key = np.zeros(count, dtype=np.int64)
            for component in policy.order:
                if component == "tier":
                    key = key * 4 + tier_rank
                elif component == "arr":
                    key = key * max(count, 1) + arr_rank
                else:
                    key = key * (len(listed) + 1) + segment_rank[book.segment]
            self.by_tier[tier] = key
        self._lists = [row.tolist() for row in self.by_tier]

    def key(self, customer: int, tier: int) -> int:
        """One customer's key in a given tier."""
        return self._lists[tier][customer]

    def order(self, customers: np.ndarray, tiers: np.ndarray) -> np.ndarray:
        """Customers sorted by key, then book order."""
        keys = self.by_tier[tiers, customers]
        return customers[np.lexsort((customers, keys))]


class OutreachQueue:
    """Tasks waiting for a rep, one heap per segment so coverage is cheap to honour."""

    def __init__(self, segments: int):
        self.heaps: list[list[tuple[int, float, int, Task]]] = [
            [] for _ in range(segments)]
        self.sequence = 0

    def push(self, segment: int, priority: int, due: float, customer: int,
             attempt: int) -> Task:
        """Add a task; ties on priority and due time go to the earlier pushed."""
        task = Task(due, customer, attempt)
        self.sequence += 1
        heapq.heappush(self.heaps[segment], (priority, due, self.sequence, task))
        return task

    def pop(self, segments: frozenset[int]) -> Task | None:
        """Remove and return the best task among the given segments' heaps."""
        best_segment, best = -1, None
        for segment in segments:
            heap = self.heaps[segment]
            while heap and heap[0][3].cancelled:
                heapq.heappop(heap)
            if heap and (best is None or heap[0] < best):
                best_segment, best = segment, heap[0]
        if best is None:
            return None
        return heapq.heappop(self.heaps[best_segment])[3]

    def take_matching(self, segments: frozenset[int], wanted, limit: int) -> list[Task]:
        """Remove up to ``limit`` best tasks for which ``wanted(task)`` holds."""
        found = [
            entry
            for segment in segments
            for entry in self.heaps[segment]
            if not entry[3].cancelled and wanted(entry[3])
        ]
        chosen = [entry[3] for entry in heapq.nsmallest(limit, found)]
        for task in chosen:
            task.cancelled = True
        return chosen
