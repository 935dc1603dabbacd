"""MLflow tracking: a local SQLite store, a real tracking server, shipped scenarios."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from cssim.output import write_output
from cssim.replications import RunResult, run_replications
from cssim.scenario import Scenario
from cssim.scenario_file import content_hash
from cssim.tracking import (
    MAX_PARAM_VALUE_LENGTH,
    TRUNCATION_MARK,
    TrackingError,
    flatten,
    log_folder,
    log_run,
    mlflow_key,
    scenario_params,
)

OUTPUT_FILES = [
    "engagement_log.parquet", "kpis.parquet", "rep_days.parquet", "run.json",
    "scenario.resolved.yaml", "summary.csv", "summary.parquet",
    "tier_snapshots.parquet",
]
SERVER_START_SECONDS = 90


@pytest.fixture(scope="module")
def small_run(small_scenario: Scenario) -> RunResult:
    """Two replications of the small scenario, simulated once for the module."""
    return run_replications(small_scenario, replications=2, workers=1)


@pytest.fixture
def written_run(small_run: RunResult, tmp_path: Path) -> Path:
    """The small run's output folder, written into the test's folder."""
    return write_output(small_run, tmp_path / "out" / "tiny")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on 127.0.0.1 with its own store; stopped afterwards."""
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{folder / 'server.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    # Only tracking is under test: the server's background job runner stays off.
    environment = os.environ | {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(command, cwd=folder, stdout=log, stderr=log,
                              start_new_session=True, env=environment)
    url = f"http://127.0.0.1:{port}"

    try:
        _wait_until_answering(url, server, folder / "server.log")
        yield url
    finally:
        _stop(server)
        log.close()


def _wait_until_answering(url: str, server: subprocess.Popen, log: Path) -> None:
    """Poll the server's health endpoint until it answers or gives up."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server did not answer in time:\n{log.read_text()}")


def _stop(server: subprocess.Popen) -> None:
    """Stop the server's process group: politely first, then for sure."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=15)


def assert_recorded(client: MlflowClient, run_id: str, result: RunResult) -> None:
    """The run holds the scenario params, stepped metrics, tags and all files."""
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"

    params = run.data.params
    assert params["name"] == "tiny"
    assert params["reps.0.name"] == "alex"
    assert params["reps.0.working_days"] == '["mon", "tue", "wed", "thu", "fri"]'
    assert params["policy.attempts.1.method"] == "phone"
    assert params["policy.attempts.1.after_days"] == "3.0"
    assert params["segments.smb.customers"] == "120"
    assert len(params) > 100

    tags = run.data.tags
    assert tags["scenario"] == "tiny"
    assert tags["content_hash"] == content_hash(result.scenario)
    assert tags["seed"] == str(result.seed)
    assert tags["replications"] == "2"
    assert tags["workers"] == "1"
    assert tags["cssim_version"]

    history = client.get_metric_history(run_id, "rep_utilisation.all.mean")
    assert sorted(metric.step for metric in history) == [1, 2, 3]
    expected = result.summary.query("kpi == 'rep_utilisation' and segment == 'all'")
    by_month = dict(zip(expected["month"], expected["mean"]))
    for metric in history:
        assert metric.value == pytest.approx(by_month[metric.step])
    assert "response_rate.smb.p95" in run.data.metrics
    assert "touches.enterprise.p5" in run.data.metrics

    listed = sorted(item.path for item in client.list_artifacts(run_id))
    assert listed == OUTPUT_FILES


def test_run_is_recorded_in_a_sqlite_store(small_run: RunResult, written_run: Path,
                                           tmp_path: Path) -> None:
    """A run lands in a SQLite store with params, metrics by month and artifacts."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()

    tracked = log_run(small_run, written_run, tracking_uri=uri)

    client = MlflowClient(tracking_uri=uri)
    assert_recorded(client, tracked.run_id, small_run)
    experiment = client.get_experiment(tracked.experiment_id)
    assert experiment.name == "tiny"
    assert experiment.artifact_location == (tmp_path / "store" / "mlartifacts").as_uri()
    assert tracked.how_to_open() == f"mlflow ui --backend-store-uri {uri}"


def test_output_folder_can_be_recorded_later(small_run: RunResult, written_run: Path,
                                             tmp_path: Path) -> None:
    """An output folder alone is enough to record the run, under a chosen experiment."""
    uri = f"sqlite:///{tmp_path / 'later.db'}"

    tracked = log_folder(written_run, tracking_uri=uri, experiment="staffing")

    client = MlflowClient(tracking_uri=uri)
    assert client.get_experiment(tracked.experiment_id).name == "staffing"
    assert_recorded(client, tracked.run_id, small_run)


def test_run_is_recorded_on_a_tracking_server(small_run: RunResult, written_run: Path,
                                              tracking_server: str) -> None:
    """A run logged over HTTP to a real server reads back complete."""
    tracked = log_run(small_run, written_run, tracking_uri=tracking_server,
                      experiment="over-http")

    client = MlflowClient(tracking_uri=tracking_server)
    assert_recorded(client, tracked.run_id, small_run)
    assert tracked.how_to_open().startswith(f"{tracking_server}/#/experiments/")


def test_unreachable_server_is_a_tracking_error(small_run: RunResult,
                                                written_run: Path) -> None:
    """A server that does not answer fails fast with a message naming it."""
    address = f"127.0.0.1:{free_port()}"

    started = time.monotonic()
    with pytest.raises(TrackingError, match=f"cannot reach .* at {address}"):
        log_run(small_run, written_run, tracking_uri=f"http://{address}")
    assert time.monotonic() - started < 10


def test_long_values_are_truncated_and_named() -> None:
    """A param over MLflow's length limit is cut with a mark and reported."""
    resolved = {"description": "x" * 7000, "reps": [{"name": "alex"}]}

    params, truncated = scenario_params(resolved)

    assert len(params["description"]) == MAX_PARAM_VALUE_LENGTH
    assert params["description"].endswith(TRUNCATION_MARK)
    assert truncated == ["description"]
    assert params["reps.0.name"] == "alex"


def test_flatten_walks_mappings_and_lists_of_mappings() -> None:
    """Nested data becomes dotted paths; lists of plain values stay whole."""
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "d": [{"e": None}], "f": {},
                    "g": "text"})

    assert flat == {"a.b": "1", "a.c": "[1, 2]", "d.0.e": "null", "f": "{}",
                    "g": "text"}


def test_names_are_made_acceptable_to_mlflow() -> None:
    """Characters MLflow rejects in names, slashes included, become underscores."""
    assert mlflow_key("response_rate.EMEA (large)/new.mean") == (
        "response_rate.EMEA _large__new.mean"
    )


@pytest.mark.parametrize("file_name", ["quickstart.yaml", "bank_phone_outreach.yaml"])
def test_shipped_scenario_runs_end_to_end(file_name: str, project_root: Path,
                                          tmp_path: Path) -> None:
    """A shipped scenario runs from the command line into a folder and the store."""
    scenario_path = project_root / "scenarios" / file_name
    assert scenario_path.exists(), f"{scenario_path} is missing"
    environment = {key: value for key, value in os.environ.items()
                   if key != "MLFLOW_TRACKING_URI"}
    command = [str(Path(sys.executable).parent / "cssim"), "run", str(scenario_path),
               "--replications", "4", "--workers", "2", "--output", "result"]

    finished = subprocess.run(command, cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=300)

    assert finished.returncode == 0, finished.stderr
    folder = tmp_path / "result"
    files = sorted(path.name for path in folder.iterdir())
    assert files == sorted(OUTPUT_FILES + ["mlflow_run.json"])
    assert "Output folder: result" in finished.stdout
    assert "Response rate" in finished.stdout
    assert (tmp_path / "mlflow.db").exists()
    assert not (tmp_path / "mlruns").exists()

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [experiment] = client.search_experiments(filter_string="name != 'Default'")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_id in finished.stdout
    recorded = json.loads((folder / "mlflow_run.json").read_text(encoding="utf-8"))
    assert recorded["run_id"] == run.info.run_id
    assert run.data.tags["replications"] == "4"
    assert run.data.tags["workers"] == "2"
    assert run.data.tags["fixed_parameters"] == "false"
    assert len(client.list_artifacts(run.info.run_id)) == len(OUTPUT_FILES)
    assert (tmp_path / "mlartifacts" / run.info.run_id / "artifacts").is_dir()


def test_run_keeps_the_folder_when_tracking_fails(write_scenario, workdir: Path,
                                                  scenario_data) -> None:
    """With the server down, the folder is written and the exit code says it failed."""
    path = write_scenario(scenario_data)
    address = f"127.0.0.1:{free_port()}"
    command = [str(Path(sys.executable).parent / "cssim"), "run", str(path),
               "--replications", "2", "--workers", "1", "-o", "kept",
               "--tracking-uri", f"http://{address}"]

    finished = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                              timeout=120)

    assert finished.returncode == 1
    assert sorted(p.name for p in (workdir / "kept").iterdir()) == OUTPUT_FILES
    assert f"cannot reach the MLflow tracking server at {address}" in finished.stderr
    assert "The results are safe in kept" in finished.stderr
    assert "cssim track kept" in finished.stderr
    assert not (workdir / "mlflow.db").exists()
