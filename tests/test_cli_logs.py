"""The log-reading commands: bad input is named, counted and exits with 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cssim.cli import main

ROOT = Path(__file__).resolve().parent.parent

HEADER = "id;when;channel;answered;tier;segment\n"
ROWS = [
    "a;2026-01-05 10:00;phone;yes;red;smb",
    "b;2026-01-05 11:00;phone;no;red;smb",
    "c;not a date;phone;no;red;smb",
    "d;2026-01-06 10:00;pigeon;no;red;smb",
    "e;2026-01-06 10:00;phone;maybe;red;smb",
    "a;2026-01-05 10:00;phone;yes;red;smb",
]
MAPPING = {
    "kind": "log",
    "source": {"format": "csv", "delimiter": ";"},
    "timezone": "UTC",
    "fields": {
        "customer_id": "id",
        "contacted_at": {"column": "when", "formats": ["%Y-%m-%d %H:%M"]},
        "method": "channel",
        "responded": "answered",
        "tier": "tier",
        "segment": "segment",
        "message": {"constant": "default"},
        "attempt": {"constant": 1},
    },
    "methods": ["phone"],
}


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text(HEADER + "\n".join(ROWS) + "\n",
                                      encoding="utf-8")
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    return tmp_path


def invoke(*arguments):
    return CliRunner().invoke(main, [str(argument) for argument in arguments])


def test_rejected_rows_are_counted_by_reason_with_their_lines(files):
    """Calibrate reports rows read, used and rejected, naming the first lines."""
    result = invoke("calibrate", "log.csv", "--mapping", "map.yaml", "-o", "out.yaml",
                    "--no-tracking", "--min-touches", "1")

    assert result.exit_code == 0, result.output
    assert "6 rows read, 2 used, 4 rejected" in result.output
    assert "line 4: unparseable date" in result.output
    assert "line 5: unknown method" in result.output
    assert "line 6: bad boolean" in result.output
    assert "line 7: duplicate touch" in result.output
    assert (files / "out.yaml").exists()


def test_strict_stops_at_the_first_bad_row_with_exit_2(files):
    """--strict fails on line 4, naming the file, and writes nothing."""
    result = invoke("calibrate", "log.csv", "--mapping", "map.yaml", "-o", "out.yaml",
                    "--no-tracking", "--strict")

    assert result.exit_code == 2
    assert "line 4" in result.output and "log.csv" in result.output
    assert not (files / "out.yaml").exists()


def test_a_mapping_typo_is_bad_input_with_a_suggestion(files):
    """An unknown mapping key exits with 2 and suggests the right one."""
    bad = dict(MAPPING, methds=["phone"])
    (files / "bad.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")

    result = invoke("calibrate", "log.csv", "--mapping", "bad.yaml", "-o", "out.yaml",
                    "--no-tracking")

    assert result.exit_code == 2
    assert "did you mean 'methods'" in result.output
    assert "Traceback" not in result.output


def test_since_after_until_is_refused_before_reading(files):
    """A period that ends before it starts is a usage error."""
    result = invoke("calibrate", "log.csv", "--mapping", "map.yaml", "-o", "out.yaml",
                    "--since", "2026-02-01", "--until", "2026-01-01", "--no-tracking")

    assert result.exit_code == 2
    assert "is not before --until" in result.output


def test_compare_refuses_a_folder_that_is_not_a_forecast(files):
    """compare names the folder that lacks a forecast's files."""
    (files / "empty").mkdir()

    result = invoke("compare", "empty", "log.csv", "--mapping", "map.yaml",
                    "--no-tracking")

    assert result.exit_code == 2
    assert "not a complete cssim output folder" in result.output
