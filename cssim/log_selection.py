"""Selecting part of a log: a period of time, or a random share of customers.

Backtests calibrate on one part of a real log and compare a forecast with the
rest: the earliest 70% of a period, or a random half of the customers. The
customer split hashes each id with a seed, so the same seed always puts a
customer on the same side, whatever the order or size of the file.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

HASH_BUCKETS = 1_000_000


def in_period(times: pd.Series, since: dt.date | None, until: dt.date | None,
              zone: str = "UTC") -> pd.Series:
    """True for times on or after ``since`` and before ``until`` (local dates)."""
    keep = pd.Series(True, index=times.index)
    if since is not None:
        keep &= times >= pd.Timestamp(since, tz=zone)
    if until is not None:
        keep &= times < pd.Timestamp(until, tz=zone)
    return keep


def customer_share(customer_ids: pd.Series, fraction: float, seed: int,
                   other_part: bool = False) -> pd.Series:
    """True for a seeded random ``fraction`` of customers (or for the rest)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the share of customers must be in (0, 1), got {fraction}")
    key = f"cssim{seed:011d}"[-16:]
    hashes = pd.util.hash_pandas_object(customer_ids.astype(str), index=False,
                                        hash_key=key).to_numpy()
    chosen = (hashes % HASH_BUCKETS) < fraction * HASH_BUCKETS
    return pd.Series(chosen != other_part, index=customer_ids.index)


def select(frame: pd.DataFrame, time_column: str, since: dt.date | None = None,
           until: dt.date | None = None, fraction: float | None = None,
           seed: int = 0, other_part: bool = False, zone: str = "UTC"
           ) -> pd.DataFrame:
    """Rows of a log or snapshot table inside the period and customer share."""
    keep = in_period(frame[time_column], since, until, zone)
    if fraction is not None:
        keep &= customer_share(frame["customer_id"], fraction, seed, other_part)
    return frame[keep.to_numpy()].reset_index(drop=True)

