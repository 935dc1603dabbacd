"""Parsing cell values: text, missing cells, numbers, booleans, times."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cssim.log_reader.results import LogReadError
from cssim.log_reader.table import Table
from cssim.mapping import FieldRule, Mapping, mapping_origin

TRUE_WORDS = ("true", "yes", "y", "t", "1")
FALSE_WORDS = ("false", "no", "n", "f", "0")


def stripped(values: pd.Series) -> pd.Series:
    """Text cells without surrounding spaces; other cells as they are."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.str.strip()
    if values.dtype != object:
        return values
    stripped = values.str.strip()
    return stripped.where(stripped.notna(), values)


def as_text(values: pd.Series) -> pd.Series:
    """Every cell as text, absent cells as the empty text."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.fillna("")
    if values.dtype == object and pd.api.types.infer_dtype(values) == "string":
        return values
    return values.astype(object).where(values.notna(), "").astype(str)


def is_missing(values: pd.Series, mapping: Mapping) -> pd.Series:
    """True where a value is absent or one of the mapping's missing texts."""
    missing = values.isna().to_numpy(dtype=bool, copy=True)
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        tokens = list(mapping.source.missing)
        missing |= as_text(values).str.strip().isin(tokens).to_numpy(dtype=bool)
    return missing


def typed(raw: pd.Series, kind: str, rule: FieldRule, mapping: Mapping, name: str,
           table: Table, missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Values parsed for the field's kind, and where parsing failed."""
    if kind in ("number", "integer"):
        numbers, bad = parse_numbers(raw, mapping)
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
    text = as_text(raw).astype("string")
    return text.where(~missing), np.zeros(len(raw), dtype=bool)


def parse_numbers(raw: pd.Series, mapping: Mapping) -> tuple[pd.Series, np.ndarray]:
    """Floats from text with the mapping's decimal mark; where text was not a number."""
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(
            raw.dtype):
        numbers = raw.astype("float64")
        return numbers, np.zeros(len(raw), dtype=bool)
    text = as_text(raw)
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

    words = as_text(raw).str.strip().str.lower()
    if pd.api.types.is_float_dtype(raw.dtype):
        words = words.str.removesuffix(".0")
    is_true = words.isin(true).to_numpy(dtype=bool)
    is_false = words.isin(false).to_numpy(dtype=bool)
    present = (words != "").to_numpy(dtype=bool)
    values = pd.array(np.where(is_true, True, False), dtype="boolean")
    values[~(is_true | is_false)] = pd.NA
    return pd.Series(values, index=raw.index), present & ~(is_true | is_false)


def _timestamps(raw: pd.Series, rule: FieldRule, mapping: Mapping, name: str,
                table: Table, missing: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """UTC timestamps; naive values are placed in the field's or mapping's zone."""
    zone = rule.zone or mapping.timezone
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC"), np.zeros(len(raw), dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        naive = raw
        aware = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    else:
        naive, aware = _parsed_text_times(as_text(raw), rule.formats)
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
