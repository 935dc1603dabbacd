"""Tests of monthly tier snapshots derived from invoice lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cssim.log_reader import read_snapshots
from cssim.mapping import mapping_from_dict
from cssim.snapshots import (
    Bands,
    HealthRule,
    SnapshotError,
    lines_after_churn,
    snapshots_from_purchases,
)


def purchase_table() -> pd.DataFrame:
    """Customers with known tier paths; z buys monthly so the data runs to Oct 1."""
    rows = [
        ("b", "b1", "2024-01-10", 300.0, "sale"),
        ("b", "b2", "2024-09-15", 40.0, "sale"),
        ("c", "c1", "2024-02-01", 10.0, "sale"),
        ("c", "c2", "2024-02-10", 10.0, "sale"),
        ("c", "c3", "2024-02-20", 10.0, "sale"),
        ("a", "a1", "2024-01-05", 100.0, "sale"),
        ("a", "a2", "2024-01-20", 50.0, "sale"),
        ("a", "Ca2", "2024-01-25", -50.0, "cancellation"),
    ]
    rows += [("z", f"z{m}", f"2024-{m:02d}-15", 1.0, "sale") for m in range(1, 10)]
    rows.append(("z", "z10", "2024-10-01", 1.0, "sale"))
    frame = pd.DataFrame(
        rows, columns=["customer_id", "invoice", "invoiced_at", "amount", "line_kind"])
    frame["invoiced_at"] = pd.to_datetime(frame["invoiced_at"]).dt.tz_localize("UTC")
    frame["segment"] = "retail"
    return frame


def tier_path(snapshots: pd.DataFrame, customer: str) -> list[tuple[str, str]]:
    """A customer's (month, tier) pairs in date order."""
    rows = snapshots[snapshots["customer_id"] == customer].sort_values("as_of")
    return list(zip(rows["as_of"].dt.strftime("%Y-%m"), rows["tier"], strict=True))


def test_recency_moves_a_lone_buyer_down_to_churned() -> None:
    """One purchase: green, yellow after 30 days, red after 90, churned after 180."""
    snapshots = snapshots_from_purchases(purchase_table())

    assert tier_path(snapshots, "b") == [
        ("2024-01", "green"), ("2024-02", "yellow"), ("2024-03", "yellow"),
        ("2024-04", "red"), ("2024-05", "red"), ("2024-06", "red"),
        ("2024-07", "churned"),
    ]


def test_frequent_buyer_stays_green_until_recency_passes_90_days() -> None:
    """Three invoices within 90 days keep a quiet customer green, not yellow."""
    snapshots = snapshots_from_purchases(purchase_table())

    assert tier_path(snapshots, "c") == [
        ("2024-02", "green"), ("2024-03", "green"), ("2024-04", "green"),
        ("2024-05", "red"), ("2024-06", "red"), ("2024-07", "red"),
        ("2024-08", "churned"),
    ]


def test_thresholds_come_from_the_rule() -> None:
    """A stricter rule (green within 10 days, 5 invoices) turns c yellow sooner."""
    rule = HealthRule(green_within_days=10, green_invoices=5)
    snapshots = snapshots_from_purchases(purchase_table(), rule)

    assert tier_path(snapshots, "c")[:3] == [
        ("2024-02", "green"), ("2024-03", "yellow"), ("2024-04", "yellow"),
    ]


def test_arr_annualises_trailing_spend_with_a_floor() -> None:
    """ARR: net trailing spend over the covered days, never fewer than 90."""
    snapshots = snapshots_from_purchases(purchase_table())
    arr = snapshots.set_index(["customer_id", snapshots["as_of"].dt.strftime("%Y-%m")])

    assert arr.loc[("b", "2024-01"), "arr"] == pytest.approx(300 * 365 / 90)
    assert arr.loc[("b", "2024-06"), "arr"] == pytest.approx(300 * 365 / 178)
    assert arr.loc[("a", "2024-01"), "arr"] == pytest.approx(100 * 365 / 90)
    assert arr.loc[("b", "2024-07"), "arr"] == 0.0
    assert arr.loc[("b", "2024-07"), "status"] == "churned"


def test_churn_is_final_and_later_lines_are_counted() -> None:
    """A churned customer gets no later snapshot; its later purchase is counted."""
    purchases = purchase_table()
    snapshots = snapshots_from_purchases(purchases)

    assert (snapshots["customer_id"] == "b").sum() == 7
    assert lines_after_churn(purchases, snapshots) == 1


def test_cancellation_is_not_a_purchase() -> None:
    """A cancellation does not refresh recency: a stays as its last sale says."""
    snapshots = snapshots_from_purchases(purchase_table())

    assert tier_path(snapshots, "a")[:3] == [
        ("2024-01", "green"), ("2024-02", "yellow"), ("2024-03", "yellow"),
    ]


def test_last_partial_month_gets_no_snapshot() -> None:
    """Data ending on Oct 1 gives snapshots up to Sep 30 only."""
    snapshots = snapshots_from_purchases(purchase_table())

    assert snapshots["as_of"].max() == pd.Timestamp("2024-09-30", tz="UTC")


def test_size_bands_set_the_segment_from_arr() -> None:
    """With size bands the segment is the band of the month's ARR."""
    rule = HealthRule(size_bands=Bands(edges=[1000.0], labels=["small", "large"]))
    snapshots = snapshots_from_purchases(purchase_table(), rule)
    first = snapshots.sort_values("as_of").groupby("customer_id").first()

    assert first.loc["b", "segment"] == "large"
    assert first.loc["z", "segment"] == "small"


def test_missing_columns_are_named() -> None:
    """A purchase table without amounts is refused, naming the column."""
    with pytest.raises(SnapshotError, match=r"missing column\(s\) \['amount'\]"):
        snapshots_from_purchases(purchase_table().drop(columns="amount"))


def test_purchase_export_rejects_adjustments_and_stray_negatives(
    tmp_path: Path,
) -> None:
    """Adjustments and negative quantities outside cancellations are rejected."""
    path = tmp_path / "lines.csv"
    path.write_text(
        "Invoice,Qty,Price,When,Cust\n"
        "1001,2,5.0,2024-01-03 10:00:00,7\n"
        "C1001,-1,5.0,2024-01-04 10:00:00,7\n"
        "A1002,1,-99.0,2024-01-05 10:00:00,7\n"
        "1003,-4,0.0,2024-01-06 10:00:00,7\n"
        "1004,1,1.0,2024-01-07 10:00:00,\n"
        "1001,2,5.0,2024-01-03 10:00:00,7\n"
        "1005,1,1.0,2024-02-07 10:00:00,8\n",
        encoding="utf-8")
    mapping = mapping_from_dict({
        "kind": "purchases", "timezone": "UTC",
        "fields": {
            "customer_id": "Cust", "invoice": "Invoice", "invoiced_at": "When",
            "quantity": "Qty", "amount": {"product_of": ["Qty", "Price"]},
        },
    })

    result = read_snapshots(path, mapping)

    assert result.counts.rejected == {
        "adjustment, not a sale": 1,
        "negative quantity without cancellation": 1,
        "missing customer id": 1,
    }
    assert result.rejected["line"].tolist() == [4, 5, 6]
    assert result.counts.flagged["cancellation (negative spend)"] == 1
    assert result.counts.flagged["exact duplicate line (kept)"] == 1
    assert result.purchases["amount"].tolist() == [10.0, -5.0, 10.0, 1.0]


def test_snapshot_export_rejects_duplicates_and_unknown_tiers(
    tmp_path: Path,
) -> None:
    """A tier-snapshot export keeps one row per customer and date."""
    path = tmp_path / "health.csv"
    path.write_text(
        "account,date,plan,health,arr\n"
        "x,2024-01-31,pro,green,1200\n"
        "x,2024-01-31,pro,red,1200\n"
        "y,2024-01-31,pro,purple,300\n"
        "y,2024-02-29,pro,churned,0\n",
        encoding="utf-8")
    mapping = mapping_from_dict({
        "kind": "snapshots", "timezone": "UTC",
        "fields": {"customer_id": "account", "as_of": "date", "segment": "plan",
                   "tier": "health", "arr": "arr",
                   "status": {"column": "health", "values": {"churned": "churned"},
                              "otherwise": "active"}},
    })

    result = read_snapshots(path, mapping)

    assert result.rejected[["line", "reason"]].values.tolist() == [
        [3, "duplicate snapshot"], [4, "unknown tier"]]
    assert result.snapshots["status"].tolist() == ["active", "churned"]
