"""Shared test fixtures: small scenario files and an isolated working folder."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

# MLflow would otherwise send usage telemetry; tests talk only to 127.0.0.1.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SMALL_SCENARIO: dict[str, Any] = {
    "name": "tiny",
    "horizon_days": 90,
    "replications": 2,
    "seed": 3,
    "segments": {
        "smb": {"customers": 120},
        "enterprise": {"customers": 30},
    },
    "reps": [{"name": "alex", "weekly_hours": 40}],
    "methods": {
        "email": {"handling_minutes": 2},
        "phone": {"handling_minutes": 15,
                  "response": {"default": {"red": 0.3, "yellow": 0.2}}},
    },
    "policy": {
        "attempts": [
            {"method": "email"},
            {"method": "phone", "after_days": 3},
        ],
    },
}
"""A valid scenario small enough to simulate in well under a second."""


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The folder holding the package, its scenarios and its tests."""
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def small_scenario() -> Any:
    """The small scenario, validated."""
    from cssim.scenario_file import scenario_from_dict

    return scenario_from_dict(copy.deepcopy(SMALL_SCENARIO), source="tiny.yaml")


@pytest.fixture
def scenario_data() -> dict[str, Any]:
    """A fresh, editable copy of the small scenario."""
    return copy.deepcopy(SMALL_SCENARIO)


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[[dict[str, Any], str], Path]:
    """Write scenario data as YAML into the test's folder and return the path."""

    def write(data: dict[str, Any], name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    return write


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in the test's own folder, with no tracking URI from the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path
