"""Tests of mapping files: the vocabulary, the shipped mappings and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cssim.mapping import MappingError, load_mapping, mapping_reference

PROJECT_ROOT = Path(__file__).resolve().parent.parent

VALID = """\
kind: log
timezone: UTC
fields:
  customer_id: id
  segment: plan
  tier: {column: health, values: {G: green, Y: yellow, R: red}}
  contacted_at: at
  method: {constant: email}
  message: {constant: hello}
  attempt: {constant: 1}
  responded: replied
"""


def problems_of(tmp_path: Path, text: str) -> str:
    """The message of the MappingError a mapping text raises."""
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid mapping")
    return message


@pytest.mark.parametrize("name", ["bank_marketing", "hillstrom", "online_retail_ii"])
def test_shipped_mappings_load(name: str) -> None:
    """Every shipped mapping file is valid."""
    mapping = load_mapping(PROJECT_ROOT / "mappings" / f"{name}.yaml")

    assert mapping.fields


def test_valid_mapping_loads(tmp_path: Path) -> None:
    """A small valid mapping loads with its shorthand column names."""
    path = tmp_path / "mapping.yaml"
    path.write_text(VALID, encoding="utf-8")

    mapping = load_mapping(path)

    assert mapping.fields["segment"].column == "plan"


def test_misspelt_key_gets_did_you_mean(tmp_path: Path) -> None:
    """An unknown key inside a rule names its path and the close key."""
    message = problems_of(tmp_path, VALID.replace("customer_id: id",
                                                   "customer_id: {colum: id}"))

    assert "fields.customer_id.colum: unknown field; did you mean 'column'?" in message


def test_unknown_schema_field_gets_did_you_mean(tmp_path: Path) -> None:
    """A field the schema lacks names the kind and the closest schema column."""
    message = problems_of(tmp_path, VALID.replace("contacted_at: at",
                                                   "contacted: at"))

    assert "fields.contacted: unknown field for a log mapping; did you mean " \
        "'contacted_at'?" in message
    assert "fields.contacted_at: required for a log mapping, missing" in message


def test_bands_need_one_more_label_than_edges(tmp_path: Path) -> None:
    """Bands with too few labels name the field, the counts and the value."""
    text = VALID.replace("segment: plan",
                         "segment: {column: size, bands: {edges: [10, 100], "
                         "labels: [small, large]}}")
    message = problems_of(tmp_path, text)

    assert "fields.segment.bands: expected one more label than edges (3), got 2" \
        in message


def test_boolean_yaml_keys_must_be_quoted(tmp_path: Path) -> None:
    """Unquoted yes/no keys, which YAML reads as booleans, are refused."""
    text = VALID.replace("responded: replied",
                         "responded: {column: y, values: {yes: true, no: false}}")
    message = problems_of(tmp_path, text)

    assert "fields.responded" in message
    assert "quote keys such as 'yes'" in message


def test_two_sources_and_bad_zone_are_refused(tmp_path: Path) -> None:
    """A rule with two sources and an unknown time zone each name their field."""
    text = VALID.replace("segment: plan", "segment: {column: plan, constant: x}")
    text = text.replace("timezone: UTC", "timezone: Europe/Lisbn")
    message = problems_of(tmp_path, text)

    assert "fields.segment: give exactly one source" in message
    assert "unknown time zone 'Europe/Lisbn'" in message


def test_option_for_another_kind_of_field_is_refused(tmp_path: Path) -> None:
    """Date formats on a text field are refused, naming the field and its kind."""
    message = problems_of(tmp_path, VALID.replace(
        "segment: plan", "segment: {column: plan, formats: ['%Y']}"))

    assert "fields.segment.formats: only for timestamp fields; segment is text" \
        in message


def test_reference_lists_every_source_and_option() -> None:
    """The vocabulary table mentions every rule key a mapping may use."""
    reference = mapping_reference()

    for key in ("row_number", "date_parts", "first_year", "weekday", "product_of",
                "values", "otherwise", "keep_unmapped", "bands", "true_values",
                "formats", "zone", "divide_by", "delimiter", "decimal", "sheet",
                "methods", "keep", "cancellation_prefix", "health"):
        assert f"{key}" in reference
    assert reference.startswith("| key | value | meaning |")


def test_a_date_format_with_an_unknown_code_fails_when_the_mapping_loads():
    """A strftime pattern with a bad directive is named before any file is read."""
    from cssim.mapping import MappingError, mapping_from_dict

    raw = {"kind": "log", "timezone": "UTC", "fields": {
        "customer_id": "id", "method": "m", "message": "m", "responded": "r",
        "tier": "t", "segment": "s", "attempt": {"constant": 1},
        "contacted_at": {"column": "w", "formats": ["%Y-%q-%d"]}}}

    with pytest.raises(MappingError, match="'q' is a bad directive"):
        mapping_from_dict(raw)
