"""Matching export columns to the mapping and carrying extra ones."""

from __future__ import annotations

import difflib

import pandas as pd

from cssim.log_reader.results import LogReadError
from cssim.log_reader.table import Table
from cssim.log_reader.values import parse_numbers, stripped
from cssim.mapping import TARGET_COLUMNS, Mapping, mapping_origin


def check_columns(table: Table, mapping: Mapping) -> None:
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


def kept_columns(table: Table, mapping: Mapping) -> pd.DataFrame:
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
    numbers, bad = parse_numbers(stripped(values), mapping)
    if bad.any() or numbers.isna().all():
        return values
    return numbers
