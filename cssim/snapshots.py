"""Monthly tier snapshots from invoice lines, by a recency/frequency/monetary rule.

The health rule (``HealthRule``, every threshold a mapping parameter) reads a
customer's purchases up to the end of each month:

- **churned** when the last purchase is more than ``red_within_days`` (180)
  days old. Churned is the end: the customer gets one churned snapshot, with
  ARR 0, and none after; lines bought later are counted, not used.
- **red** when it is 91-180 days old;
- **yellow** when it is 31-90 days old and the customer has fewer than
  ``green_invoices`` (3) invoices in the last ``frequency_days`` (90);
- **green** otherwise: a purchase in the last 30 days, or 3+ invoices in 90.

Why these numbers: in Online Retail II the median gap between a customer's
invoices is 20 days, the 75th percentile 50 and the 90th about 100. A month
without a purchase is ordinary, three months is unusual and six months is
past nearly every observed gap, so it reads as gone.

ARR is the net spend (sales less cancellations) of the trailing
``arr_window_days`` (365) annualised: divided by the days of that window the
data covers, but by no fewer than ``min_annualise_days`` (90), so a customer
seen for a week is not multiplied by 52. Negative net spend counts as 0.

The segment is the customer's latest attribute value (``segment`` column) up to
the snapshot, or, with ``size_bands``, the band of that month's ARR.

Purchases fall on calendar days in the rule's ``zone``. Snapshots are dated
at each month's last day (00:00 UTC, standing for the date) and count that
day's purchases, from the month of a customer's first purchase to the last
month the data covers in full. Customers whose history began before the data
appear new at first.
"""

from __future__ import annotations

import zoneinfo

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cssim.engagement_log import SNAPSHOT_COLUMNS, conform
from cssim.errors import CssimError

PURCHASE_COLUMNS: dict[str, str] = {
    "customer_id": "string",
    "invoice": "string",
    "invoiced_at": "datetime64[ns, UTC]",
    "quantity": "float64",
    "amount": "float64",
    "segment": "string",
}
"""One row per invoice line; amount is the line's money (negative on a refund)."""


class SnapshotError(CssimError, ValueError):
    """A purchase table cannot be turned into snapshots: a column is missing."""


class Bands(BaseModel):
    """Labels for number bands: below ``edges[0]`` is ``labels[0]``, and so on."""

    model_config = ConfigDict(extra="forbid")

    edges: list[float] = Field(min_length=1)
    labels: list[str]

    @model_validator(mode="after")
    def _check(self) -> Bands:
        if len(self.labels) != len(self.edges) + 1:
            raise ValueError(
                f"expected one more label than edges ({len(self.edges) + 1}), "
                f"got {len(self.labels)} labels for {len(self.edges)} edges")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"edges must increase, got {self.edges}")
        return self

    def label(self, numbers: pd.Series) -> pd.Series:
        """The band label of each number; missing numbers stay missing."""
        values = numbers.astype("float64").to_numpy()
        positions = np.searchsorted(self.edges, values, side="right")
        labels = np.array(self.labels, dtype=object)[positions]
        labels[np.isnan(values)] = None
        return pd.Series(labels, index=numbers.index, dtype="string")


class HealthRule(BaseModel):
    """Thresholds of the purchase-to-tier rule; see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    green_within_days: int = Field(30, gt=0)
    green_invoices: int = Field(3, gt=0)
    frequency_days: int = Field(90, gt=0)
    yellow_within_days: int = Field(90, gt=0)
    red_within_days: int = Field(180, gt=0)
    arr_window_days: int = Field(365, gt=0)
    min_annualise_days: int = Field(90, gt=0)
    zone: str = "UTC"
    size_bands: Bands | None = None

    @model_validator(mode="after")
    def _check(self) -> HealthRule:
        days = [self.green_within_days, self.yellow_within_days, self.red_within_days]
        if days != sorted(set(days)):
            raise ValueError(
                "expected green_within_days < yellow_within_days < "
                f"red_within_days, got {days}")
        try:
            zoneinfo.ZoneInfo(self.zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.zone!r}") from None
        return self


def snapshots_from_purchases(
    purchases: pd.DataFrame, rule: HealthRule | None = None
) -> pd.DataFrame:
    """Monthly tier snapshots (the snapshot schema) from invoice lines.

    ``purchases`` needs customer_id, invoiced_at (aware) and amount; invoice
    (each line its own invoice without it), segment and ``line_kind`` (sale or
    cancellation; all sales without it) are used when present.
    """
    rule = rule or HealthRule()
    lines = _prepared(purchases, rule)
    if lines.empty:
        return conform(pd.DataFrame(columns=list(SNAPSHOT_COLUMNS)), SNAPSHOT_COLUMNS)

    data_start = lines["day"].min()
    frames = []
    churned: set[str] = set()
    for month_end in _month_ends(lines):
        month = _one_month(lines, month_end, data_start, rule, churned)
        churned.update(month.loc[month["tier"] == "churned", "customer_id"])
        frames.append(month)

    snapshots = pd.concat(frames, ignore_index=True)
    snapshots["as_of"] = pd.to_datetime(snapshots["as_of"]).dt.tz_localize("UTC")
    return conform(snapshots, SNAPSHOT_COLUMNS)


def lines_after_churn(purchases: pd.DataFrame, snapshots: pd.DataFrame,
                      rule: HealthRule | None = None) -> int:
    """How many purchase lines fall after their customer's churned snapshot."""
    rule = rule or HealthRule()
    lines = _prepared(purchases, rule)
    churn = snapshots.loc[snapshots["tier"] == "churned", ["customer_id", "as_of"]]
    if churn.empty:
        return 0
    churn_day = churn.set_index("customer_id")["as_of"].dt.tz_localize(None)
    after = lines["customer_id"].map(churn_day)
    return int((lines["day"] > after).sum())


def _prepared(purchases: pd.DataFrame, rule: HealthRule) -> pd.DataFrame:
    """Lines with a local calendar day, an invoice key and a line kind."""
    missing = [c for c in ("customer_id", "invoiced_at", "amount")
               if c not in purchases.columns]
    if missing:
        raise SnapshotError(
            f"purchase table: missing column(s) {missing}; expected customer_id, "
            f"invoiced_at, amount, got {list(purchases.columns)}")
    times = purchases["invoiced_at"]
    if not isinstance(times.dtype, pd.DatetimeTZDtype):
        raise SnapshotError(
            f"purchase table column 'invoiced_at': expected timezone-aware "
            f"timestamps, got dtype {times.dtype}")

    lines = pd.DataFrame({
        "customer_id": purchases["customer_id"].astype("string"),
        "day": times.dt.tz_convert(rule.zone).dt.tz_localize(None).dt.normalize(),
        "amount": purchases["amount"].astype("float64"),
    })
    if "invoice" in purchases:
        lines["invoice"] = purchases["invoice"].astype("string")
    else:
        lines["invoice"] = pd.Series(range(len(lines)), index=lines.index).astype(
            "string")
    lines["kind"] = purchases.get("line_kind", "sale")
    segment = purchases["segment"] if "segment" in purchases else "all"
    lines["segment"] = pd.Series(segment, index=lines.index, dtype="string")
    return lines.sort_values("day", kind="stable").reset_index(drop=True)


def _month_ends(lines: pd.DataFrame) -> list[pd.Timestamp]:
    """Last days of the months from the first line's to the last complete one."""
    first, last = lines["day"].min(), lines["day"].max()
    ends = pd.date_range(first + pd.offsets.MonthEnd(0), last, freq="ME")
    return list(ends)


def _one_month(
    lines: pd.DataFrame,
    month_end: pd.Timestamp,
    data_start: pd.Timestamp,
    rule: HealthRule,
    churned: set[str],
) -> pd.DataFrame:
    """One snapshot per customer seen by ``month_end`` and not churned before."""
    upto = lines[(lines["day"] <= month_end) & ~lines["customer_id"].isin(churned)]
    sales = upto[upto["kind"] == "sale"]
    customers = pd.Index(sales["customer_id"].unique(), name="customer_id")

    last_sale = sales.groupby("customer_id")["day"].max().reindex(customers)
    recency = (month_end - last_sale).dt.days
    recent = sales[sales["day"] > month_end - pd.Timedelta(days=rule.frequency_days)]
    invoices = recent.groupby("customer_id")["invoice"].nunique()
    invoices = invoices.reindex(customers, fill_value=0)

    window_start = month_end - pd.Timedelta(days=rule.arr_window_days)
    in_window = upto[upto["day"] > window_start]
    spend = in_window.groupby("customer_id")["amount"].sum().reindex(
        customers, fill_value=0.0)
    covered = min(rule.arr_window_days, (month_end - data_start).days + 1)
    covered = max(covered, rule.min_annualise_days)
    arr = spend.clip(lower=0.0) * 365.0 / covered

    tier = pd.Series("green", index=customers, dtype=object)
    slow = (recency > rule.green_within_days) & (invoices < rule.green_invoices)
    tier[slow] = "yellow"
    tier[recency > rule.yellow_within_days] = "red"
    tier[recency > rule.red_within_days] = "churned"
    arr[tier == "churned"] = 0.0

    if rule.size_bands is not None:
        segment = rule.size_bands.label(arr)
    else:
        segment = upto.dropna(subset=["segment"]).groupby("customer_id")[
            "segment"].last().reindex(customers)
    return pd.DataFrame({
        "customer_id": customers,
        "as_of": month_end,
        "segment": segment.to_numpy(),
        "tier": tier.to_numpy(),
        "arr": arr.to_numpy(),
        "status": np.where(tier == "churned", "churned", "active"),
    })
