"""Checks across a row's fields: log, snapshot and purchase rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cssim.log_reader.table import Problems, Table, display
from cssim.mapping import Mapping

_DUPLICATE_KEYS = {
    "log": ("customer_id", "contacted_at", "method", "attempt"),
    "snapshots": ("customer_id", "as_of"),
}
_DUPLICATE_REASON = {"log": "duplicate touch", "snapshots": "duplicate snapshot"}


def check_log_rows(frame: pd.DataFrame, problems: Problems) -> None:
    """Responses before contact, then repeated touches (the first one is kept)."""
    mapping = problems.mapping
    if "responded_at" in frame and "contacted_at" in frame:
        early = (frame["responded_at"] < frame["contacted_at"]).fillna(False)
        rule = mapping.fields["responded_at"]
        label = ", ".join(rule.source_columns()) or "responded_at"
        problems.add(early, "response before contact", label,
                     display(rule, problems.table, frame["responded_at"]),
                     "a response at or after the contact time")
    _check_duplicates(frame, problems, "log")


def check_snapshot_rows(frame: pd.DataFrame, problems: Problems) -> None:
    _check_duplicates(frame, problems, "snapshots")


def _check_duplicates(frame: pd.DataFrame, problems: Problems, kind: str) -> None:
    """Later rows repeating an earlier usable row's key are rejected."""
    keys = [k for k in _DUPLICATE_KEYS[kind] if k in frame]
    already = np.zeros(len(frame), dtype=bool)
    for found in problems.found:
        already[found["position"].to_numpy(dtype="int64")] = True
    candidates = frame.loc[~already, keys]
    repeated = candidates.duplicated(keep="first")
    if not repeated.any():
        return
    lines = pd.Series(problems.table.lines[candidates.index], index=candidates.index)
    first_line = lines.groupby([candidates[k] for k in keys], dropna=False,
                               sort=False).transform("first")
    bad = np.zeros(len(frame), dtype=bool)
    bad[candidates.index[repeated.to_numpy()]] = True
    shown = pd.Series("", index=frame.index, dtype=object)
    shown[candidates.index] = "same key as line " + first_line.astype(str)
    problems.add(bad, _DUPLICATE_REASON[kind], "+".join(keys), shown,
                 "one row per " + ", ".join(keys))


def check_purchase_rows(table: Table, frame: pd.DataFrame,
                         problems: Problems) -> dict[str, np.ndarray]:
    """Line kinds from invoice prefixes; adjustments and stray negatives rejected."""
    options = problems.mapping.purchases
    invoice = frame["invoice"] if "invoice" in frame else pd.Series(
        "", index=frame.index, dtype="string")
    invoice = invoice.fillna("").astype(str)
    cancelled = np.zeros(len(frame), dtype=bool)
    if options.cancellation_prefix:
        cancelled = invoice.str.startswith(options.cancellation_prefix).to_numpy()
    frame["line_kind"] = np.where(cancelled, "cancellation", "sale")
    label = _label(problems.mapping, "invoice")

    for prefix in options.adjustment_prefixes:
        adjusted = invoice.str.startswith(prefix).to_numpy()
        problems.add(adjusted, "adjustment, not a sale", label, invoice,
                     f"an invoice not starting with {prefix!r}")

    flags = {"cancellation (negative spend)": cancelled}
    if "quantity" in frame:
        quantity = frame["quantity"].astype("float64")
        negative = (quantity < 0).fillna(False).to_numpy()
        problems.add(negative & ~cancelled, "negative quantity without cancellation",
                     _label(problems.mapping, "quantity"), frame["quantity"],
                     "a quantity >= 0 outside a cancellation")
        positive = (quantity > 0).fillna(False).to_numpy()
        flags["cancellation with positive quantity"] = cancelled & positive
    amount = frame["amount"].astype("float64")
    frame["amount"] = amount.where(~cancelled, -amount.abs())
    flags["zero amount"] = (amount == 0).fillna(False).to_numpy()
    repeated = table.cells.duplicated(keep="first").to_numpy()
    flags["exact duplicate line (kept)"] = repeated
    return flags


def _label(mapping: Mapping, name: str) -> str:
    rule = mapping.fields.get(name)
    return ", ".join(rule.source_columns()) if rule else name


def flag_counts(flags: dict[str, np.ndarray], used: pd.Index) -> dict[str, int]:
    """How many used rows carry each flag; flags that never occur are left out."""
    counts = {}
    for note, mask in flags.items():
        n = int(mask[used.to_numpy(dtype="int64")].sum())
        if n:
            counts[note] = n
    return counts
