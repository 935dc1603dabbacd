"""The readers: log, snapshot and purchase exports through a mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cssim.engagement_log import conform
from cssim.log_reader.columns import check_columns, kept_columns
from cssim.log_reader.fields import field_column
from cssim.log_reader.files import read_table
from cssim.log_reader.results import (
    REJECTED_COLUMNS,
    LogRead,
    LogReadError,
    ReadCounts,
    SnapshotRead,
)
from cssim.log_reader.row_checks import (
    check_log_rows,
    check_purchase_rows,
    check_snapshot_rows,
    flag_counts,
)
from cssim.log_reader.table import Problems, Table
from cssim.mapping import TARGET_COLUMNS, Mapping, load_mapping, mapping_origin
from cssim.snapshots import lines_after_churn, snapshots_from_purchases


def read_log(
    path: str | Path, mapping: Mapping | str | Path, strict: bool = False
) -> LogRead:
    """Read an export as an engagement log through a mapping.

    Every row is used or appears in ``rejected`` with its line and reason.
    ``strict=True`` raises ``LogReadError`` at the first bad row instead.
    """
    mapping = _as_mapping(mapping, "log")
    table, problems, frame = _mapped(path, mapping, strict)
    check_log_rows(frame, problems)
    log, rejected, counts = _finish(table, problems, frame, strict)
    return LogRead(log=log, rejected=rejected, counts=counts)


def read_snapshots(
    path: str | Path, mapping: Mapping | str | Path, strict: bool = False
) -> SnapshotRead:
    """Read a tier-snapshot export, or purchases turned into monthly snapshots."""
    mapping = _as_mapping(mapping, ("snapshots", "purchases"))
    if mapping.kind == "purchases":
        lines = read_purchases(path, mapping, strict)
        snapshots = snapshots_from_purchases(lines.log, mapping.health)
        after = lines_after_churn(lines.log, snapshots, mapping.health)
        flagged = dict(lines.counts.flagged)
        if after:
            flagged["bought after churn (not in snapshots)"] = after
        unseen = int((~lines.log["customer_id"].isin(snapshots["customer_id"])).sum())
        if unseen:
            flagged["customer has no snapshot (no sale by the last month end)"] = unseen
        counts = ReadCounts(lines.counts.read, lines.counts.used,
                            lines.counts.rejected, flagged)
        return SnapshotRead(snapshots, lines.rejected, counts, purchases=lines.log)

    table, problems, frame = _mapped(path, mapping, strict)
    check_snapshot_rows(frame, problems)
    snapshots, rejected, counts = _finish(table, problems, frame, strict)
    return SnapshotRead(snapshots=snapshots, rejected=rejected, counts=counts)


def read_purchases(
    path: str | Path, mapping: Mapping | str | Path, strict: bool = False
) -> LogRead:
    """Read invoice lines through a purchases mapping; ``log`` holds the lines.

    Cancellations are kept as negative spend (``line_kind`` cancellation);
    adjustments, lines without a customer and negative quantities outside a
    cancellation are rejected; exact duplicate lines are kept and flagged.
    """
    mapping = _as_mapping(mapping, "purchases")
    table, problems, frame = _mapped(path, mapping, strict)
    flagged = check_purchase_rows(table, frame, problems)
    lines, rejected, counts = _finish(table, problems, frame, strict)
    counts = ReadCounts(counts.read, counts.used, counts.rejected,
                        flag_counts(flagged, lines.index))
    return LogRead(log=lines.reset_index(drop=True), rejected=rejected, counts=counts)


def _as_mapping(mapping: Mapping | str | Path, kinds: str | tuple[str, ...]) -> Mapping:
    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    kinds = (kinds,) if isinstance(kinds, str) else kinds
    if mapping.kind not in kinds:
        raise LogReadError(
            f"{mapping_origin(mapping)}: kind: expected {' or '.join(kinds)} for "
            f"this reader, got {mapping.kind!r}")
    return mapping


def _mapped(
    path: str | Path, mapping: Mapping, strict: bool
) -> tuple[Table, Problems, pd.DataFrame]:
    """The export read and every mapped field computed, with cell problems."""
    table = read_table(Path(path), mapping)
    check_columns(table, mapping)
    if strict and table.rejected:
        _raise_first(table, pd.concat(table.rejected))

    problems = Problems(table, mapping)
    frame = pd.DataFrame(index=range(len(table.cells)))
    for name in TARGET_COLUMNS[mapping.kind]:
        if name in mapping.fields:
            frame[name] = field_column(name, mapping.fields[name], table, mapping,
                                       problems)
    frame = pd.concat([kept_columns(table, mapping), frame], axis=1)
    return table, problems, frame


def _finish(
    table: Table, problems: Problems, frame: pd.DataFrame, strict: bool
) -> tuple[pd.DataFrame, pd.DataFrame, ReadCounts]:
    """Pick each bad row's first problem, drop those rows, count everything."""
    found = problems.found + table.rejected
    columns = ["position", *REJECTED_COLUMNS]
    every = pd.concat(found, ignore_index=True) if found else pd.DataFrame(
        columns=columns)
    if strict and not every.empty:
        _raise_first(table, every)

    first = every.sort_values("line", kind="stable").drop_duplicates("line")
    bad = first["position"].dropna().astype("int64").to_numpy()
    used = frame.drop(index=bad)
    columns_of = TARGET_COLUMNS[problems.mapping.kind]
    used = conform(used, {name: columns_of[name] for name in columns_of})

    rejected = first[list(REJECTED_COLUMNS)].reset_index(drop=True)
    rejected["line"] = rejected["line"].astype("int64")
    by_reason = rejected["reason"].value_counts()
    counts = ReadCounts(
        read=len(table.cells) + sum(len(r) for r in table.rejected),
        used=len(used),
        rejected={str(k): int(v) for k, v in by_reason.items()},
    )
    return used, rejected, counts


def _raise_first(table: Table, every: pd.DataFrame) -> None:
    row = every.sort_values("line", kind="stable").iloc[0]
    raise LogReadError(
        f"{table.path}: line {int(row['line'])}, column {row['column']!r}: "
        f"{row['reason']}; expected {row['expected']}, got {row['value']!r}")
