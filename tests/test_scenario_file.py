"""Reading scenario files: every bad input is named before anything runs."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from builders import minimal

from cssim.errors import ScenarioError
from cssim.scenario_file import load_scenario


def write_scenario(tmp_path, raw: dict) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return str(path)


def with_accounts(tmp_path, text: str) -> str:
    (tmp_path / "accounts.csv").write_text(text, encoding="utf-8")
    raw = minimal()
    raw["segments"]["smb"] = {"accounts": "accounts.csv"}
    return write_scenario(tmp_path, raw)


@pytest.mark.parametrize("text, expected", [
    ("customer_id,tier,arr\na,red,10\nb,orange,20\n", "line 3: tier 'orange'"),
    ("customer_id,tier,arr\na,red,-5\n", "line 2: arr '-5'; expected a number >= 0"),
    ("customer_id,tier,arr\na,red,1\na,red,2\n", "line 3: customer_id 'a'"),
    ("customer_id,tier\na,red\n", "missing column(s) ['arr']"),
    ("customer_id,tier,arr\n", "no accounts after the header"),
    ("", "cannot read"),
    ("customer_id,tier,arr,renewal_date\na,red,1,someday\n",
     "line 2: renewal_date 'someday'"),
])
def test_bad_accounts_rows_are_named_when_the_scenario_loads(tmp_path, text,
                                                             expected):
    """An accounts CSV with a bad row fails at load time, naming line and value."""
    path = with_accounts(tmp_path, text)

    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)

    assert expected in str(caught.value)


def test_bad_accounts_fail_with_exit_2_on_several_workers(tmp_path):
    """A run on two workers reports the bad account row, not a broken pool."""
    path = with_accounts(tmp_path, "customer_id,tier,arr\na,orange,10\n")

    done = subprocess.run(
        [sys.executable, "-m", "cssim.cli", "run", path, "-w", "2", "-r", "2",
         "--no-tracking", "-o", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path,
    )

    assert done.returncode == 2
    assert "tier 'orange'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_key_given_twice_is_an_error(tmp_path):
    """Duplicate YAML keys are refused instead of the last one silently winning."""
    path = tmp_path / "scenario.yaml"
    path.write_text("name: a\nhorizon_days: 90\nhorizon_days: 30\n", encoding="utf-8")

    with pytest.raises(ScenarioError, match="'horizon_days' is given twice"):
        load_scenario(path)


def test_a_file_that_is_not_utf8_is_named(tmp_path):
    """A binary or wrongly encoded file gives a scenario error naming it."""
    path = tmp_path / "scenario.yaml"
    path.write_bytes(b"name: \x80\x81\n")

    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(path)


def test_a_scenario_error_survives_pickling():
    """Errors raised in worker processes come back whole."""
    import pickle

    error = ScenarioError("f.yaml", ["a: bad", "b: worse"])
    again = pickle.loads(pickle.dumps(error))

    assert again.path == "f.yaml" and again.problems == ["a: bad", "b: worse"]
