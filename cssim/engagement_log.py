"""Engagement-log and tier-snapshot schemas, shared by simulation, KPIs, calibration."""

from __future__ import annotations

import pandas as pd

LOG_COLUMNS: dict[str, str] = {
    "customer_id": "string",
    "segment": "string",
    "tier": "string",
    "contacted_at": "datetime64[ns, UTC]",
    "method": "string",
    "message": "string",
    "attempt": "int64",
    "rep_id": "string",
    "handling_minutes": "float64",
    "responded": "bool",
    "responded_at": "datetime64[ns, UTC]",
    "acted": "boolean",
    "outcome": "string",
    "followup_minutes": "float64",
}
"""One row per touch; column order and pandas dtypes (times are UTC-aware)."""

REQUIRED_LOG_COLUMNS: tuple[str, ...] = (
    "customer_id", "segment", "tier", "contacted_at", "method", "message",
    "attempt", "responded",
)

SNAPSHOT_COLUMNS: dict[str, str] = {
    "customer_id": "string",
    "as_of": "datetime64[ns, UTC]",
    "segment": "string",
    "tier": "string",
    "arr": "float64",
    "status": "string",
}
"""One row per customer per snapshot date; status is active or churned."""

UNRELATED_OUTCOMES: tuple[str, ...] = (
    "feature_request", "technical_problem", "training_need", "billing_question",
)
"""Outcomes counted as unrelated requests; complaints are counted on their own."""


def empty_log() -> pd.DataFrame:
    """An engagement log with no rows and the schema's dtypes."""
    return conform(pd.DataFrame(columns=list(LOG_COLUMNS)), LOG_COLUMNS)


def empty_snapshots() -> pd.DataFrame:
    """Tier snapshots with no rows and the schema's dtypes."""
    return conform(pd.DataFrame(columns=list(SNAPSHOT_COLUMNS)), SNAPSHOT_COLUMNS)


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Order columns as the schema lists them and give them its dtypes.

    Optional columns missing from ``frame`` are added empty; extra columns
    (such as ``replication``) are kept at the front.
    """
    extra = [c for c in frame.columns if c not in columns]
    out = frame.copy()
    for name, dtype in columns.items():
        if name not in out:
            empty = float("nan") if dtype == "float64" else pd.NA
            out[name] = pd.Series(empty, index=out.index, dtype=object)
        if dtype.startswith("datetime64"):
            out[name] = pd.to_datetime(out[name], utc=True).astype(dtype)
        else:
            out[name] = out[name].astype(dtype)
    return out[extra + list(columns)]
