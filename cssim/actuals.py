"""Actual results against a forecast: load both, measure alike, write the comparison.

A forecast is an output folder of ``cssim run`` or ``cssim forecast`` (or an
MLflow run holding one as artifacts). The actual is a real engagement log,
read through a mapping, measured by the same KPI code over the forecast's
months, so a forecast and an actual are measured identically.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from cssim.compare import compare_kpis, coverage, fan_charts
from cssim.engagement_log import SNAPSHOT_COLUMNS, conform
from cssim.errors import CssimError
from cssim.kpi import compute_kpis
from cssim.output import RUN_FILE, SCENARIO_FILE, TABLE_FILES, check_free
from cssim.scenario import Scenario
from cssim.scenario_file import scenario_from_dict

logger = logging.getLogger("cssim")

TRACKED_FILE = "mlflow_run.json"
"""Written into an output folder once its run is recorded in MLflow."""
COMPARISON_FILE = "comparison.csv"
COVERAGE_FILE = "coverage.json"


class ForecastError(CssimError, ValueError):
    """A forecast reference is neither a cssim output folder nor an MLflow run."""


@dataclass
class Forecast:
    """A forecast's KPIs per replication and the scenario that produced them."""

    kpis: pd.DataFrame
    scenario: Scenario
    facts: dict
    source: str
    """The folder, or ``runs:/ID`` of the MLflow run it came from."""
    run_id: str | None = None

    @property
    def months(self) -> int:
        """30-day months in the forecast's horizon."""
        return math.ceil(self.scenario.horizon_days / 30)

    @property
    def start(self) -> pd.Timestamp:
        """The forecast's first day, in the scenario's zone."""
        return pd.Timestamp(self.scenario.start_date, tz=self.scenario.timezone)


def load_forecast(reference: str, tracking_uri: str | None = None) -> Forecast:
    """Read a forecast from an output folder or, failing that, an MLflow run id."""
    folder = Path(reference)
    if folder.is_dir():
        return _from_folder(folder, str(folder))
    if folder.exists() or any(sep in reference for sep in ("/", "\\")):
        raise ForecastError(
            f"forecast {reference!r} is not an output folder of 'cssim run' or "
            "'cssim forecast'")

    from cssim.tracking import download_run

    downloaded = download_run(reference, tracking_uri)
    try:
        return _from_folder(downloaded, f"runs:/{reference}", run_id=reference)
    finally:
        shutil.rmtree(downloaded, ignore_errors=True)


def _from_folder(folder: Path, source: str, run_id: str | None = None) -> Forecast:
    try:
        kpis = pd.read_parquet(folder / TABLE_FILES["kpis"])
        raw = yaml.safe_load((folder / SCENARIO_FILE).read_text(encoding="utf-8"))
        facts = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ForecastError(
            f"{source} is not a complete cssim output folder (it needs "
            f"{TABLE_FILES['kpis']}, {SCENARIO_FILE} and {RUN_FILE}): {error}")
    scenario = scenario_from_dict(raw, source=f"{source}/{SCENARIO_FILE}")
    tracked = folder / TRACKED_FILE
    if run_id is None and tracked.exists():
        run_id = json.loads(tracked.read_text(encoding="utf-8")).get("run_id")
    return Forecast(kpis, scenario, facts, source, run_id=run_id)


def actual_kpis(forecast: Forecast, log: pd.DataFrame,
                snapshots: pd.DataFrame | None = None) -> pd.DataFrame:
    """The actual's KPIs over the forecast's months, by the same code.

    A log that keeps one row per customer's last touch is expanded to its
    touches first, as forecasts given that outreach are.
    """
    if snapshots is None:
        snapshots = conform(pd.DataFrame(columns=list(SNAPSHOT_COLUMNS)),
                            SNAPSHOT_COLUMNS)
    from cssim.replay import touches_of

    group = forecast.facts.get("kpi_group", "segment")
    return compute_kpis(touches_of(log), snapshots, forecast.start,
                        forecast.months, group=group)


@dataclass
class Comparison:
    """Forecast against actual, KPI by KPI, with overall interval coverage."""

    table: pd.DataFrame
    coverage: dict[str, float]
    actual: pd.DataFrame


def compare_with_actual(forecast: Forecast, log: pd.DataFrame,
                        snapshots: pd.DataFrame | None = None,
                        kpis: tuple[str, ...] = ()) -> Comparison:
    """Measure the actual and place it in the forecast's distribution."""
    actual = actual_kpis(forecast, log, snapshots)
    if kpis:
        actual = actual[actual["kpi"].isin(kpis)]
    table = compare_kpis(forecast.kpis, actual)
    if table.empty:
        raise ForecastError(
            "the forecast and the actual share no KPI, month and segment: check "
            "that the log covers the forecast's period "
            f"({forecast.scenario.start_date} for {forecast.scenario.horizon_days} "
            "days) and uses its segment names")
    return Comparison(table, coverage(table), actual)


def write_comparison(comparison: Comparison, forecast: Forecast,
                     folder: Path, facts: dict) -> Path:
    """Write the table, coverage and fan charts; whole or not at all."""
    check_free(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial",
                                    dir=folder.parent))
    try:
        comparison.table.to_csv(staging / COMPARISON_FILE, index=False)
        record = {**facts, **comparison.coverage, "forecast": forecast.source,
                  "forecast_run_id": forecast.run_id}
        (staging / COVERAGE_FILE).write_text(json.dumps(record, indent=2) + "\n",
                                             encoding="utf-8")
        segments = comparison.table["segment"].unique()
        for segment in segments:
            fan_charts(forecast.kpis, comparison.actual, staging, segment=segment)
        check_free(folder)
        staging.chmod(0o755)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote the comparison to %s", folder)
    return folder
