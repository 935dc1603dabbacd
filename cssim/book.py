"""The book of customers: who they are, their segment, tier, ARR and renewal day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cssim.errors import ScenarioError
from cssim.scenario import Scenario, Segment
from cssim.tier import LIVE_TIERS, TIER_INDEX


@dataclass
class Book:
    """Customers held as parallel arrays, one entry per customer."""

    customer_id: np.ndarray
    segment: np.ndarray
    tier: np.ndarray
    arr: np.ndarray
    renewal_day: np.ndarray
    segment_names: list[str]

    def __len__(self) -> int:
        return len(self.customer_id)


def build_book(scenario: Scenario, rng: np.random.Generator) -> Book:
    """Draw (or read) every segment's customers into one book."""
    parts = []
    names = list(scenario.segments)
    for index, (name, segment) in enumerate(scenario.segments.items()):
        if segment.accounts is not None:
            part = read_accounts(name, segment, scenario.start_date)
        else:
            part = _draw_accounts(name, segment, rng)
        part["segment"] = index
        parts.append(part)

    frame = pd.concat(parts, ignore_index=True)
    return Book(
        customer_id=np.array(frame["customer_id"], dtype=object),
        segment=np.array(frame["segment"], dtype=np.int16),
        tier=np.array(frame["tier"], dtype=np.int8),
        arr=np.array(frame["arr"], dtype=float),
        renewal_day=np.array(frame["renewal_day"], dtype=float),
        segment_names=names,
    )


def _draw_accounts(
    name: str, segment: Segment, rng: np.random.Generator
) -> pd.DataFrame:
    count = segment.customers or 0
    mix = np.array([segment.initial_tiers.get(tier, 0.0) for tier in LIVE_TIERS])
    return pd.DataFrame({
        "customer_id": [f"{name}-{i:05d}" for i in range(1, count + 1)],
        "tier": rng.choice(len(LIVE_TIERS), size=count, p=mix / mix.sum()),
        "arr": np.maximum(segment.arr.sample(rng, count), 0.0),
        "renewal_day": rng.uniform(0.0, segment.renewal.cycle_days, size=count),
    })


def read_accounts(name: str, segment: Segment, start: dt.date) -> pd.DataFrame:
    """Read an accounts CSV, naming the file, row and column of any bad value."""
    path = str(segment.accounts)
    try:
        frame = pd.read_csv(path, dtype=str)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError,
            UnicodeDecodeError) as error:
        raise ScenarioError(path, [f"segments.{name}.accounts: cannot read: {error}"])

    missing = {"customer_id", "tier", "arr"} - set(frame.columns)
    if missing:
        raise ScenarioError(path, [
            f"segments.{name}.accounts: missing column(s) {sorted(missing)}; "
            "expected customer_id, tier, arr and optional renewal_date"
        ])

    if frame.empty:
        raise ScenarioError(path, [
            f"segments.{name}.accounts: no accounts after the header; expected one "
            "row per customer"])

    problems = []
    tiers = frame["tier"].fillna("").str.strip().str.lower()
    for row in np.flatnonzero(~tiers.isin(LIVE_TIERS)):
        problems.append(
            f"line {row + 2}: tier {_shown(frame['tier'].iloc[row])}; expected one "
            f"of {list(LIVE_TIERS)}"
        )
    arr = pd.to_numeric(frame["arr"], errors="coerce")
    for row in np.flatnonzero(arr.isna() | (arr < 0)):
        problems.append(
            f"line {row + 2}: arr {_shown(frame['arr'].iloc[row])}; expected a "
            "number >= 0"
        )
    repeated = frame["customer_id"].duplicated(keep="first")
    for row in np.flatnonzero(repeated | frame["customer_id"].isna()):
        problems.append(
            f"line {row + 2}: customer_id {_shown(frame['customer_id'].iloc[row])}; "
            "expected a unique, non-empty id"
        )

    cycle = segment.renewal.cycle_days
    if "renewal_date" in frame:
        dates = pd.to_datetime(frame["renewal_date"], errors="coerce")
        for row in np.flatnonzero(dates.isna()):
            problems.append(
                f"line {row + 2}: renewal_date "
                f"{_shown(frame['renewal_date'].iloc[row])}; expected a date such "
                "as 2026-03-31"
            )
        offset = (dates - pd.Timestamp(start)).dt.days.to_numpy(dtype=float)
        renewal_day = np.mod(offset, cycle)
    else:
        renewal_day = np.linspace(0.0, cycle, len(frame), endpoint=False)
    if problems:
        raise ScenarioError(path, [f"segments.{name}.accounts {p}" for p in problems])

    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype(str),
        "tier": tiers.map(TIER_INDEX).astype(int),
        "arr": arr.astype(float),
        "renewal_day": renewal_day,
    })


def _shown(value) -> str:
    """A cell value as a user wrote it ('' for an empty cell)."""
    return repr("" if pd.isna(value) else str(value))
