"""Reading real exports through a mapping: every row used or rejected with a reason."""

from __future__ import annotations

import bz2
import csv
import difflib
import gzip
import importlib.util
import io
import lzma
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cssim.engagement_log import conform
from cssim.errors import CssimError
from cssim.mapping import (
    REQUIRED_COLUMNS,
    TARGET_COLUMNS,
    DayFromWeekday,
    FieldRule,
    Mapping,
    YearFromWrap,
    field_kind,
    load_mapping,
    mapping_origin,
)
from cssim.snapshots import lines_after_churn, snapshots_from_purchases
from cssim.tier import LIVE_TIERS, TIERS

REJECTED_COLUMNS = ("line", "reason", "column", "value", "expected")
"""Columns of ``LogRead.rejected``: line 1 is the header, the first row line 2."""

TRUE_WORDS = ("true", "yes", "y", "t", "1")
FALSE_WORDS = ("false", "no", "n", "f", "0")
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun",
               "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DELIMITERS = (",", ";", "\t", "|")
STATUSES = ("active", "churned")

_MISSING_REASON = {
    "customer_id": "missing customer id",
    "tier": "missing tier",
}
_BAD_REASON = {
    "timestamp": "unparseable date",
    "number": "bad number",
    "integer": "bad number",
    "boolean": "bad boolean",
}
_EXPECTED = {
    "timestamp": "a date",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "a boolean",
    "text": "a value",
    "tier": "a tier",
}
_DUPLICATE_KEYS = {
    "log": ("customer_id", "contacted_at", "method", "attempt"),
    "snapshots": ("customer_id", "as_of"),
}
_DUPLICATE_REASON = {"log": "duplicate touch", "snapshots": "duplicate snapshot"}


class LogReadError(CssimError, ValueError):
    """An export cannot be read: bad file, missing column, or (strict) a bad row."""


@dataclass(frozen=True)
class ReadCounts:
    """Rows read, used and rejected by reason; ``flagged`` counts used rows of note."""

    read: int
    used: int
    rejected: dict[str, int]
    flagged: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        """All rejected rows; ``read == used + rejected_total``."""
        return sum(self.rejected.values())

    def as_table(self) -> pd.DataFrame:
        """The counts as rows of (count, rows), for printing or tracking."""
        rows = [("read", self.read), ("used", self.used)]
        rows += [(f"rejected: {reason}", n) for reason, n in self.rejected.items()]
        rows += [(f"flagged: {note}", n) for note, n in self.flagged.items()]
        return pd.DataFrame(rows, columns=["count", "rows"])


@dataclass(frozen=True)
class LogRead:
    """An engagement log read from an export, with the rows that could not be used."""

    log: pd.DataFrame
    rejected: pd.DataFrame
    counts: ReadCounts


@dataclass(frozen=True)
class SnapshotRead:
    """Tier snapshots read (or derived from purchases) with the rejected rows.

    ``purchases`` holds the invoice lines used, when the export was purchases;
    ``counts`` then counts those lines.
    """

    snapshots: pd.DataFrame
    rejected: pd.DataFrame
    counts: ReadCounts
    purchases: pd.DataFrame | None = None


@dataclass
class _Table:
    """An export's cells (text for CSV) with the file line of each row."""

    path: Path
    cells: pd.DataFrame
    lines: np.ndarray
    rejected: list[pd.DataFrame]


@dataclass
class _Problems:
    """Bad cells found so far, one frame per check, by row position."""

    table: _Table
    mapping: Mapping
    found: list[pd.DataFrame] = field(default_factory=list)

    def add(self, bad: Any, reason: str, column: str, values: Any,
            expected: str) -> None:
        """Record the rows where ``bad`` is true; ``values`` may be a callable."""
        bad = np.asarray(bad, dtype=bool)
        if not bad.any():
            return
        if callable(values):
            values = values()
        positions = np.flatnonzero(bad)
        shown = pd.Series(values, index=range(len(bad))).iloc[positions]
        self.found.append(pd.DataFrame({
            "position": positions,
            "line": self.table.lines[positions],
            "reason": reason,
            "column": column,
            "value": [_shown(value) for value in shown],
            "expected": expected,
        }))


def read_log(
    path: str | Path, mapping: Mapping | str | Path, strict: bool = False
) -> LogRead:
    """Read an export as an engagement log through a mapping.

    Every row is used or appears in ``rejected`` with its line and reason.
    ``strict=True`` raises ``LogReadError`` at the first bad row instead.
    """
    mapping = _as_mapping(mapping, "log")
    table, problems, frame = _mapped(path, mapping, strict)
    _check_log_rows(frame, problems)
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
    _check_snapshot_rows(frame, problems)
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
    flagged = _check_purchase_rows(table, frame, problems)
    lines, rejected, counts = _finish(table, problems, frame, strict)
    counts = ReadCounts(counts.read, counts.used, counts.rejected,
                        _flag_counts(flagged, lines.index))
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
) -> tuple[_Table, _Problems, pd.DataFrame]:
    """The export read and every mapped field computed, with cell problems."""
    table = _read_table(Path(path), mapping)
    _check_columns(table, mapping)
    if strict and table.rejected:
        _raise_first(table, pd.concat(table.rejected))

    problems = _Problems(table, mapping)
    frame = pd.DataFrame(index=range(len(table.cells)))
    for name in TARGET_COLUMNS[mapping.kind]:
        if name in mapping.fields:
            frame[name] = _field(name, mapping.fields[name], table, mapping, problems)
    frame = pd.concat([_kept(table, mapping), frame], axis=1)
    return table, problems, frame


def _finish(
    table: _Table, problems: _Problems, frame: pd.DataFrame, strict: bool
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


def _raise_first(table: _Table, every: pd.DataFrame) -> None:
    row = every.sort_values("line", kind="stable").iloc[0]
    raise LogReadError(
        f"{table.path}: line {int(row['line'])}, column {row['column']!r}: "
        f"{row['reason']}; expected {row['expected']}, got {row['value']!r}")


def _shown(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    return str(value)


# Reading the file -------------------------------------------------------------


def _read_table(path: Path, mapping: Mapping) -> _Table:
    """Cells and line numbers of an export in any supported format."""
    if not path.is_file():
        raise LogReadError(f"{path}: cannot read the export: no such file")
    kind = _format(path, mapping)
    try:
        if kind == "parquet":
            cells = pd.read_parquet(path)
        elif kind == "excel":
            cells = _read_excel(path, mapping)
        else:
            return _read_csv(path, mapping)
    except LogReadError:
        raise
    except Exception as error:
        raise LogReadError(
            f"{path}: cannot read as {kind} ({type(error).__name__}: {error})"
        ) from error
    cells = cells.reset_index(drop=True)
    cells.columns = [str(c).strip() for c in cells.columns]
    return _Table(path, cells, np.arange(2, len(cells) + 2), [])


def _format(path: Path, mapping: Mapping) -> str:
    if mapping.source.format != "auto":
        return mapping.source.format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last == ".parquet":
        return "parquet"
    if last in (".xlsx", ".xlsm"):
        return "excel"
    if last in (".csv", ".tsv", ".txt"):
        return "csv"
    raise LogReadError(
        f"{path}: cannot tell the format from the name; expected .csv, .tsv, "
        ".txt (optionally .gz, .bz2, .xz), .parquet or .xlsx, or set "
        "source.format in the mapping")


def _read_excel(path: Path, mapping: Mapping) -> pd.DataFrame:
    if importlib.util.find_spec("openpyxl") is None:
        raise LogReadError(
            f"{path}: reading Excel needs the openpyxl package "
            "(pip install openpyxl==3.1.5)")
    return pd.read_excel(path, sheet_name=mapping.source.sheet, dtype=object)


def _read_csv(path: Path, mapping: Mapping) -> _Table:
    """Every record as text, with the line it starts on; ragged rows rejected."""
    text = _text(path, mapping.source.encoding)
    delimiter = mapping.source.delimiter
    if delimiter == "auto":
        delimiter = _sniffed_delimiter(text)

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise LogReadError(f"{path}: empty file; expected a header line") from None
    header = [name.strip() for name in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise LogReadError(
            f"{path}: header repeats column name(s) {repeated}; expected each "
            "column once")

    rows, lines, ragged = [], [], []
    start = reader.line_num + 1
    try:
        for record in reader:
            if len(record) == len(header):
                rows.append(record)
                lines.append(start)
            else:
                ragged.append((start, len(record), delimiter.join(record)))
            start = reader.line_num + 1
    except csv.Error as error:
        raise LogReadError(f"{path}: line {start}: not valid CSV ({error})") from None

    cells = pd.DataFrame(rows, columns=header, dtype=object)
    cells = cells.astype(pd.StringDtype("pyarrow"))
    for name in cells.columns:
        cells[name] = cells[name].str.strip()
    return _Table(path, cells, np.array(lines, dtype="int64"),
                  _ragged_rejections(ragged, len(header)))


def _ragged_rejections(
    ragged: list[tuple[int, int, str]], width: int
) -> list[pd.DataFrame]:
    if not ragged:
        return []
    return [pd.DataFrame({
        "position": pd.array([pd.NA] * len(ragged), dtype="Int64"),
        "line": [line for line, _, _ in ragged],
        "reason": ["empty row" if n == 0 else "wrong number of fields"
                   for _, n, _ in ragged],
        "column": "(row)",
        "value": [text[:80] for _, _, text in ragged],
        "expected": f"{width} fields",
    })]


def _text(path: Path, encoding: str) -> str:
    """The file's text, decompressed by suffix; a UTF-8 byte-order mark dropped."""
    openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    opener = openers.get(path.suffix.lower(), open)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise LogReadError(
            f"{path}: byte {error.start} is not {encoding} text; set "
            "source.encoding in the mapping (e.g. cp1252)") from None
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise LogReadError(f"{path}: cannot read the file ({error})") from None


def _sniffed_delimiter(text: str) -> str:
    """The candidate delimiter that occurs most in the header line (ties: comma)."""
    header = text.split("\n", 1)[0]
    counts = [(header.count(d), -i, d) for i, d in enumerate(DELIMITERS)]
    return max(counts)[2]


def _check_columns(table: _Table, mapping: Mapping) -> None:
    """Raise naming every column the mapping needs and the export lacks."""
    found = list(table.cells.columns)
    needed = {c for rule in mapping.fields.values() for c in rule.source_columns()}
    if isinstance(mapping.keep, list):
        needed |= set(mapping.keep)
    missing = sorted(needed - set(found))
    if not missing:
        return
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, found, n=1)
        hints.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    raise LogReadError(
        f"{table.path}: missing column(s) {', '.join(hints)} that "
        f"{mapping_origin(mapping)} names; the export has {found}")


def _kept(table: _Table, mapping: Mapping) -> pd.DataFrame:
    """Export columns carried beside the schema's; clashing names get source_."""
    if mapping.keep is False:
        return pd.DataFrame(index=table.cells.index)
    names = list(table.cells.columns) if mapping.keep is True else mapping.keep
    target = TARGET_COLUMNS[mapping.kind]
    kept = pd.DataFrame({
        f"source_{n}" if n in target else n: _inferred(table.cells[n], mapping)
        for n in names
    })
    return kept


def _inferred(values: pd.Series, mapping: Mapping) -> pd.Series:
    """A kept text column as numbers when every present cell is one."""
    if not pd.api.types.is_string_dtype(values.dtype):
        return values
    numbers, bad = _numbers(_stripped(values), mapping)
    if bad.any() or numbers.isna().all():
        return values
    return numbers


# Fields -----------------------------------------------------------------------


def _field(
    name: str, rule: FieldRule, table: _Table, mapping: Mapping, problems: _Problems
) -> pd.Series:
    """One schema column computed by its rule; bad cells recorded as problems."""
    kind = field_kind(mapping, name)
    label = ", ".join(rule.source_columns()) or f"({rule.source_name()})"
    raw = _source(rule, table, mapping, problems, name)
    missing = _missing(raw, mapping)

    if rule.values is not None:
        raw, unmapped = _value_mapped(raw, rule, missing)
        problems.add(unmapped, "unmapped value", label,
                     lambda: _display(rule, table, raw),
                     f"one of {sorted(rule.values)}")
        missing = missing | _missing(raw, mapping)
    elif rule.bands is not None:
        numbers, bad = _numbers(raw, mapping)
        problems.add(bad & ~missing, "bad number", label,
                     lambda: _display(rule, table, raw), "a number to band")
        raw = rule.bands.label(numbers)

    values, bad = _typed(raw, kind, rule, mapping, name, table, missing)
    before = raw

    def shown() -> pd.Series:
        return _display(rule, table, before)

    problems.add(bad & ~missing, _BAD_REASON.get(kind, "bad value"), label, shown,
                 _expected(kind, rule))
    if name in REQUIRED_COLUMNS[mapping.kind]:
        reason = _MISSING_REASON.get(name, "missing value")
        problems.add(missing, reason, label, shown, f"a value for {name}")
    _check_allowed(name, kind, values, missing | bad, mapping, problems, label, shown)
    return values


def _check_allowed(name: str, kind: str, values: pd.Series, skip: np.ndarray,
                   mapping: Mapping, problems: _Problems, label: str,
                   shown: Any) -> None:
    """Tiers, statuses, methods and attempts outside their allowed values."""
    present = ~np.asarray(skip, dtype=bool)
    if kind == "tier":
        allowed = LIVE_TIERS if mapping.kind == "log" else TIERS
        bad = present & ~values.isin(allowed).to_numpy(dtype=bool)
        problems.add(bad, "unknown tier", label, shown, f"one of {list(allowed)}")
    if name == "status":
        bad = present & ~values.isin(STATUSES).to_numpy(dtype=bool)
        problems.add(bad, "unknown status", label, shown, f"one of {list(STATUSES)}")
    if name == "method" and mapping.methods is not None:
        bad = present & ~values.isin(mapping.methods).to_numpy(dtype=bool)
        problems.add(bad, "unknown method", label, shown,
                     f"one of {mapping.methods}")
    if name == "attempt":
        bad = present & ~(values >= 1).fillna(False).to_numpy(dtype=bool)
        problems.add(bad, "bad number", label, shown, "an integer >= 1")


def _source(rule: FieldRule, table: _Table, mapping: Mapping,
            problems: _Problems, name: str) -> pd.Series:
    """The rule's raw values, before value maps and parsing."""
    cells = table.cells
    index = cells.index
    if rule.column is not None:
        return _stripped(cells[rule.column])
    if "constant" in rule.model_fields_set:
        return pd.Series([rule.constant] * len(index), index=index, dtype=object)
    if rule.row_number is not None:
        spec = rule.row_number
        numbers = np.arange(spec.start, spec.start + len(index))
        return pd.Series([f"{spec.prefix}{n:0{spec.width}d}" for n in numbers],
                         index=index, dtype=object)
    if rule.product_of is not None:
        product = pd.Series(1.0, index=index)
        for column in rule.product_of:
            numbers, bad = _numbers(_stripped(cells[column]), mapping)
            problems.add(bad & ~_missing(cells[column], mapping), "bad number",
                         column, cells[column], "a number")
            product = product * numbers
        return product
    return _date_parts(rule, table, mapping, problems, name)


def _stripped(values: pd.Series) -> pd.Series:
    """Text cells without surrounding spaces; other cells as they are."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.str.strip()
    if values.dtype != object:
        return values
    stripped = values.str.strip()
    return stripped.where(stripped.notna(), values)


def _as_text(values: pd.Series) -> pd.Series:
    """Every cell as text, absent cells as the empty text."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.fillna("")
    if values.dtype == object and pd.api.types.infer_dtype(values) == "string":
        return values
    return values.astype(object).where(values.notna(), "").astype(str)


def _missing(values: pd.Series, mapping: Mapping) -> pd.Series:
    """True where a value is absent or one of the mapping's missing texts."""
    missing = values.isna().to_numpy(dtype=bool, copy=True)
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        tokens = list(mapping.source.missing)
        missing |= _as_text(values).str.strip().isin(tokens).to_numpy(dtype=bool)
    return missing


def _display(rule: FieldRule, table: _Table, fallback: pd.Series) -> pd.Series:
    """The cell values to show for a field: its source column(s) as written."""
    columns = rule.source_columns()
    if not columns:
        return fallback
    if len(columns) == 1:
        return table.cells[columns[0]]
    parts = [table.cells[c].map(lambda v, c=c: f"{c}={_shown(v)}") for c in columns]
    shown = parts[0]
    for part in parts[1:]:
        shown = shown + ", " + part
    return shown


def _value_mapped(raw: pd.Series, rule: FieldRule,
                  missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Values replaced by the map; which present values the map does not list."""
    keys = _as_text(raw).str.strip()
    listed = keys.isin(list(rule.values)).to_numpy(dtype=bool)
    mapped = keys.map(rule.values).astype(object).where(listed, None)
    unlisted = ~listed & ~missing
    if "otherwise" in rule.model_fields_set:
        mapped[unlisted] = rule.otherwise
        unlisted = np.zeros(len(raw), dtype=bool)
    elif rule.keep_unmapped:
        mapped[unlisted] = raw[unlisted]
        unlisted = np.zeros(len(raw), dtype=bool)
    return mapped, unlisted


def _expected(kind: str, rule: FieldRule) -> str:
    if kind == "timestamp" and rule.formats:
        return f"a date as {' or '.join(rule.formats)}"
    if kind == "timestamp":
        return "an ISO 8601 date"
    if kind == "boolean":
        true = rule.true_values or list(TRUE_WORDS)
        false = rule.false_values or list(FALSE_WORDS)
        return f"one of {true} or {false}"
    return _EXPECTED[kind]


def _typed(raw: pd.Series, kind: str, rule: FieldRule, mapping: Mapping, name: str,
           table: _Table, missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Values parsed for the field's kind, and where parsing failed."""
    if kind in ("number", "integer"):
        numbers, bad = _numbers(raw, mapping)
        if kind == "integer":
            whole = np.isnan(numbers) | (numbers == np.round(numbers))
            bad = bad | ~whole.to_numpy(dtype=bool)
            numbers = numbers.where(whole).round().astype("Int64")
        elif rule.divide_by is not None:
            numbers = numbers / rule.divide_by
        return numbers, bad
    if kind == "boolean":
        return _booleans(raw, rule)
    if kind == "timestamp":
        return _timestamps(raw, rule, mapping, name, table, missing)
    if pd.api.types.is_float_dtype(raw.dtype) and (raw.dropna() % 1 == 0).all():
        raw = raw.astype("Int64")
    text = _as_text(raw).astype("string")
    return text.where(~missing), np.zeros(len(raw), dtype=bool)


def _numbers(raw: pd.Series, mapping: Mapping) -> tuple[pd.Series, np.ndarray]:
    """Floats from text with the mapping's decimal mark; where text was not a number."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(
            raw.dtype):
        numbers = raw.astype("float64")
        return numbers, np.zeros(len(raw), dtype=bool)
    text = _as_text(raw)
    if mapping.source.thousands:
        text = text.str.replace(mapping.source.thousands, "", regex=False)
    if mapping.source.decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    numbers = pd.to_numeric(text.str.replace(" ", "", regex=False), errors="coerce")
    numbers = numbers.astype("float64")
    bad = (numbers.isna() & (text.str.strip() != "")).to_numpy(dtype=bool)
    return numbers, bad


def _booleans(raw: pd.Series, rule: FieldRule) -> tuple[pd.Series, np.ndarray]:
    """Booleans by the rule's vocabulary; ``True``/``False`` from a value map count."""
    if pd.api.types.is_bool_dtype(raw.dtype):
        return raw.astype("boolean"), np.zeros(len(raw), dtype=bool)
    true = [w.lower() for w in (rule.true_values or TRUE_WORDS)] + ["true"]
    false = [w.lower() for w in (rule.false_values or FALSE_WORDS)] + ["false"]

    words = _as_text(raw).str.strip().str.lower()
    if pd.api.types.is_float_dtype(raw.dtype):
        words = words.str.removesuffix(".0")
    is_true = words.isin(true).to_numpy(dtype=bool)
    is_false = words.isin(false).to_numpy(dtype=bool)
    present = (words != "").to_numpy(dtype=bool)
    values = pd.array(np.where(is_true, True, False), dtype="boolean")
    values[~(is_true | is_false)] = pd.NA
    return pd.Series(values, index=raw.index), present & ~(is_true | is_false)


def _timestamps(raw: pd.Series, rule: FieldRule, mapping: Mapping, name: str,
                table: _Table, missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps; naive values are placed in the field's or mapping's zone."""
    zone = rule.zone or mapping.timezone
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC"), np.zeros(len(raw), dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        naive = raw
        aware = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    else:
        naive, aware = _parsed_text_times(_as_text(raw), rule.formats)
    bad = (naive.isna() & aware.isna()).to_numpy(dtype=bool) & ~missing

    needs_zone = naive.notna().to_numpy(dtype=bool)
    if needs_zone.any() and zone is None:
        line = int(table.lines[np.flatnonzero(needs_zone)[0]])
        raise LogReadError(
            f"{table.path}: line {line}: {name} has a timestamp without a time "
            f"zone; expected the mapping {mapping_origin(mapping)} to state one "
            f"(fields.{name}.zone or timezone)")
    local = naive.dt.tz_localize(
        zone or "UTC", ambiguous=np.ones(len(naive), dtype=bool),
        nonexistent="shift_forward")
    return local.dt.tz_convert("UTC").where(naive.notna(), aware), bad


def _parsed_text_times(
    text: pd.Series, formats: list[str] | None
) -> tuple[pd.Series, pd.Series]:
    """Naive parses and, apart, values that carried their own UTC offset."""
    naive = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    aware = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns, UTC]")
    todo = (text.str.strip() != "").to_numpy(dtype=bool)
    offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).to_numpy(
        dtype=bool)

    for pattern in formats or ["ISO8601"]:
        if pattern == "ISO8601":
            groups = [(todo & offset, True), (todo & ~offset, False)]
        else:
            groups = [(todo, "%z" in pattern or "%Z" in pattern)]
        for pick, zoned in groups:
            if not pick.any():
                continue
            got = pd.to_datetime(text[pick], format=pattern, errors="coerce",
                                 utc=zoned)
            (aware if zoned else naive)[pick] = got
            parsed = np.zeros(len(text), dtype=bool)
            parsed[pick] = got.notna().to_numpy(dtype=bool)
            todo = todo & ~parsed
    return naive, aware


def _date_parts(rule: FieldRule, table: _Table, mapping: Mapping,
                problems: _Problems, name: str) -> pd.Series:
    """Naive timestamps assembled from year, month and day parts."""
    parts = rule.date_parts
    cells = table.cells
    month = _month_numbers(_part(parts.month, cells))
    label = ", ".join(rule.source_columns())

    if isinstance(parts.year, YearFromWrap):
        wraps = (month.ffill().diff() < 0).cumsum()
        year = parts.year.first_year + wraps
    else:
        year, _ = _numbers(_part(parts.year, cells), mapping)

    if isinstance(parts.day, DayFromWeekday):
        day = _weekday_days(cells[parts.day.weekday], year, month)
    else:
        day, _ = _numbers(_part(parts.day, cells), mapping)

    frame = pd.DataFrame({"year": year, "month": month, "day": day})
    stamps = pd.to_datetime(frame, errors="coerce")
    hours, minutes, *seconds = (int(p) for p in parts.time.split(":"))
    offset = pd.Timedelta(hours=hours, minutes=minutes, seconds=sum(seconds))
    stamps = stamps + offset
    problems_mask = stamps.isna().to_numpy(dtype=bool)
    problems.add(problems_mask, "unparseable date", label,
                 lambda: _display(rule, table, stamps),
                 "year, month and day that make a date")
    return stamps


def _part(part: str | int, cells: pd.DataFrame) -> pd.Series:
    if isinstance(part, str):
        return _stripped(cells[part])
    return pd.Series([part] * len(cells), index=cells.index, dtype=object)


def _month_numbers(values: pd.Series) -> pd.Series:
    """Month 1-12 from numbers or English names (jan, January); NaN if neither."""

    text = _as_text(values).str.strip().str.lower()
    names = {name: float(i) for i, name in enumerate(MONTH_NAMES, 1)}
    by_name = text.str[:3].map(names).where(text.str.isalpha())
    by_number = pd.to_numeric(text, errors="coerce").astype("float64")
    by_number = by_number.where(by_number.isin(range(1, 13)))
    return by_name.fillna(by_number).astype("float64")


def _weekday_days(weekday_names: pd.Series, year: pd.Series,
                  month: pd.Series) -> pd.Series:
    """Day of month of each row's weekday in its week, weeks counted in row order.

    Inside a run of rows with the same month, a new week starts where the
    weekday steps back; the date is that week's occurrence of the weekday,
    held to the month's last such weekday.
    """
    days = {name: float(i) for i, name in enumerate(WEEKDAY_NAMES)}
    text = _as_text(weekday_names).str.strip().str.lower()
    weekday = text.str[:3].map(days).where(text.str.isalpha()).astype("float64")
    known = weekday.notna() & month.notna() & year.notna()

    month_key = month.ffill()
    month_run = (month_key != month_key.shift()).astype("int64").cumsum()
    step_back = (weekday.ffill().diff().fillna(0) < 0).astype("int64")
    week = step_back.groupby(month_run).cumsum()

    first = pd.to_datetime(pd.DataFrame({
        "year": year.where(known, 2000), "month": month.where(known, 1), "day": 1,
    }))
    first_occurrence = (weekday.fillna(0) - first.dt.day_of_week) % 7
    last_week = (first.dt.days_in_month - 1 - first_occurrence) // 7
    day = 1 + first_occurrence + 7 * np.minimum(week, last_week)
    return day.where(known)


# Row checks -------------------------------------------------------------------


def _check_log_rows(frame: pd.DataFrame, problems: _Problems) -> None:
    """Responses before contact, then repeated touches (the first one is kept)."""
    mapping = problems.mapping
    if "responded_at" in frame and "contacted_at" in frame:
        early = (frame["responded_at"] < frame["contacted_at"]).fillna(False)
        rule = mapping.fields["responded_at"]
        label = ", ".join(rule.source_columns()) or "responded_at"
        problems.add(early, "response before contact", label,
                     _display(rule, problems.table, frame["responded_at"]),
                     "a response at or after the contact time")
    _check_duplicates(frame, problems, "log")


def _check_snapshot_rows(frame: pd.DataFrame, problems: _Problems) -> None:
    _check_duplicates(frame, problems, "snapshots")


def _check_duplicates(frame: pd.DataFrame, problems: _Problems, kind: str) -> None:
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


def _check_purchase_rows(table: _Table, frame: pd.DataFrame,
                         problems: _Problems) -> dict[str, np.ndarray]:
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


def _flag_counts(flags: dict[str, np.ndarray], used: pd.Index) -> dict[str, int]:
    """How many used rows carry each flag; flags that never occur are left out."""
    counts = {}
    for note, mask in flags.items():
        n = int(mask[used.to_numpy(dtype="int64")].sum())
        if n:
            counts[note] = n
    return counts
