"""Checking an engagement log, telling its kind and expanding it into touches.

A log is either ``every_touch`` (one row per touch) or ``final_touch`` (one row
per customer and method: its last touch, with ``attempt`` touches in all and
the response, if any, on that last one, as in Bank Marketing). Unless told,
a log whose customers each have one row per method while some attempt is
above 1 is read as ``final_touch``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from cssim.errors import CssimError
from cssim.tier import LIVE_TIERS

LogKind = Literal["every_touch", "final_touch"]
_CALIBRATION_COLUMNS = ("customer_id", "segment", "tier", "contacted_at", "method",
                        "message", "attempt", "responded")


class EngagementLogError(CssimError, ValueError):
    """An engagement log cannot be calibrated from: a column or row is unusable."""


def check_log(log: pd.DataFrame) -> None:
    """Raise ``EngagementLogError`` naming the column or row that cannot be used."""
    missing = [name for name in _CALIBRATION_COLUMNS if name not in log.columns]
    if missing:
        raise EngagementLogError(
            f"engagement log: missing column(s) {missing}; expected the schema's "
            f"columns {list(_CALIBRATION_COLUMNS)}, got {list(log.columns)}"
        )
    if log.empty:
        raise EngagementLogError("engagement log: expected touches, got no rows")
    expected_types = [
        ("responded", pd.api.types.is_bool_dtype, "booleans"),
        ("contacted_at", is_aware_time, "timezone-aware timestamps"),
    ]
    for column, is_expected, expected in expected_types:
        if not is_expected(log[column]):
            raise EngagementLogError(
                f"engagement log column {column!r}: expected {expected}, got dtype "
                f"{log[column].dtype}; conform the export to the schema first"
            )

    checks = [
        ("responded", log["responded"].isna(), "true or false"),
        ("tier", ~log["tier"].isin(LIVE_TIERS), f"one of {list(LIVE_TIERS)}"),
        ("attempt", ~(log["attempt"] >= 1).fillna(False), "an integer >= 1"),
        ("customer_id", log["customer_id"].isna(), "a customer id"),
        ("contacted_at", log["contacted_at"].isna(), "a contact time"),
        ("segment", log["segment"].isna(), "a segment name"),
        ("method", log["method"].isna(), "a method name"),
    ]
    for column, bad, expected in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            value = log[column].iloc[position]
            raise EngagementLogError(
                f"engagement log row {position} ({bad.sum()} rows in all), column "
                f"{column!r}: expected {expected}, got {value!r}"
            )


def is_aware_time(values: pd.Series) -> bool:
    """True for a datetime column with a time zone."""
    return isinstance(values.dtype, pd.DatetimeTZDtype)


def detect_log_kind(log: pd.DataFrame) -> LogKind:
    """``final_touch`` if each customer has one row per method and some attempt > 1."""
    one_row_each = not log.duplicated(["customer_id", "method"]).any()
    if one_row_each and (log["attempt"] > 1).any():
        return "final_touch"
    return "every_touch"


def implied_touches(log: pd.DataFrame, kind: LogKind) -> pd.DataFrame:
    """One row per touch; a final-touch row stands for ``attempt`` touches.

    Every column is kept. The implied earlier touches of a final-touch row
    carry its message and time; only the last keeps the recorded outcome
    (responded, acted, outcome and follow-up).
    """
    frame = log.reset_index(drop=True).copy()
    frame["message"] = frame["message"].astype("string").fillna("default")
    frame["responded"] = frame["responded"].astype(bool)
    if kind == "every_touch":
        return frame

    expanded = frame.loc[frame.index.repeat(frame["attempt"])]
    final_attempt = expanded["attempt"].to_numpy()
    expanded["attempt"] = expanded.groupby(level=0).cumcount().to_numpy() + 1
    earlier = expanded["attempt"].to_numpy() != final_attempt
    expanded["responded"] = expanded["responded"] & ~earlier
    if "acted" in expanded:
        expanded["acted"] = expanded["acted"].where(~earlier, False)
    for column in ("outcome", "followup_minutes", "responded_at"):
        if column in expanded:
            expanded[column] = expanded[column].where(~earlier)
    return expanded.reset_index(drop=True)
