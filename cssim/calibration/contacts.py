"""How a log's customers were contacted: touches each, attempt spacing, months."""

from __future__ import annotations

from typing import Any

import pandas as pd

from cssim.calibration.log_checks import LogKind

CONTACT_QUANTILES: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95)


def contacts_per_customer(touches: pd.DataFrame) -> pd.DataFrame:
    """Distribution of touches per customer, per method."""
    counts = touches.groupby(["method", "customer_id"], observed=True).size()
    rows = []
    for method, per_customer in counts.groupby(level="method", observed=True):
        row: dict[str, Any] = {
            "method": method,
            "customers": len(per_customer),
            "mean": float(per_customer.mean()),
        }
        for quantile in CONTACT_QUANTILES:
            row[f"p{round(quantile * 100)}"] = float(per_customer.quantile(quantile))
        row["max"] = int(per_customer.max())
        rows.append(row)
    return pd.DataFrame(rows)


def response_by_month(log: pd.DataFrame) -> pd.DataFrame:
    """Share of logged rows that responded, per method and calendar month."""
    month = pd.to_datetime(log["contacted_at"], utc=True).dt.strftime("%Y-%m")
    frame = pd.DataFrame({
        "method": log["method"].to_numpy(),
        "month": month.to_numpy(),
        "responded": log["responded"].astype(bool).to_numpy(),
    })
    table = frame.groupby(["method", "month"]).agg(
        rows=("responded", "size"), responses=("responded", "sum")
    ).reset_index()
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["rows"]
    return table


def attempt_spacing(
    log: pd.DataFrame, kind: LogKind, methods: list[str]
) -> dict[str, float | None]:
    """Median days from one attempt to the next, per method (every-touch logs)."""
    if kind == "final_touch":
        return {method: None for method in methods}
    ordered = log.sort_values("contacted_at")
    spacing: dict[str, float | None] = {}
    for method in methods:
        rows = ordered[ordered["method"] == method]
        grouped = rows.groupby("customer_id", observed=True)
        gaps = grouped["contacted_at"].diff().dt.total_seconds() / 86400
        steps = grouped["attempt"].diff() == 1
        usable = gaps[steps]
        spacing[method] = float(usable.median()) if len(usable) else None
    return spacing
