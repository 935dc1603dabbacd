"""Mapping files: how a real export's columns and values become the cssim schemas."""

from __future__ import annotations

import codecs
import datetime as dt
import difflib
import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from cssim.engagement_log import LOG_COLUMNS, REQUIRED_LOG_COLUMNS, SNAPSHOT_COLUMNS
from cssim.errors import MappingError
from cssim.snapshots import PURCHASE_COLUMNS, Bands, HealthRule
from cssim.validation_messages import describe_problem

Kind = Literal["log", "snapshots", "purchases"]
Scalar = str | int | float | bool | None

TARGET_COLUMNS: dict[str, dict[str, str]] = {
    "log": LOG_COLUMNS,
    "snapshots": SNAPSHOT_COLUMNS,
    "purchases": PURCHASE_COLUMNS,
}
"""The columns a mapping of each kind fills, with their pandas dtypes."""

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "log": REQUIRED_LOG_COLUMNS,
    "snapshots": ("customer_id", "as_of", "segment", "tier"),
    "purchases": ("customer_id", "invoiced_at", "amount"),
}

_SOURCES = ("column", "constant", "row_number", "date_parts", "product_of")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    """How to open the export."""

    format: Literal["auto", "csv", "parquet", "excel"] = Field(
        "auto", description="`auto` decides by the file name: .csv/.txt/.tsv "
        "(optionally .gz, .bz2, .xz), .parquet, .xlsx/.xlsm.")
    delimiter: str = Field(
        "auto", description="CSV field separator: one character, `tab`, or "
        "`auto` (whichever of `,` `;` tab `|` occurs most in the header line).")
    encoding: str = Field(
        "utf-8", description="CSV text encoding; a UTF-8 byte-order mark is "
        "dropped either way.")
    decimal: Literal[".", ","] = Field(
        ".", description="Decimal mark of numbers in the text (`,` for 1,5).")
    thousands: Literal["", ".", ",", " ", "'"] = Field(
        "", description="Thousands separator to remove from numbers, if any.")
    sheet: str | int = Field(
        0, description="Excel sheet name or 0-based position.")
    missing: list[str] = Field(
        [""], description="Cell texts that mean no value (compared after "
        "stripping spaces).")

    @model_validator(mode="after")
    def _check(self) -> Source:
        if self.delimiter == "tab":
            self.delimiter = "\t"
        if self.delimiter != "auto" and len(self.delimiter) != 1:
            raise ValueError(
                f"delimiter must be one character, 'tab' or 'auto', got "
                f"{self.delimiter!r}")
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"unknown text encoding {self.encoding!r}") from None
        if self.thousands and self.thousands == self.decimal:
            raise ValueError("thousands separator and decimal mark must differ")
        return self


class RowNumber(_Strict):
    """An identifier made from the data row's position (first data row = start)."""

    prefix: str = ""
    width: int = Field(0, ge=0, description="Zero-pad the number to this width.")
    start: int = 0


class YearFromWrap(_Strict):
    """A year inferred from row order: +1 wherever the month number falls."""

    first_year: int = Field(ge=1900, le=2200)


class DayFromWeekday(_Strict):
    """A day of month from a weekday column, counting weeks in row order."""

    weekday: str = Field(description="Column of weekday names (mon or monday).")


class DateParts(_Strict):
    """A timestamp assembled from year, month and day parts."""

    year: str | int | YearFromWrap
    month: str | int
    day: str | int | DayFromWeekday = 1
    time: str = "00:00"

    @model_validator(mode="after")
    def _check(self) -> DateParts:
        if not _TIME.match(self.time):
            raise ValueError(f"time must be HH:MM or HH:MM:SS, got {self.time!r}")
        return self


class FieldRule(_Strict):
    """Where one schema column comes from and how its values are turned."""

    column: str | None = None
    constant: Scalar = None
    row_number: RowNumber | None = None
    date_parts: DateParts | None = None
    product_of: list[str] | None = Field(None, min_length=2)
    values: dict[str, Scalar] | None = None
    otherwise: Scalar = None
    keep_unmapped: bool = False
    bands: Bands | None = None
    true_values: list[str] | None = None
    false_values: list[str] | None = None
    formats: list[str] | None = None
    zone: str | None = None
    divide_by: float | None = Field(None, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _column_shorthand(cls, data: Any) -> Any:
        """A bare string names the source column."""
        if isinstance(data, str):
            return {"column": data}
        if isinstance(data, dict) and isinstance(data.get("values"), dict):
            data = dict(data)
            data["values"] = _value_keys(data["values"])
        return data

    @model_validator(mode="after")
    def _check(self) -> FieldRule:
        given = [name for name in _SOURCES if name in self.model_fields_set]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one source of {list(_SOURCES)}, got "
                f"{given or 'none'}")
        if self.values is not None and self.bands is not None:
            raise ValueError("give values or bands, not both")
        if "otherwise" in self.model_fields_set and self.values is None:
            raise ValueError("otherwise needs a values map")
        if self.keep_unmapped and "otherwise" in self.model_fields_set:
            raise ValueError("give otherwise or keep_unmapped, not both")
        if self.zone is not None:
            check_zone(self.zone)
        for pattern in self.formats or []:
            if "%" not in pattern:
                raise ValueError(
                    f"date format {pattern!r} has no % directive; expected "
                    "strftime codes such as %d/%m/%Y %H:%M")
            _check_directives(pattern)
        return self

    def source_name(self) -> str:
        """Which of the sources this rule uses."""
        return next(name for name in _SOURCES if name in self.model_fields_set)

    def source_columns(self) -> list[str]:
        """Every export column this rule reads."""
        if self.column is not None:
            return [self.column]
        if self.product_of is not None:
            return list(self.product_of)
        if self.date_parts is not None:
            parts = self.date_parts
            day = parts.day
            if isinstance(day, DayFromWeekday):
                day = day.weekday
            return [p for p in (parts.year, parts.month, day) if isinstance(p, str)]
        return []


class PurchaseOptions(_Strict):
    """How invoice numbers mark lines that are not plain sales."""

    cancellation_prefix: str | None = Field(
        "C", description="Invoices starting with this are cancellations: "
        "negative spend, not a purchase.")
    adjustment_prefixes: list[str] = Field(
        ["A"], description="Invoices starting with these are bookkeeping "
        "adjustments, rejected as not a sale.")


class Mapping(_Strict):
    """A mapping file: one export format turned into a cssim table."""

    kind: Kind = Field(description="What the export becomes: an engagement "
                       "`log`, tier `snapshots`, or `purchases` (invoice lines "
                       "turned into monthly snapshots by `health`).")
    description: str = ""
    source: Source = Source()
    timezone: str | None = Field(
        None, description="Zone of naive timestamps for fields without `zone`.")
    fields: dict[str, FieldRule]
    methods: list[str] | None = Field(
        None, description="Allowed methods; other methods are rejected.")
    keep: bool | list[str] = Field(
        False, description="Export columns to carry beside the schema's "
        "(`true` for all); a name the schema uses gets a `source_` prefix.")
    purchases: PurchaseOptions = PurchaseOptions()
    health: HealthRule = HealthRule()
    _origin: str = PrivateAttr("<mapping>")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            check_zone(value)
        return value


def check_zone(name: str) -> None:
    """Raise ``ValueError`` for a time-zone name the zone database lacks."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name such as "
            "Europe/London or UTC") from None


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping file; errors name the file and each field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MappingError(str(path), [f"cannot read the file: {error.strerror}"])
    except yaml.YAMLError as error:
        raise MappingError(str(path), [f"not valid YAML: {error}"])
    if not isinstance(raw, dict):
        raise MappingError(
            str(path),
            [f"expected a mapping of fields (kind, source, fields), got "
             f"{type(raw).__name__}"])
    return mapping_from_dict(raw, source=str(path))


def mapping_from_dict(raw: dict[str, Any], source: str = "<mapping>") -> Mapping:
    """Validate plain data as a mapping, with the same errors as a file."""
    try:
        mapping = Mapping.model_validate(raw)
    except ValidationError as error:
        raise MappingError(source, [describe_problem(item, Mapping)
                                    for item in error.errors()])

    problems = _field_problems(mapping)
    if problems:
        raise MappingError(source, problems)
    mapping._origin = source
    return mapping


def mapping_origin(mapping: Mapping) -> str:
    """The file a mapping was read from, for messages."""
    return mapping._origin


def field_kind(mapping: Mapping, name: str) -> str:
    """text, tier, timestamp, integer, number or boolean: how a field is parsed."""
    dtype = TARGET_COLUMNS[mapping.kind][name]
    if name == "tier":
        return "tier"
    if dtype.startswith("datetime64"):
        return "timestamp"
    if dtype == "int64":
        return "integer"
    if dtype == "float64":
        return "number"
    if dtype in ("bool", "boolean"):
        return "boolean"
    return "text"


def _field_problems(mapping: Mapping) -> list[str]:
    """Rules that need the mapping's kind: known fields, required fields, options."""
    columns = TARGET_COLUMNS[mapping.kind]
    problems = []
    for name, rule in mapping.fields.items():
        if name not in columns:
            hint = difflib.get_close_matches(name, list(columns), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                f"fields.{name}: unknown field for a {mapping.kind} mapping"
                f"{suggestion} (allowed: {', '.join(columns)})")
            continue
        problems += _rule_problems(mapping, name, rule)

    for name in REQUIRED_COLUMNS[mapping.kind]:
        if name not in mapping.fields:
            problems.append(
                f"fields.{name}: required for a {mapping.kind} mapping, missing")
    return problems


def _rule_problems(mapping: Mapping, name: str, rule: FieldRule) -> list[str]:
    kind = field_kind(mapping, name)
    where = f"fields.{name}"
    problems = []
    only_for = [
        ("formats", rule.formats is not None, "timestamp"),
        ("zone", rule.zone is not None, "timestamp"),
        ("date_parts", rule.date_parts is not None, "timestamp"),
        ("true_values", rule.true_values is not None, "boolean"),
        ("false_values", rule.false_values is not None, "boolean"),
        ("divide_by", rule.divide_by is not None, "number"),
        ("product_of", rule.product_of is not None, "number"),
    ]
    for option, used, allowed in only_for:
        if used and kind != allowed:
            problems.append(
                f"{where}.{option}: only for {allowed} fields; {name} is {kind}")
    if rule.bands is not None and kind not in ("text", "tier"):
        problems.append(f"{where}.bands: only for text or tier fields; "
                        f"{name} is {kind}")
    if rule.row_number is not None and kind != "text":
        problems.append(f"{where}.row_number: only for text fields; {name} is {kind}")
    return problems


def _value_keys(values: dict[Any, Any]) -> dict[Any, Any]:
    """Value-map keys as text; a YAML boolean key is refused (it was yes/no/on)."""
    out = {}
    for key, value in values.items():
        if isinstance(key, bool):
            out[f"<boolean {key}>"] = value
        elif isinstance(key, int | float):
            out[str(key)] = value
        else:
            out[key] = value
    bad = [key for key in out if isinstance(key, str) and key.startswith("<boolean")]
    if bad:
        raise ValueError(
            f"values: YAML read a key as a boolean ({', '.join(bad)}); quote "
            "keys such as 'yes', 'no', 'on', 'off', 'true' and 'false'")
    return out


def _check_directives(pattern: str) -> None:
    """Refuse a date format with a code that ``strptime`` does not know."""
    try:
        dt.datetime.strptime("", pattern)
    except ValueError as error:
        if "directive" in str(error):
            raise ValueError(f"date format {pattern!r}: {error}; expected strftime "
                             "codes such as %Y-%m-%d %H:%M") from None


_REFERENCE_ROWS: list[tuple[str, str, str]] = [
    ("`kind`", "`log`, `snapshots` or `purchases`",
     "What the export becomes. `purchases` are invoice lines that "
     "`read_snapshots` turns into monthly tier snapshots by `health`."),
    ("`description`", "text", "Free text: what the export is, and assumptions."),
    ("`source.format`", "`auto`, `csv`, `parquet`, `excel`",
     "`auto` (default) decides by file name: .csv/.tsv/.txt, optionally "
     ".gz/.bz2/.xz; .parquet; .xlsx/.xlsm (Excel needs openpyxl)."),
    ("`source.delimiter`", "one character, `tab`, `auto`",
     "CSV separator. `auto` (default) picks whichever of `,` `;` tab `|` occurs "
     "most in the header line."),
    ("`source.encoding`", "codec name", "Default `utf-8`; a byte-order mark is "
     "dropped either way. E.g. `cp1252`, `latin-1`."),
    ("`source.decimal`", "`.` or `,`", "Decimal mark of numbers written as text."),
    ("`source.thousands`", "none (default), `.`, `,`, space, `'`",
     "Thousands separator removed from numbers before parsing."),
    ("`source.sheet`", "name or 0-based number", "Excel sheet (default the first)."),
    ("`source.missing`", "list of text", "Cell texts meaning no value (default "
     "the empty cell); compared after stripping spaces."),
    ("`timezone`", "IANA zone", "Zone of naive timestamps, for every timestamp "
     "field without its own `zone`. Naive times with no zone stop the read."),
    ("`fields.NAME`", "rule or column name",
     "How schema column NAME is filled. A bare text is short for `{column: ...}`. "
     "Each rule has exactly one source: `column`, `constant`, `row_number`, "
     "`date_parts` or `product_of`."),
    ("`….column`", "column name", "Take the export's column (exact header text)."),
    ("`….constant`", "value", "The same value in every row."),
    ("`….row_number`", "`{prefix, width, start}`",
     "An id from the data row's position: `prefix` + number from `start` "
     "(default 0) zero-padded to `width`. For exports without a customer id."),
    ("`….date_parts`", "`{year, month, day, time}`",
     "A timestamp from parts. Each of year, month, day is a column name or a "
     "number; month may be a name (jan, january); `time` is HH:MM (default "
     "00:00). `year: {first_year: Y}` infers the year from row order: Y, plus "
     "one wherever the month number falls. `day: {weekday: COLUMN}` takes the "
     "weekday's date, counting a new week in row order where the weekday steps "
     "back within a month, held inside the month."),
    ("`….product_of`", "list of columns", "A number: the product of the columns "
     "(e.g. quantity × unit price)."),
    ("`….values`", "map of text to value",
     "Replace each value by the map (keys compared as text after stripping; "
     "quote yes/no/on/off keys). A value not in the map rejects the row unless "
     "`otherwise` gives a value or `keep_unmapped: true` passes it through. A "
     "`null` result means no value."),
    ("`….bands`", "`{edges, labels}`",
     "A label from a number: below the first edge gets the first label, each "
     "edge starts the next band; one more label than edges."),
    ("`….true_values`, `….false_values`", "lists of text",
     "Boolean vocabulary, compared case-insensitively. Default true, yes, y, t, "
     "1 and false, no, n, f, 0."),
    ("`….formats`", "list of strftime patterns",
     "Timestamp formats tried in order (e.g. `%d/%m/%Y %H:%M`). Without it, "
     "ISO 8601. A `%z` offset makes a value aware."),
    ("`….zone`", "IANA zone", "Zone of this field's naive timestamps."),
    ("`….divide_by`", "number > 0", "Divide a number, e.g. seconds to minutes."),
    ("`methods`", "list of text", "Allowed methods; a row with another method is "
     "rejected as an unknown method."),
    ("`keep`", "`true` or list of columns",
     "Export columns carried beside the schema's columns; a name the schema uses "
     "gets a `source_` prefix."),
    ("`purchases.cancellation_prefix`", "text or null",
     "Default `C`: such invoices are cancellations, counted as negative spend "
     "and never as a purchase."),
    ("`purchases.adjustment_prefixes`", "list of text",
     "Default `[A]`: such invoices are bookkeeping adjustments, rejected."),
    ("`health.*`", "numbers", "The purchase-to-tier rule, see "
     "`cssim.snapshots.HealthRule`: `green_within_days` (30), `green_invoices` "
     "(3) within `frequency_days` (90), `yellow_within_days` (90), "
     "`red_within_days` (180), `arr_window_days` (365), `min_annualise_days` "
     "(90), `zone` (UTC), `size_bands`."),
]


def mapping_reference() -> str:
    """The mapping-file vocabulary as a Markdown table, for the README."""
    lines = ["| key | value | meaning |", "| --- | --- | --- |"]
    lines += [f"| {key} | {value} | {meaning} |"
              for key, value, meaning in _REFERENCE_ROWS]
    rows_per_kind = [
        f"`{kind}`: {', '.join(f'`{c}`' for c in columns)}"
        for kind, columns in TARGET_COLUMNS.items()
    ]
    lines += ["", "Fields per kind (required ones are checked when the mapping "
              "loads): " + "; ".join(rows_per_kind) + "."]
    return "\n".join(lines) + "\n"
