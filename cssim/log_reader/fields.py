"""Filling each schema field from its rule, recording bad cells."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cssim.log_reader.dates import date_parts
from cssim.log_reader.table import Problems, Table, display
from cssim.log_reader.values import (
    FALSE_WORDS,
    TRUE_WORDS,
    as_text,
    is_missing,
    parse_numbers,
    stripped,
    typed,
)
from cssim.mapping import REQUIRED_COLUMNS, FieldRule, Mapping, field_kind
from cssim.tier import LIVE_TIERS, TIERS

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


def field_column(
    name: str, rule: FieldRule, table: Table, mapping: Mapping, problems: Problems
) -> pd.Series:
    """One schema column computed by its rule; bad cells recorded as problems."""
    kind = field_kind(mapping, name)
    label = ", ".join(rule.source_columns()) or f"({rule.source_name()})"
    raw = _source(rule, table, mapping, problems, name)
    missing = is_missing(raw, mapping)

    if rule.values is not None:
        raw, unmapped = _value_mapped(raw, rule, missing)
        problems.add(unmapped, "unmapped value", label,
                     lambda: display(rule, table, raw),
                     f"one of {sorted(rule.values)}")
        missing = missing | is_missing(raw, mapping)
    elif rule.bands is not None:
        numbers, bad = parse_numbers(raw, mapping)
        problems.add(bad & ~missing, "bad number", label,
                     lambda: display(rule, table, raw), "a number to band")
        raw = rule.bands.label(numbers)

    values, bad = typed(raw, kind, rule, mapping, name, table, missing)
    before = raw

    def shown() -> pd.Series:
        return display(rule, table, before)

    problems.add(bad & ~missing, _BAD_REASON.get(kind, "bad value"), label, shown,
                 _expected(kind, rule))
    if name in REQUIRED_COLUMNS[mapping.kind]:
        reason = _MISSING_REASON.get(name, "missing value")
        problems.add(missing, reason, label, shown, f"a value for {name}")
    _check_allowed(name, kind, values, missing | bad, mapping, problems, label, shown)
    return values


def _check_allowed(name: str, kind: str, values: pd.Series, skip: np.ndarray,
                   mapping: Mapping, problems: Problems, label: str,
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


def _source(rule: FieldRule, table: Table, mapping: Mapping,
            problems: Problems, name: str) -> pd.Series:
    """The rule's raw values, before value maps and parsing."""
    cells = table.cells
    index = cells.index
    if rule.column is not None:
        return stripped(cells[rule.column])
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
            numbers, bad = parse_numbers(stripped(cells[column]), mapping)
            problems.add(bad & ~is_missing(cells[column], mapping), "bad number",
                         column, cells[column], "a number")
            product = product * numbers
        return product
    return date_parts(rule, table, mapping, problems, name)


def _value_mapped(raw: pd.Series, rule: FieldRule,
                  missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Values replaced by the map; which present values the map does not list."""
    keys = as_text(raw).str.strip()
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
