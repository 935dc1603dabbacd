"""The command line: bad input is refused clearly, good input is summarised."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from cssim import output
from cssim.cli import format_value, main
from cssim.scenario_file import scenario_from_dict, set_field


def invoke(*args: str) -> Any:
    """Run the cssim command in-process and return click's result."""
    return CliRunner().invoke(main, [str(arg) for arg in args])


def written(folder: Path) -> list[str]:
    """Everything in the folder except the scenario files the test wrote."""
    return sorted(path.name for path in folder.iterdir() if path.suffix != ".yaml")


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set a nested value by dotted path, list items by index."""
    set_field(data, dotted, value)


BAD_SCENARIOS = {
    "unknown key": (
        "methods.phone.handling_minuts", 12,
        ["methods.phone.handling_minuts", "unknown field",
         "did you mean 'handling_minutes'"],
    ),
    "probability above 1": (
        "methods.email.response.default", 1.4,
        ["methods.email.response.default", "probability in [0, 1]", "1.4"],
    ),
    "transition row not summing to 1": (
        "segments.smb.transitions",
        {"green": {"green": 0.9, "yellow": 0.05}, "yellow": {"yellow": 1.0},
         "red": {"red": 1.0}},
        ["segments.smb.transitions", "row 'green'", "sums to 0.95"],
    ),
    "negative handling minutes": (
        "methods.phone.handling_minutes", -5,
        ["methods.phone.handling_minutes", "negative", "-5"],
    ),
    "negative batch minutes": (
        "methods.email.batch_minutes", -30,
        ["methods.email.batch_minutes", "greater than or equal to 0", "-30"],
    ),
    "undefined policy method": (
        "policy.attempts.1.method", "sms",
        ["policy.attempts.1.method", "'sms'", "not defined", "email", "phone"],
    ),
}


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize("case", BAD_SCENARIOS, ids=list(BAD_SCENARIOS))
def test_bad_scenario_is_a_usage_error(
    case: str, command: str, scenario_data, write_scenario, workdir: Path
) -> None:
    """A broken rule exits 2 naming file, field and value, and writes nothing."""
    field, value, expected = BAD_SCENARIOS[case]
    set_path(scenario_data, field, value)
    path = write_scenario(scenario_data)

    result = invoke(command, path)

    assert result.exit_code == 2, result.output
    assert f"{path}: invalid scenario" in result.stderr
    for piece in expected:
        assert piece in result.stderr
    assert result.stdout == ""
    assert written(workdir) == []


def test_every_problem_is_listed(scenario_data, write_scenario, workdir: Path) -> None:
    """Several mistakes in one file are all reported in one go."""
    set_path(scenario_data, "methods.phone.handling_minuts", 12)
    set_path(scenario_data, "reps.0.shrinkage", 1.5)
    path = write_scenario(scenario_data)

    result = invoke("run", path)

    assert result.exit_code == 2
    assert "handling_minuts" in result.stderr
    assert "reps.0.shrinkage" in result.stderr
    assert written(workdir) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--replications", "-4"], "-4 is not in the range x>=1"),
        (["--replications", "0"], "0 is not in the range x>=1"),
        (["--workers", "0"], "0 is not in the range x>=1"),
        (["--seed", "-1"], "-1 is not in the range x>=0"),
        (["--replications", "many"], "'many' is not a valid integer"),
        (["--segment", "mid-market"], "'mid-market' is not a segment of 'tiny'"),
        (["--month", "4"], "month 4 is past the horizon of 90 days"),
    ],
)
def test_bad_option_is_a_usage_error(
    options: list[str], message: str, scenario_data, write_scenario, workdir: Path
) -> None:
    """An out-of-range or unknown option value exits 2 before anything runs."""
    path = write_scenario(scenario_data)

    result = invoke("run", path, *options)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Usage: " in result.stderr
    assert written(workdir) == []


def test_missing_scenario_file_is_a_usage_error(workdir: Path) -> None:
    """A scenario path that does not exist exits 2 naming the path."""
    result = invoke("run", "nowhere.yaml")

    assert result.exit_code == 2
    assert "'nowhere.yaml' does not exist" in result.stderr
    assert written(workdir) == []


def test_existing_output_folder_is_refused(
    scenario_data, write_scenario, workdir: Path
) -> None:
    """An output folder that exists already is neither overwritten nor reused."""
    path = write_scenario(scenario_data)
    existing = workdir / "results"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")

    result = invoke("run", path, "--output", existing, "--no-tracking")

    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]
    assert written(workdir) == ["results"]


def test_validate_summarises_a_good_scenario(
    scenario_data, write_scenario, workdir: Path
) -> None:
    """Validating a good scenario exits 0 and lists segments, reps, methods, policy."""
    path = write_scenario(scenario_data)

    result = invoke("validate", path)

    assert result.exit_code == 0, result.output
    for piece in ["tiny", "is valid", "smb", "120", "enterprise", "30", "alex",
                  "email", "phone", "Policy", "email → +3d phone"]:
        assert piece in result.stdout
    assert result.stderr == ""
    assert written(workdir) == []


def test_validate_warns_about_an_uncovered_segment(
    scenario_data, write_scenario, workdir: Path
) -> None:
    """A targeted segment no rep covers is valid but gives a CoverageWarning."""
    scenario_data["reps"][0]["segments"] = ["smb"]
    path = write_scenario(scenario_data)

    result = invoke("validate", path)

    assert result.exit_code == 0, result.output
    assert "CoverageWarning" in result.stderr
    assert "'enterprise'" in result.stderr
    assert "no rep covers it" in result.stderr


def test_unexpected_failure_exits_1_with_one_line(
    scenario_data, write_scenario, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure nobody planned for gives exit 1 and one line; -v adds the traceback."""
    import cssim.replications

    def explode(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the engine broke\nsecond line")

    monkeypatch.setattr(cssim.replications, "run_replications", explode)
    path = write_scenario(scenario_data)

    quiet = invoke("run", path, "--no-tracking")
    loud = invoke("-v", "run", path, "--no-tracking")

    assert quiet.exit_code == 1
    assert quiet.stderr.strip().splitlines() == [
        "Error: unexpected RuntimeError: the engine broke (run with -v)"
    ]
    assert loud.exit_code == 1
    assert "Traceback" in loud.stderr
    assert written(workdir) == []


def test_failed_write_leaves_no_folder(scenario_data, tmp_path: Path) -> None:
    """When writing the output fails midway, neither the folder nor a temp remains."""
    scenario = scenario_from_dict(scenario_data)
    table = pd.DataFrame({"month": [1], "segment": ["all"], "kpi": ["touches"],
                          "mean": [1.0], "p5": [1.0], "p95": [1.0]})
    broken = SimpleNamespace(to_parquet=lambda *a, **k: 1 / 0)
    result = SimpleNamespace(scenario=scenario, seed=1, replications=1, workers=1,
                             kpis=table, summary=table, log=broken,
                             snapshots=table, rep_days=table)
    target = tmp_path / "out" / "run"

    with pytest.raises(ZeroDivisionError):
        output.write_output(result, target)

    assert list((tmp_path / "out").iterdir()) == []


def test_default_folder_never_reuses_a_name(tmp_path: Path, monkeypatch) -> None:
    """Two runs in the same second get different default folders."""
    monkeypatch.chdir(tmp_path)
    first = output.default_folder("my scenario/v2")
    first.mkdir(parents=True)

    second = output.default_folder("my scenario/v2")

    assert first.parent == second.parent == Path("out")
    assert first.name.startswith("my-scenario-v2-")
    assert second.name == first.name + "-2"


@pytest.mark.parametrize(
    ("kpi", "value", "shown"),
    [("response_rate", 0.1234, "12.3%"), ("grr", 0.98, "98.0%"),
     ("touches", 1234.4, "1,234"), ("backlog", 12.34, "12.3"),
     ("days_to_first_contact", 3.456, "3.46"), ("touches", float("nan"), "–")],
)
def test_table_values_are_formatted_by_kind(kpi: str, value: float,
                                            shown: str) -> None:
    """Shares show as percentages, counts with sensible precision, NaN as a dash."""
    assert format_value(kpi, value) == shown


def test_help_and_validate_do_not_import_mlflow(
    scenario_data, write_scenario
) -> None:
    """Help and validation stay quick: neither imports MLflow."""
    path = write_scenario(scenario_data)
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from cssim.cli import main\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0\n"
        f"assert CliRunner().invoke(main, ['validate', {str(path)!r}]).exit_code == 0\n"
        "print('mlflow' in sys.modules)\n"
    )

    answer = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, check=True)

    assert answer.stdout.strip() == "False"


def test_run_shows_engine_warnings_and_writes_its_folder(
    scenario_data, write_scenario, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warning raised while simulating is shown by category; the run still ends."""
    import warnings

    import cssim.replications
    from cssim.errors import CapacityWarning

    real_run = cssim.replications.run_replications

    def warn_then_run(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("the backlog grows every month", CapacityWarning)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(cssim.replications, "run_replications", warn_then_run)
    path = write_scenario(scenario_data)

    result = invoke("run", path, "-r", "2", "-w", "1", "--no-tracking", "-o", "run",
                    "--segment", "all", "--month", "1")

    assert result.exit_code == 0, result.output
    assert "Warning (CapacityWarning): the backlog grows every month" in result.stderr
    assert "Response rate" in result.stdout
    assert "smb" not in result.stdout
    assert "Output folder: run" in result.stdout
    assert written(workdir) == ["run"]
