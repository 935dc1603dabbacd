"""Calibration report: tables and plots in a folder, and the record of it in MLflow."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from cssim.calibration import (
    DURATION_QUANTITIES,
    INTERVAL_LEVEL,
    CalibrationResult,
    describe_calibration,
    write_scenario_yaml,
)
from cssim.tier import LIVE_TIERS, TIERS
from cssim.tracking import (
    TrackedRun,
    TrackingError,
    check_server,
    close_quietly,
    experiment_id_for,
    mlflow_key,
    resolve_tracking_uri,
)

matplotlib.use("Agg")

logger = logging.getLogger("cssim")

SCENARIO_FILE = "scenario.calibrated.yaml"
SUMMARY_FILE = "calibration.txt"
TIER_COLOURS = {"green": "#2e8b57", "yellow": "#d4a017", "red": "#c0392b"}
HISTOGRAM_BINS = 60
HISTOGRAM_QUANTILE = 0.99
"""Histograms of durations stop at this quantile so a long tail does not flatten
them; the fits use every value."""


@dataclass
class CalibrationReport:
    """A calibration's tables, its scenario and its plain-text summary."""

    result: CalibrationResult
    scenario: dict[str, Any]
    source_label: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: str = ""


def build_report(
    result: CalibrationResult, scenario: dict[str, Any], source_label: str
) -> CalibrationReport:
    """Collect the calibration's tables under file-friendly names."""
    tables = {
        "response": result.response,
        "response_by_tier": result.response_by_tier,
        "priors": result.priors,
        "action": result.action,
        "action_by_tier": result.action_by_tier,
        "message_lifts": result.message_lifts,
        "duration_fits": _with_plain_parameters(result.duration_fits),
        "response_by_attempt": result.response_by_attempt,
        "fatigue": result.fatigue,
        "response_by_window": result.response_by_window,
        "contacts_per_customer": result.contacts_per_customer,
        "response_by_month": result.response_by_month,
    }
    if result.transitions is not None:
        tables["transitions"] = result.transitions.counts
        tables["renewal"] = result.transitions.renewal
        tables["snapshot_spacing"] = pd.DataFrame([result.transitions.spacing])
    tables = {name: table for name, table in tables.items() if not table.empty}
    return CalibrationReport(result, scenario, source_label, tables,
                             describe_calibration(result))


def write_report(report: CalibrationReport, folder: str | Path) -> list[Path]:
    """Write tables (CSV), plots (PNG), the scenario and the summary to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in report.tables.items():
        path = folder / f"{name}.csv"
        table.to_csv(path, index=False)
        written.append(path)

    written.append(write_scenario_yaml(report.scenario, folder / SCENARIO_FILE,
                                       report.summary))
    summary = folder / SUMMARY_FILE
    summary.write_text(report.summary + "\n", encoding="utf-8")
    written.append(summary)
    written += _write_figures(report.result, folder)
    return written


def _with_plain_parameters(fits: pd.DataFrame) -> pd.DataFrame:
    """Fits with their parameter dicts as JSON text, for a CSV."""
    if fits.empty:
        return fits
    return fits.assign(parameters=fits["parameters"].map(json.dumps))


def _write_figures(result: CalibrationResult, folder: Path) -> list[Path]:
    """Every plot the result supports, one PNG each."""
    figures = [("response_by_cell.png", plot_response_cells(result))]
    if not result.response_by_attempt.empty:
        figures.append(("fatigue.png", plot_fatigue(result)))
    for (quantity, method), figure in plot_duration_fits(result).items():
        figures.append((f"{quantity}_{method}.png", figure))
    if result.transitions is not None:
        figures.append(("transitions.png", plot_transitions(result)))

    paths = []
    for name, figure in figures:
        path = folder / name
        figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(figure)
        paths.append(path)
    return paths


def plot_response_cells(result: CalibrationResult) -> plt.Figure:
    """Posterior mean and 90% interval of every cell, with the raw rate marked."""
    cells = result.response.sort_values(["method", "message", "segment", "tier"])
    labels = [
        f"{row.method} {row.message} {row.segment} {row.tier}"
        for row in cells.itertuples()
    ]
    height = max(2.5, 0.28 * len(cells) + 1)
    figure, axes = plt.subplots(figsize=(8, height))
    positions = np.arange(len(cells))
    colours = [TIER_COLOURS.get(tier, "grey") for tier in cells["tier"]]
    axes.hlines(positions, cells["lower"], cells["upper"], colors=colours, lw=2)
    axes.scatter(cells["mean"], positions, c=colours, zorder=3,
                 label="posterior mean")
    axes.scatter(cells["raw_rate"], positions, marker="x", c="black", zorder=4,
                 label="raw rate (responses / touches)")
    axes.set_yticks(positions, labels, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel(f"response per touch, posterior mean and "
                    f"{INTERVAL_LEVEL:.0%} interval")
    axes.legend(loc="lower right", fontsize=7)
    axes.set_title("Response by cell, partially pooled")
    return figure


def plot_fatigue(result: CalibrationResult) -> plt.Figure:
    """Response rate by attempt with intervals, and the fitted decline."""
    figure, axes = plt.subplots(figsize=(7, 4))
    table = result.response_by_attempt
    for method, rows in table.groupby("method", observed=True):
        rows = rows[rows["customers_reaching"] >= result.min_touches]
        axes.vlines(rows["attempt"], rows["lower"], rows["upper"], colors="grey")
        axes.scatter(rows["attempt"], rows["rate"], zorder=3,
                     label=f"{method}: observed, {INTERVAL_LEVEL:.0%} interval")
        fit = result.fatigue
        fit = fit[fit["method"] == method] if len(fit) else fit
        if len(fit) and len(rows):
            first = rows.iloc[0]
            odds = first["rate"] / (1 - first["rate"])
            attempts = np.arange(1, int(rows["attempt"].max()) + 1)
            fitted = odds * fit.iloc[0]["odds_multiplier"] ** (attempts - 1)
            axes.plot(attempts, fitted / (1 + fitted), "--",
                      label=f"{method}: odds x{fit.iloc[0]['odds_multiplier']:.3f} "
                      "per attempt")
    axes.set_xlabel("attempt number")
    axes.set_ylabel("response rate among customers reaching it")
    axes.set_title("Fatigue: response by attempt")
    axes.legend(fontsize=7)
    return figure


def plot_duration_fits(
    result: CalibrationResult,
) -> dict[tuple[str, str], plt.Figure]:
    """Per quantity and method: a histogram of the values with each fitted density."""
    figures: dict[tuple[str, str], plt.Figure] = {}
    fits = result.duration_fits
    if fits.empty or not result.duration_values:
        return figures
    for (quantity, method), rows in fits.groupby(["quantity", "method"], sort=False):
        values = result.duration_values.get((quantity, method))
        if values is None or len(values) == 0:
            continue
        figure, axes = plt.subplots(figsize=(7, 4))
        top = float(np.quantile(values, HISTOGRAM_QUANTILE))
        axes.hist(values[values <= top], bins=HISTOGRAM_BINS, density=True,
                  color="lightgrey", label=f"{len(values):,} values")
        grid = np.linspace(top / 500, top, 400)
        for row in rows.itertuples():
            density = getattr(stats, row.family).pdf(grid, **row.parameters)
            flag = "" if row.good_fit else ", poor"
            axes.plot(grid, density, label=f"{row.family} (dAIC {row.delta_aic:,.0f}, "
                      f"KS p {row.ks_pvalue:.2g}{flag})")
        axes.set_xlabel(DURATION_QUANTITIES[quantity])
        axes.set_ylabel("density")
        axes.set_title(f"{method}: {DURATION_QUANTITIES[quantity]}")
        axes.legend(fontsize=7)
        figures[(quantity, method)] = figure
    return figures


def plot_transitions(result: CalibrationResult) -> plt.Figure:
    """Posterior mean transition matrix of each segment, annotated."""
    estimates = result.transitions
    segments = sorted(estimates.counts["segment"].unique())
    figure, axes_list = plt.subplots(1, len(segments),
                                     figsize=(3.6 * len(segments), 3.4),
                                     squeeze=False)
    for axes, segment in zip(axes_list[0], segments):
        rows = estimates.counts[estimates.counts["segment"] == segment]
        matrix = rows.pivot_table(index="from_tier", columns="to_tier",
                                  values="mean", observed=True)
        matrix = matrix.reindex(index=list(LIVE_TIERS), columns=list(TIERS))
        axes.imshow(matrix.to_numpy(), cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            if np.isfinite(value):
                axes.text(j, i, f"{value:.2f}", ha="center", va="center",
                          fontsize=8, color="white" if value > 0.6 else "black")
        axes.set_xticks(range(len(TIERS)), TIERS, fontsize=7)
        axes.set_yticks(range(len(LIVE_TIERS)), LIVE_TIERS, fontsize=7)
        axes.set_title(segment, fontsize=9)
    figure.suptitle(f"Tier moves per {estimates.period_days:.1f} days "
                    "(posterior mean)")
    return figure


def log_calibration(
    report: CalibrationReport,
    folder: str | Path,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    dataset_path: str | Path | None = None,
    dataset_source: str | None = None,
) -> TrackedRun:
    """Record a calibration in MLflow: params, metrics, dataset input, artifacts.

    ``folder`` holds the report already written by ``write_report`` (so
    nothing is lost if the store fails). Logs the input dataset through ``mlflow.data`` (digest: the
    SHA-256 of the file at ``dataset_path``; source: ``dataset_source``, else
    the path), the estimates as params and metrics, and the folder, with the
    calibrated scenario, as artifacts. Raises ``TrackingError``.
    """
    folder = Path(folder)
    uri = resolve_tracking_uri(tracking_uri)
    name = experiment or f"calibration-{report.scenario.get('name', 'scenario')}"
    check_server(uri)

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.exceptions import MlflowException

    try:
        return _log_calibration(report, folder, uri, name, dataset_path,
                                dataset_source)
    except MlflowException as error:
        raise TrackingError(f"MLflow at {uri} refused the calibration run: "
                            f"{error.message}")
    except OSError as error:
        raise TrackingError(f"could not write to the MLflow store at {uri}: {error}")


def calibration_params(report: CalibrationReport) -> dict[str, str]:
    """What was read and how it was estimated, as MLflow params."""
    result = report.result
    params = {
        "source_label": report.source_label,
        "log_kind": result.log_kind,
        "min_touches": str(result.min_touches),
        "source_rows": str(result.source_rows),
        "touches": str(result.touches),
        "customers": str(result.customers),
    }
    for row in result.priors.itertuples():
        key = f"prior.{row.method}.{row.outcome}"
        params[key] = f"beta({row.a:.4g}, {row.b:.4g}) {row.fit}"
    for quantity, chosen in result.durations.items():
        for method, distribution in chosen.items():
            params[f"{quantity}.{method}"] = json.dumps(distribution)
    if result.transitions is not None:
        params["transitions.period_days"] = f"{result.transitions.period_days:.4g}"
    return {mlflow_key(key): value for key, value in params.items()}


def calibration_metrics(report: CalibrationReport) -> dict[str, float]:
    """Headline estimates as MLflow metrics."""
    result = report.result
    metrics: dict[str, float] = {}
    for row in result.response_by_tier.itertuples():
        prefix = f"response.{row.method}.{row.message}.{row.tier}"
        metrics[f"{prefix}.mean"] = float(row.mean)
        metrics[f"{prefix}.lower"] = float(row.lower)
        metrics[f"{prefix}.upper"] = float(row.upper)
    for row in result.fatigue.itertuples():
        metrics[f"fatigue.{row.method}.odds_multiplier"] = float(row.odds_multiplier)
    if not result.duration_fits.empty:
        best = result.duration_fits.groupby(["quantity", "method"]).head(1)
        for row in best.itertuples():
            metrics[f"{row.quantity}.{row.method}.ks_pvalue"] = float(row.ks_pvalue)
    if result.transitions is not None:
        counts = result.transitions.counts
        churn = counts[counts["to_tier"] == "churned"]
        for row in churn.itertuples():
            metrics[f"churn.{row.segment}.{row.from_tier}.mean"] = float(row.mean)
    return {mlflow_key(key): value for key, value in metrics.items()}


def dataset_digest(path: str | Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _dataset(dataset_path: str | Path | None, dataset_source: str | None,
             label: str) -> Any:
    """The input as an ``mlflow.data`` dataset with its digest and source.

    The source is ``dataset_source`` when MLflow can read it as a location (a
    URL or a path), else the file at ``dataset_path``.
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.exceptions import MlflowException

    local = str(Path(dataset_path).resolve()) if dataset_path else None
    candidates = [where for where in (dataset_source, local) if where]
    source = None
    for where in candidates:
        try:
            source = resolve_dataset_source(where)
            break
        except MlflowException:
            continue
    if source is None:
        return None
    digest = dataset_digest(dataset_path)[:20] if dataset_path else None
    name = Path(dataset_path).name if dataset_path else label
    return MetaDataset(source=source, name=name, digest=digest)


def _log_calibration(
    report: CalibrationReport,
    folder: Path,
    uri: str,
    experiment_name: str,
    dataset_path: str | Path | None,
    dataset_source: str | None,
) -> TrackedRun:
    """Create the run and log everything; the store is touched only here."""
    from mlflow.entities import DatasetInput, InputTag, Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment_id = experiment_id_for(client, experiment_name, uri)
    tags = {"kind": "calibration", "source_label": report.source_label}
    if dataset_source:
        tags["dataset_source"] = dataset_source
    if dataset_path:
        tags["dataset_sha256"] = dataset_digest(dataset_path)
    run = client.create_run(experiment_id, tags=tags,
                            run_name=f"calibrate-{report.scenario.get('name')}")
    run_id = run.info.run_id
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            dataset = _dataset(dataset_path, dataset_source, report.source_label)
        if dataset is not None:
            client.log_inputs(run_id, [DatasetInput(
                dataset._to_mlflow_entity(),
                tags=[InputTag("mlflow.data.context", "calibration")],
            )])
        timestamp = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(key, value, timestamp, 0)
                     for key, value in calibration_metrics(report).items()],
            params=[Param(key, value[:6000])
                    for key, value in calibration_params(report).items()],
        )
        client.log_artifacts(run_id, str(folder))
        logger.info("logged calibration run %s with the files of %s", run_id, folder)
    except BaseException:
        close_quietly(client, run_id, "FAILED")
        raise

    client.set_terminated(run_id, "FINISHED")
    return TrackedRun(run_id, experiment_id, experiment_name, uri)
