"""Tests of reading exports through mappings: every row used or rejected by reason."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from cssim.engagement_log import LOG_COLUMNS
from cssim.log_reader import LogReadError, read_log, read_snapshots
from cssim.mapping import mapping_from_dict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA = PROJECT_ROOT / "cssim" / "data"
MAPPINGS = PROJECT_ROOT / "mappings"

MESSY_HEADER = "Kunde;Plan;Health;Kontakt;Kanal;Versuch;Minuten;Antwort;Antwort_am"
MESSY_ROWS = [
    "c1;pro;green;03.02.2025 09:30;Telefon;1;12,5;ja;03.02.2025 10:00",
    "c2;pro;red;2025-02-03T10:00:00+01:00;E-Mail;1;0,5;nein;",
    "c1;pro;green;03.02.2025 09:30;Telefon;1;12,5;ja;03.02.2025 10:00",
    "c3;basic;yellow;04.02.2025 11:00;Telefon;1;7,25;ja;04.02.2025 10:00",
    "c4;basic;red;04.02.2025 12:00;Fax;1;3;nein;",
    "c5;basic;;05.02.2025 08:00;Telefon;2;4;nein;",
    "c6;basic;green;31.02.2025 08:00;Telefon;1;4;nein;",
    ";basic;green;05.02.2025 08:00;Telefon;1;4;nein;",
    "c7;pro;yellow;05.02.2025 09:00;Telefon;1;vier;nein;",
    "c8;pro;yellow;05.02.2025 09:15;Telefon;1;4;vielleicht;",
    "c2;pro;red;03.02.2025 10:00;E-Mail;2;1;ja;03.02.2025 11:30",
]
"""Lines 2-12: three usable rows and one of each kind of bad row."""

MESSY_MAPPING = {
    "kind": "log",
    "source": {"delimiter": "auto", "decimal": ","},
    "timezone": "Europe/Berlin",
    "fields": {
        "customer_id": "Kunde",
        "segment": "Plan",
        "tier": "Health",
        "contacted_at": {"column": "Kontakt",
                         "formats": ["%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z"]},
        "method": {"column": "Kanal", "values": {"Telefon": "phone", "E-Mail": "email"},
                   "keep_unmapped": True},
        "message": {"constant": "renewal"},
        "attempt": "Versuch",
        "handling_minutes": "Minuten",
        "responded": {"column": "Antwort", "true_values": ["ja"],
                      "false_values": ["nein"]},
        "responded_at": {"column": "Antwort_am", "formats": ["%d.%m.%Y %H:%M"]},
    },
    "methods": ["phone", "email"],
}


def write_messy(folder: Path, rows: list[str] = MESSY_ROWS) -> Path:
    """A semicolon export with a byte-order mark and CRLF line endings."""
    path = folder / "touches.csv"
    text = "\r\n".join([MESSY_HEADER, *rows]) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return path


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    """The messy export written to a temporary folder."""
    return write_messy(tmp_path)


def test_messy_export_counts_each_reason(messy: Path) -> None:
    """Every row of the messy export is used or rejected once, by the right reason."""
    result = read_log(messy, mapping_from_dict(MESSY_MAPPING))

    assert result.counts.read == 11
    assert result.counts.used == 3
    assert result.counts.rejected == {
        "duplicate touch": 1, "response before contact": 1, "unknown method": 1,
        "missing tier": 1, "unparseable date": 1, "missing customer id": 1,
        "bad number": 1, "bad boolean": 1,
    }
    assert result.counts.read == result.counts.used + result.counts.rejected_total


def test_messy_export_rejects_exact_lines(messy: Path) -> None:
    """Each rejected row carries its file line (header = 1), column and value."""
    rejected = read_log(messy, mapping_from_dict(MESSY_MAPPING)).rejected
    by_line = {row.line: (row.reason, row.column, row.value)
               for row in rejected.itertuples()}

    assert by_line == {
        4: ("duplicate touch", "customer_id+contacted_at+method+attempt",
            "same key as line 2"),
        5: ("response before contact", "Antwort_am", "04.02.2025 10:00"),
        6: ("unknown method", "Kanal", "Fax"),
        7: ("missing tier", "Health", ""),
        8: ("unparseable date", "Kontakt", "31.02.2025 08:00"),
        9: ("missing customer id", "Kunde", ""),
        10: ("bad number", "Minuten", "vier"),
        11: ("bad boolean", "Antwort", "vielleicht"),
    }


def test_messy_export_values_are_parsed(messy: Path) -> None:
    """Decimal commas, yes/no words and both date formats land in the schema."""
    log = read_log(messy, mapping_from_dict(MESSY_MAPPING)).log

    assert list(log.columns) == list(LOG_COLUMNS)
    assert log["handling_minutes"].tolist() == [12.5, 0.5, 1.0]
    assert log["responded"].tolist() == [True, False, True]
    assert log["method"].tolist() == ["phone", "email", "email"]
    expected = pd.to_datetime(
        ["2025-02-03 08:30", "2025-02-03 09:00", "2025-02-03 09:00"], utc=True)
    assert log["contacted_at"].tolist() == list(expected)


def test_strict_stops_at_first_bad_line(messy: Path) -> None:
    """Strict mode raises at the first bad line, naming file, line and column."""
    with pytest.raises(LogReadError) as caught:
        read_log(messy, mapping_from_dict(MESSY_MAPPING), strict=True)

    message = str(caught.value)
    assert str(messy) in message
    assert "line 4" in message
    assert "duplicate touch" in message


def test_strict_names_column_value_and_expectation(tmp_path: Path) -> None:
    """A bad number in strict mode names its column, its value and a number."""
    path = write_messy(tmp_path, [MESSY_ROWS[0], MESSY_ROWS[8]])

    with pytest.raises(LogReadError, match=r"line 3, column 'Minuten'.*"
                       r"expected a number, got 'vier'"):
        read_log(path, mapping_from_dict(MESSY_MAPPING), strict=True)


def test_missing_column_names_file_and_close_match(messy: Path) -> None:
    """A mapped column the export lacks stops the read with a did-you-mean."""
    raw = yaml.safe_load(yaml.safe_dump(MESSY_MAPPING))
    raw["fields"]["segment"] = "Plans"

    with pytest.raises(LogReadError, match=r"missing column\(s\) 'Plans' "
                       r"\(did you mean 'Plan'\?\)") as caught:
        read_log(messy, mapping_from_dict(raw))
    assert str(messy) in str(caught.value)


def test_naive_times_without_zone_stop_the_read(messy: Path) -> None:
    """Naive timestamps with no stated zone are an error, not a guess."""
    raw = yaml.safe_load(yaml.safe_dump(MESSY_MAPPING))
    del raw["timezone"]

    with pytest.raises(LogReadError, match="line 2: contacted_at has a timestamp "
                       "without a time zone"):
        read_log(messy, mapping_from_dict(raw))


def test_ragged_and_empty_rows_are_rejected(tmp_path: Path) -> None:
    """A row with too many fields and a blank line are counted, not skipped."""
    rows = [MESSY_ROWS[0], "", MESSY_ROWS[1] + ";extra"]
    result = read_log(write_messy(tmp_path, rows), mapping_from_dict(MESSY_MAPPING))

    assert result.counts.rejected == {"empty row": 1, "wrong number of fields": 1}
    assert result.rejected["line"].tolist() == [3, 4]
    assert result.counts.used == 1


def test_parquet_export_with_typed_columns(tmp_path: Path) -> None:
    """A parquet export's numbers, booleans and naive times are read as typed."""
    path = tmp_path / "touches.parquet"
    pd.DataFrame({
        "id": [101.0, 102.0], "plan": ["a", "b"], "health": ["red", "green"],
        "at": pd.to_datetime(["2025-06-01 12:00", "2025-06-02 12:00"]),
        "replied": [True, False],
    }).to_parquet(path)
    mapping = mapping_from_dict({
        "kind": "log", "timezone": "Europe/London",
        "fields": {
            "customer_id": "id", "segment": "plan", "tier": "health",
            "contacted_at": "at", "method": {"constant": "email"},
            "message": {"constant": "hello"}, "attempt": {"constant": 1},
            "responded": "replied",
        },
    })

    log = read_log(path, mapping).log

    assert log["customer_id"].tolist() == ["101", "102"]
    assert log["responded"].tolist() == [True, False]
    assert log["contacted_at"].iloc[0] == pd.Timestamp("2025-06-01 11:00", tz="UTC")


def test_excel_export_sheet(tmp_path: Path) -> None:
    """An Excel export is read from the named sheet, lines counted from the header."""
    pytest.importorskip("openpyxl")
    path = tmp_path / "touches.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"x": [1]}).to_excel(writer, sheet_name="notes", index=False)
        pd.DataFrame({
            "id": ["a", "b"], "tier": ["red", "blue"], "answer": ["yes", "no"],
        }).to_excel(writer, sheet_name="touches", index=False)
    mapping = mapping_from_dict({
        "kind": "log", "source": {"sheet": "touches"},
        "fields": {
            "customer_id": "id", "segment": {"constant": "all"}, "tier": "tier",
            "contacted_at": {"constant": "2025-01-01T09:00:00Z"},
            "method": {"constant": "phone"}, "message": {"constant": "m"},
            "attempt": {"constant": 1}, "responded": "answer",
        },
    })

    result = read_log(path, mapping)

    assert result.counts.used == 1
    assert result.rejected[["line", "reason", "value"]].values.tolist() == [
        [3, "unknown tier", "blue"]]


def test_bank_mapping_reads_every_row_with_its_meaning() -> None:
    """All 41,188 rows are used: 4,640 subscriptions, age bands, tier proxy."""
    result = read_log(DATA / "bank-additional-full.csv.gz",
                      MAPPINGS / "bank_marketing.yaml")

    assert (result.counts.read, result.counts.used) == (41_188, 41_188)
    assert result.counts.rejected == {}
    log = result.log
    # SOURCE.md: y = yes in 4,640 rows; poutcome success/failure/nonexistent.
    assert int(log["responded"].sum()) == 4_640
    assert set(log["segment"]) == {"age_under_30", "age_30_44", "age_45_59",
                                   "age_60_plus"}
    assert log["attempt"].max() == 56
    assert (log["tier"] == "yellow").sum() == 35_563


def test_hillstrom_mapping_arms_and_visit_rates() -> None:
    """The Hillstrom mapping gives the published arm sizes and visit rates."""
    result = read_log(DATA / "hillstrom.csv.gz", MAPPINGS / "hillstrom.yaml")
    log = result.log
    arms = log.groupby(["method", "message"])["responded"].agg(["size", "mean"])

    assert (result.counts.read, result.counts.used) == (64_000, 64_000)
    assert arms["size"].to_dict() == {
        ("email", "mens"): 21_307, ("email", "womens"): 21_387,
        ("holdout", "control"): 21_306,
    }
    assert arms["mean"].round(4).to_dict() == {
        ("email", "mens"): 0.1828, ("email", "womens"): 0.1514,
        ("holdout", "control"): 0.1062,
    }
    assert set(log["tier"]) == {"green", "yellow", "red"}
    assert set(log["segment"]) == {"urban", "suburban", "rural"}


def test_online_retail_mapping_reads_the_sample() -> None:
    """The Online Retail II sample: lines without a customer rejected and counted."""
    result = read_snapshots(DATA / "online_retail_ii_sample.csv.gz",
                            MAPPINGS / "online_retail_ii.yaml")
    snapshots = result.snapshots

    assert result.counts.read == 19_179
    assert result.counts.rejected == {"missing customer id": 452}
    assert result.counts.used == 18_727
    assert result.counts.flagged["cancellation (negative spend)"] == 469
    assert result.counts.flagged[
        "customer has no snapshot (no sale by the last month end)"] == 112
    assert snapshots["customer_id"].nunique() == 208
    assert snapshots["as_of"].min() == pd.Timestamp("2009-12-31", tz="UTC")
    assert snapshots["as_of"].max() == pd.Timestamp("2010-11-30", tz="UTC")
    assert set(snapshots["segment"]) == {"uk", "international"}
