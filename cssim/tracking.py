"""Recording runs in MLflow: scenario as params, monthly KPIs as metrics, files."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd
import yaml

from cssim.errors import CssimError
from cssim.output import RUN_FILE, SCENARIO_FILE, TABLE_FILES, run_facts
from cssim.scenario import resolve

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from cssim.replications import RunResult

logger = logging.getLogger("cssim")

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
"""A SQLite store in the working directory, used when no URI is given."""
ARTIFACT_FOLDER = "mlartifacts"
"""Artifact folder created beside a SQLite store for new experiments."""
MAX_PARAM_VALUE_LENGTH = 6000
"""MLflow's limit on the length of a param value."""
MAX_KEY_LENGTH = 250
"""MLflow's limit on the length of a param or metric name."""
MAX_TAG_VALUE_LENGTH = 8000
TRUNCATION_MARK = "...[truncated]"
STATISTICS: tuple[str, ...] = ("mean", "p5", "p95")
SERVER_CHECK_TIMEOUT_SECONDS = 5.0


class TrackingError(CssimError):
    """A run could not be recorded in MLflow (store unreachable or refused it)."""


@dataclass(frozen=True)
class TrackedRun:
    """Where a run was recorded, and how a user opens it."""

    run_id: str
    experiment_id: str
    experiment_name: str
    tracking_uri: str

    def how_to_open(self) -> str:
        """One line telling a user how to look at the run in MLflow's UI."""
        if self.tracking_uri.startswith(("http://", "https://")):
            base = self.tracking_uri.rstrip("/")
            return f"{base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"
        return f"mlflow ui --backend-store-uri {self.tracking_uri}"


def resolve_tracking_uri(tracking_uri: str | None = None) -> str:
    """The URI given, else ``MLFLOW_TRACKING_URI``, else the local SQLite store."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def log_run(
    result: RunResult,
    output_folder: Path | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    fixed_parameters: bool | None = None,
) -> TrackedRun:
    """Record a run: params, metrics by month, tags, and the output files.

    The experiment is named after the scenario unless ``experiment`` is given;
    ``fixed_parameters``, when known, becomes a tag. Raises ``TrackingError``
    if the store cannot be reached or refuses the run.
    """
    facts = run_facts(result)
    if fixed_parameters is not None:
        facts["fixed_parameters"] = fixed_parameters
    return _record(
        resolved=resolve(result.scenario),
        summary=result.summary,
        facts=facts,
        output_folder=output_folder,
        tracking_uri=tracking_uri,
        experiment=experiment,
    )


def log_folder(
    folder: Path,
    tracking_uri: str | None = None,
    experiment: str | None = None,
) -> TrackedRun:
    """Record a run from an output folder written earlier, e.g. when tracking failed."""
    try:
        facts = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        resolved = yaml.safe_load((folder / SCENARIO_FILE).read_text(encoding="utf-8"))
        summary = pd.read_parquet(folder / TABLE_FILES["summary"])
    except (OSError, ValueError) as error:
        raise TrackingError(f"{folder} is not a complete cssim output folder: {error}")
    return _record(resolved, summary, facts, folder, tracking_uri, experiment)


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested scenario data as ``{dotted.path: text}``; lists of scalars stay whole.

    Mappings and lists of mappings are walked (list items by index, as in
    ``reps.0.count``); scalars and lists of scalars become text.
    """
    if isinstance(value, dict) and value:
        flat: dict[str, str] = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix: value if isinstance(value, str) else json.dumps(value)}


def mlflow_key(name: str) -> str:
    """A name MLflow accepts: unsupported characters (and slashes) become ``_``."""
    cleaned = re.sub(r"[^\w.\- ]", "_", name)
    return cleaned[:MAX_KEY_LENGTH]


def scenario_params(resolved: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Flattened scenario params, with values cut to MLflow's length limit.

    Returns the params and the names of those that were truncated; their
    full values stay in the ``scenario.resolved.yaml`` artifact.
    """
    params: dict[str, str] = {}
    truncated: list[str] = []
    for path, text in flatten(resolved).items():
        key = mlflow_key(path)
        if len(text) > MAX_PARAM_VALUE_LENGTH:
            keep = MAX_PARAM_VALUE_LENGTH - len(TRUNCATION_MARK)
            text = text[:keep] + TRUNCATION_MARK
            truncated.append(key)
        if key in params:
            logger.warning("param %s appears twice after cleaning its name; "
                           "keeping the first value", key)
            continue
        params[key] = text
    return params, truncated


def summary_metrics(summary: pd.DataFrame) -> Iterator[tuple[str, float, int]]:
    """``(kpi.segment.statistic, value, month)`` for every cell of the summary."""
    for row in summary.itertuples(index=False):
        for statistic in STATISTICS:
            name = mlflow_key(f"{row.kpi}.{row.segment}.{statistic}")
            yield name, float(getattr(row, statistic)), int(row.month)


def run_tags(facts: dict[str, Any], output_folder: Path | None) -> dict[str, str]:
    """Tags that identify a run: scenario, content hash, seed, version, sizes."""
    tags = {
        "scenario": facts["scenario"],
        "content_hash": facts["content_hash"],
        "seed": str(facts["seed"]),
        "cssim_version": facts["cssim_version"],
        "replications": str(facts["replications"]),
        "workers": str(facts["workers"]),
    }
    if "fixed_parameters" in facts:
        tags["fixed_parameters"] = str(bool(facts["fixed_parameters"])).lower()
    if output_folder is not None:
        tags["output_folder"] = str(output_folder.resolve())
    return tags


def _record(
    resolved: dict[str, Any],
    summary: pd.DataFrame,
    facts: dict[str, Any],
    output_folder: Path | None,
    tracking_uri: str | None,
    experiment: str | None,
) -> TrackedRun:
    """Create the run and log everything to it; the store is touched only here."""
    uri = resolve_tracking_uri(tracking_uri)
    experiment_name = experiment or facts["scenario"]
    check_server(uri)

    # Runs are recorded only where the user points; MLflow's own usage
    # telemetry stays off unless the user turned it on.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.exceptions import MlflowException

    try:
        return _log_everything(resolved, summary, facts, output_folder, uri,
                               experiment_name)
    except MlflowException as error:
        raise TrackingError(f"MLflow at {uri} refused the run: {error.message}")
    except OSError as error:
        raise TrackingError(f"could not write to the MLflow store at {uri}: {error}")


def _log_everything(
    resolved: dict[str, Any],
    summary: pd.DataFrame,
    facts: dict[str, Any],
    output_folder: Path | None,
    uri: str,
    experiment_name: str,
) -> TrackedRun:
    """Params, metrics, tags and artifacts, in batches, then close the run."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = experiment_id_for(client, experiment_name, uri)
    params, truncated = scenario_params(resolved)
    tags = run_tags(facts, output_folder)
    if truncated:
        logger.warning(
            "%d scenario values were longer than MLflow allows and were cut to "
            "%d characters (%s); the full values are in the %s artifact",
            len(truncated), MAX_PARAM_VALUE_LENGTH, ", ".join(truncated),
            SCENARIO_FILE,
        )
        tags["truncated_params"] = ",".join(truncated)[:MAX_TAG_VALUE_LENGTH]

    run = client.create_run(experiment_id, tags=tags,
                            run_name=f"{facts['scenario']}-seed{facts['seed']}")
    run_id = run.info.run_id
    try:
        timestamp = int(time.time() * 1000)
        metrics = [Metric(name, value, timestamp, step)
                   for name, value, step in summary_metrics(summary)]
        client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(key, value) for key, value in params.items()],
        )
        logger.info("logged %d params and %d metric values to run %s",
                    len(params), len(metrics), run_id)

        if output_folder is not None:
            client.log_artifacts(run_id, str(output_folder))
            logger.info("logged the files of %s as artifacts", output_folder)
    except BaseException:
        close_quietly(client, run_id, "FAILED")
        raise

    client.set_terminated(run_id, "FINISHED")
    return TrackedRun(run_id, experiment_id, experiment_name, uri)


def experiment_id_for(client: MlflowClient, name: str, uri: str) -> str:
    """The id of the named experiment, created (with its artifact folder) if new."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        if existing.lifecycle_stage == "deleted":
            raise TrackingError(
                f"experiment {name!r} is deleted in {uri}; restore it "
                "(mlflow experiments restore) or choose another with --experiment"
            )
        return existing.experiment_id

    location = artifact_location(uri)
    logger.info("creating MLflow experiment %r (artifacts in %s)", name,
                location or "the server's default")
    return client.create_experiment(name, artifact_location=location)


def artifact_location(uri: str) -> str | None:
    """For a SQLite store, an ``mlartifacts`` folder beside the database file.

    Servers and other databases keep their own default (None).
    """
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.parent / ARTIFACT_FOLDER).resolve().as_uri()


def check_server(uri: str) -> None:
    """Fail fast, with a clear message, when a tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=SERVER_CHECK_TIMEOUT_SECONDS):
            pass
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        host = urlparse(uri).netloc
        raise TrackingError(f"cannot reach the MLflow tracking server at {host} "
                            f"({reason})")


def close_quietly(client: MlflowClient, run_id: str, status: str) -> None:
    """Mark a run as ended after a failure, without hiding the original error."""
    try:
        client.set_terminated(run_id, status)
    except Exception as error:  # noqa: BLE001 - the first failure matters more
        logger.debug("could not mark run %s as %s: %s", run_id, status, error)



def download_run(run_id: str, tracking_uri: str | None = None) -> Path:
    """Download a run's output files into a new temporary folder and return it."""
    uri = resolve_tracking_uri(tracking_uri)
    check_server(uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    target = Path(tempfile.mkdtemp(prefix="cssim-forecast-"))
    try:
        download_artifacts(run_id=run_id, dst_path=str(target), tracking_uri=uri)
    except MlflowException as error:
        shutil.rmtree(target, ignore_errors=True)
        raise TrackingError(
            f"no MLflow run {run_id!r} with output files in {uri}: {error.message}")
    return target


def log_comparison(
    folder: Path,
    metrics: dict[str, float],
    tags: dict[str, str],
    tracking_uri: str | None = None,
    experiment: str = "forecast-vs-actual",
) -> TrackedRun:
    """Record a forecast-versus-actual comparison: coverage, tags, charts."""
    uri = resolve_tracking_uri(tracking_uri)
    check_server(uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.entities import Metric
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(tracking_uri=uri)
        experiment_id = experiment_id_for(client, experiment, uri)
        run = client.create_run(experiment_id, tags=tags,
                                run_name=f"compare-{tags.get('scenario', '')}")
        timestamp = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[
            Metric(mlflow_key(name), float(value), timestamp, 0)
            for name, value in metrics.items()])
        client.log_artifacts(run.info.run_id, str(folder))
        client.set_terminated(run.info.run_id, "FINISHED")
    except MlflowException as error:
        raise TrackingError(f"MLflow at {uri} refused the comparison: {error.message}")
    return TrackedRun(run.info.run_id, experiment_id, experiment, uri)
