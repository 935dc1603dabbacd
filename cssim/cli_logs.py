"""Commands that read real engagement logs: calibrate, forecast and compare."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

from cssim.cli import (
    CommandFailed,
    _check_output_free,
    _load,
    _settle_mlflow_logging,
    _warnings_to,
    format_value,
    kpi_table,
    main,
)

logger = logging.getLogger("cssim")

REJECTED_SHOWN = 5
ENOUGH_REPLICATIONS = 100
"""Fewer replications give rough 5th and 95th percentiles."""


def log_options(function):
    """Options shared by every command that reads a real log."""
    options = [
        click.option("--mapping", "mapping_path", required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Mapping file that turns the export into the "
                          "engagement-log schema (see mappings/)."),
        click.option("--strict", is_flag=True,
                     help="Stop at the first row that cannot be used."),
        click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
                     help="Use touches on or after this date (YYYY-MM-DD)."),
        click.option("--until", type=click.DateTime(["%Y-%m-%d"]),
                     help="Use touches before this date (YYYY-MM-DD)."),
        click.option("--sample", type=click.FloatRange(0, 1, min_open=True,
                                                       max_open=True),
                     metavar="SHARE",
                     help="Use a seeded random share of the customers."),
        click.option("--sample-seed", type=click.IntRange(min=0), default=0,
                     show_default=True, help="Seed of the customer sample."),
        click.option("--other-part", is_flag=True,
                     help="Use the customers the sample leaves out."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def tracking_options(function):
    """MLflow options shared by the commands that record their results."""
    options = [
        click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", metavar="URI",
                     help="MLflow tracking URI [env: MLFLOW_TRACKING_URI; "
                          "default: sqlite:///mlflow.db]."),
        click.option("--no-tracking", is_flag=True,
                     help="Do not record anything in MLflow."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def read_selected_log(path: Path, mapping_path: Path, strict: bool,
                      since: dt.datetime | None, until: dt.datetime | None,
                      sample: float | None, sample_seed: int, other_part: bool,
                      console: Console) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a log through its mapping, report its rows, keep the selected part."""
    from cssim.log_reader import read_log
    from cssim.log_selection import select

    if since and until and since >= until:
        raise click.BadParameter(f"--since {since:%Y-%m-%d} is not before --until "
                                 f"{until:%Y-%m-%d}", param_hint="--since")
    read = read_log(path, mapping_path, strict=strict)
    _report_rows(path, read.counts, read.rejected, console)
    log = select(read.log, "contacted_at",
                 since.date() if since else None, until.date() if until else None,
                 sample, sample_seed, other_part)
    if log.empty:
        first, last = read.log["contacted_at"].min(), read.log["contacted_at"].max()
        raise click.BadParameter(
            f"no touches of {path} are left after the selection; its touches run "
            f"from {first:%Y-%m-%d} to {last:%Y-%m-%d}", param_hint="LOG")
    console.print(f"Selected {len(log):,} touches of {log['customer_id'].nunique():,} "
                  "customers.", soft_wrap=True)
    facts = {
        "log": str(path), "mapping": str(mapping_path),
        "rows_read": read.counts.read, "rows_used": read.counts.used,
        "rows_rejected": read.counts.rejected_total,
        "since": since.date().isoformat() if since else None,
        "until": until.date().isoformat() if until else None,
        "sample": sample, "sample_seed": sample_seed if sample else None,
        "other_part": other_part if sample else None,
        "touches_selected": len(log),
    }
    return log, facts


def _report_rows(path: Path, counts: Any, rejected: pd.DataFrame,
                 console: Console) -> None:
    """Rows read, used and rejected by reason, and the first rejected rows."""
    reasons = ", ".join(f"{reason} {number:,}"
                        for reason, number in counts.rejected.items())
    console.print(f"{path}: {counts.read:,} rows read, {counts.used:,} used, "
                  f"{counts.rejected_total:,} rejected" +
                  (f" ({reasons})" if reasons else ""), soft_wrap=True)
    for row in rejected.head(REJECTED_SHOWN).itertuples(index=False):
        console.print(f"  line {row.line}: {row.reason} ({row.column} "
                      f"{row.value}; expected {row.expected})", soft_wrap=True)
    if len(rejected) > REJECTED_SHOWN:
        console.print(f"  ... and {len(rejected) - REJECTED_SHOWN:,} more",
                      soft_wrap=True)


@main.command()
@click.argument("scenario_path", metavar="SCENARIO",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--given-outreach", "log_path", required=True, metavar="LOG",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The touches made (or planned), read through --mapping.")
@log_options
@click.option("-r", "--replications", type=click.IntRange(min=1), metavar="N",
              help="Number of replications [default: the scenario's].")
@click.option("-s", "--seed", type=click.IntRange(min=0), metavar="SEED",
              help="Root random seed [default: the scenario's].")
@click.option("--fixed-parameters", is_flag=True,
              help="Use posterior means instead of drawing them per replication.")
@click.option("--by", "group", type=click.Choice(["segment", "message", "method"]),
              default="segment", show_default=True,
              help="Break KPIs down by customer segment, or by message (A/B "
                   "arm) or method.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; must not exist [default: out/<name>-<time>].")
@click.option("--experiment", metavar="NAME",
              help="MLflow experiment [default: the scenario name].")
@tracking_options
def forecast(scenario_path: Path, log_path: Path, mapping_path: Path,
             strict: bool, since: dt.datetime | None, until: dt.datetime | None,
             sample: float | None, sample_seed: int, other_part: bool,
             replications: int | None, seed: int | None, fixed_parameters: bool,
             group: str, output: Path | None, experiment: str | None,
             tracking_uri: str | None, no_tracking: bool) -> None:
    """Forecast what customers do for outreach already made or planned.

    Each touch of the log (who, when, method, message, tier, segment) is
    kept as it is; responses and actions are drawn from the scenario's
    methods, with posterior parameters drawn per replication. With --since
    and --until the forecast covers exactly that period.
    """
    from cssim.output import check_free, write_output
    from cssim.replay import ReplayError, replay

    errors = Console(file=sys.stderr, highlight=False, markup=False)
    scenario = _load(scenario_path)
    _check_output_free(output or Path("out") / "new", check_free)
    schedule, facts = read_selected_log(log_path, mapping_path, strict, since,
                                        until, sample, sample_seed, other_part,
                                        errors)
    scenario = _fit_period(scenario, schedule, since, until)

    replications = replications or scenario.replications
    seed = scenario.seed if seed is None else seed
    with _warnings_to(errors):
        try:
            kpis = replay(scenario, schedule, replications, seed, fixed_parameters,
                          group=group)
        except ReplayError as error:
            raise click.BadParameter(str(error), param_hint="--given-outreach")
    result = _replay_result(scenario, kpis, replications, seed)
    folder = write_output(result, output, {"kind": "forecast given outreach",
                                           "fixed_parameters": fixed_parameters,
                                           "kpi_group": group, **facts})
    _finish_run(result, folder, tracking_uri, experiment, fixed_parameters,
                no_tracking, errors)


def _fit_period(scenario, schedule: pd.DataFrame, since, until):
    """The forecast covers --since to --until, else the log's first to last day.

    A period shorter than one 30-day KPI month is stretched to one month.
    """
    from cssim.scenario_file import with_overrides

    zone = scenario.timezone
    first = since.date() if since else (
        schedule["contacted_at"].min().tz_convert(zone).date())
    last = until.date() if until else (
        schedule["contacted_at"].max().tz_convert(zone).date() + dt.timedelta(1))
    return with_overrides(scenario, {
        "start_date": first.isoformat(),
        "horizon_days": max(30, (last - first).days),
    })


def _replay_result(scenario, kpis: pd.DataFrame, replications: int, seed: int):
    """A RunResult holding a replay's KPIs (no simulated log or team)."""
    from cssim.engagement_log import SNAPSHOT_COLUMNS, conform, empty_log
    from cssim.kpi import summarise
    from cssim.replications import RunResult

    ran = scenario.model_copy(update={"replications": replications, "seed": seed})
    empty_snapshots = conform(pd.DataFrame(columns=list(SNAPSHOT_COLUMNS)),
                              SNAPSHOT_COLUMNS)
    rep_days = pd.DataFrame({"replication": pd.Series(dtype=int),
                             "rep_id": pd.Series(dtype=str),
                             "day": pd.Series(dtype=int),
                             "available_minutes": pd.Series(dtype=float),
                             "busy_minutes": pd.Series(dtype=float)})
    return RunResult(
        scenario=ran, seed=seed, replications=replications, workers=1,
        kpis=kpis, summary=summarise(kpis), log=empty_log(),
        snapshots=empty_snapshots, rep_days=rep_days,
    )


def _finish_run(result, folder: Path, tracking_uri: str | None,
                experiment: str | None, fixed_parameters: bool, no_tracking: bool,
                errors: Console) -> None:
    """Track, print the table and where things are; fail after printing."""
    from cssim.cli import _track

    tracked, tracking_error = None, None
    if not no_tracking:
        tracked, tracking_error = _track(result, folder, tracking_uri, experiment,
                                         fixed_parameters, errors)
        if tracked is not None:
            _remember_run(folder, tracked)
    out = Console(file=sys.stdout, highlight=False, markup=False)
    out.print(kpi_table(result))
    out.print(f"Output folder: {folder}", soft_wrap=True)
    if tracked is not None:
        out.print(f"MLflow run: {tracked.run_id} (experiment "
                  f"{tracked.experiment_name!r} in {tracked.tracking_uri})",
                  soft_wrap=True)
    if tracking_error is not None:
        raise CommandFailed(
            f"the run could not be recorded in MLflow: {tracking_error}\n"
            f"The results are safe in {folder}; record them later with "
            f"'cssim track {folder}'.")


def _remember_run(folder: Path, tracked: Any) -> None:
    """Note the MLflow run id in the folder, so comparisons can tag it."""
    from cssim.actuals import TRACKED_FILE

    record = {"run_id": tracked.run_id, "experiment": tracked.experiment_name,
              "tracking_uri": tracked.tracking_uri}
    (folder / TRACKED_FILE).write_text(json.dumps(record, indent=2) + "\n",
                                       encoding="utf-8")


@main.command()
@click.argument("forecast_reference", metavar="FORECAST")
@click.argument("log_path", metavar="ACTUAL_LOG",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@log_options
@click.option("--kpi", "kpis", multiple=True, metavar="NAME",
              help="Compare only this KPI (repeatable) [default: all measured].")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the comparison; must not exist "
                   "[default: out/compare-<time>].")
@tracking_options
def compare(forecast_reference: str, log_path: Path, mapping_path: Path,
            strict: bool, since: dt.datetime | None, until: dt.datetime | None,
            sample: float | None, sample_seed: int, other_part: bool,
            kpis: tuple[str, ...], output: Path | None, tracking_uri: str | None,
            no_tracking: bool) -> None:
    """Compare a forecast with what actually happened.

    FORECAST is an output folder of 'cssim run' or 'cssim forecast', or the
    id of an MLflow run that holds one. The actual log is measured by the
    same KPI code over the forecast's months; for each KPI, month and
    segment the table shows the forecast mean and 5th-95th percentile, the
    actual, whether it is inside, its percentile in the forecast and the
    error, then the share of actuals inside their intervals.
    """
    from cssim.actuals import (ForecastError, compare_with_actual, load_forecast,
                               write_comparison)
    from cssim.kpi import KPI_LABELS
    from cssim.output import check_free

    for name in kpis:
        if name not in KPI_LABELS:
            raise click.BadParameter(
                f"{name!r} is not a KPI (KPIs: {', '.join(KPI_LABELS)})",
                param_hint="--kpi")
    folder = output or Path("out") / f"compare-{dt.datetime.now():%Y%m%d-%H%M%S}"
    _check_output_free(folder, check_free)
    errors = Console(file=sys.stderr, highlight=False, markup=False)
    try:
        forecast_run = load_forecast(forecast_reference, tracking_uri)
    except ForecastError as error:
        raise click.BadParameter(str(error), param_hint="FORECAST")

    log, facts = read_selected_log(log_path, mapping_path, strict, since, until,
                                   sample, sample_seed, other_part, errors)
    try:
        comparison = compare_with_actual(forecast_run, log, kpis=kpis)
    except ForecastError as error:
        raise click.BadParameter(str(error), param_hint="ACTUAL_LOG")
    write_comparison(comparison, forecast_run, folder, facts)

    out = Console(file=sys.stdout, highlight=False, markup=False)
    out.print(comparison_table(comparison.table))
    share = comparison.coverage
    out.print(f"Inside the forecast's 5th-95th percentile: {share['inside']} of "
              f"{share['checked']} ({share['coverage']:.0%}; nominal "
              f"{share['nominal']:.0%}); forecasts with no spread are not "
              "counted.", soft_wrap=True)
    last_days = forecast_run.scenario.horizon_days - 30 * (forecast_run.months - 1)
    if last_days < 30:
        out.print(f"Note: month {forecast_run.months} covers only {last_days} days "
                  "of the forecast's period.", soft_wrap=True)
    replications = forecast_run.kpis["replication"].nunique()
    if replications < ENOUGH_REPLICATIONS:
        out.print(f"Note: the forecast has {replications} replications; its "
                  f"5th-95th percentiles are rough below {ENOUGH_REPLICATIONS}.",
                  soft_wrap=True)
    out.print(f"Comparison folder: {folder}", soft_wrap=True)

    if not no_tracking:
        _track_comparison(comparison, forecast_run, folder, tracking_uri, out)


def _track_comparison(comparison, forecast_run, folder: Path,
                      tracking_uri: str | None, out: Console) -> None:
    from cssim.tracking import TrackingError, log_comparison

    _settle_mlflow_logging()
    metrics = {"coverage": comparison.coverage["coverage"],
               "checked": comparison.coverage["checked"]}
    for row in comparison.table.itertuples(index=False):
        metrics[f"error.{row.kpi}.{row.segment}.month{row.month}"] = row.error
    tags = {"scenario": forecast_run.scenario.name,
            "forecast": forecast_run.source,
            "forecast_run_id": forecast_run.run_id or ""}
    try:
        tracked = log_comparison(folder, metrics, tags, tracking_uri)
    except TrackingError as error:
        raise CommandFailed(
            f"the comparison could not be recorded in MLflow: {error}\n"
            f"It is safe in {folder}.")
    out.print(f"MLflow run: {tracked.run_id} (experiment "
              f"{tracked.experiment_name!r} in {tracked.tracking_uri})",
              soft_wrap=True)


def comparison_table(table: pd.DataFrame) -> Table:
    """Forecast against actual, one row per KPI, month and segment."""
    from cssim.kpi import KPI_LABELS

    view = Table(title="Forecast against actual", title_justify="left")
    for name, justify in (("KPI", "left"), ("Segment", "left"), ("Month", "right"),
                          ("Forecast", "right"), ("Actual", "right"),
                          ("Inside", "center"), ("Percentile", "right"),
                          ("Error", "right")):
        view.add_column(name, justify=justify)
    for row in table.itertuples(index=False):
        view.add_row(
            KPI_LABELS.get(row.kpi, row.kpi), row.segment, str(row.month),
            f"{format_value(row.kpi, row.forecast_mean)} "
            f"[{format_value(row.kpi, row.forecast_low)} – "
            f"{format_value(row.kpi, row.forecast_high)}]",
            format_value(row.kpi, row.actual),
            "yes" if row.inside else "NO",
            f"{row.percentile:.0%}",
            format_value(row.kpi, row.error),
        )
    return view


@main.command()
@click.argument("log_path", metavar="LOG",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@log_options
@click.option("--snapshots", "snapshots_path", metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Tier snapshots (or purchases) for transition rates.")
@click.option("--snapshots-mapping", metavar="MAP",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Mapping of the --snapshots file.")
@click.option("--base", "base_path", metavar="SCENARIO",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Scenario whose book, team and policy the calibration keeps.")
@click.option("-o", "--output", "output_path", required=True, metavar="OUT.yaml",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Calibrated scenario to write; must not exist.")
@click.option("--report", "report_folder", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for tables and plots [default: OUT.report/].")
@click.option("--min-touches", type=click.IntRange(min=1), default=30,
              show_default=True,
              help="Cells with fewer touches are flagged as sparse.")
@click.option("--half-life", "half_life_days", type=click.FloatRange(min=1),
              default=90.0, show_default=True, metavar="DAYS",
              help="Recent months weigh more in the drift estimate; a month's "
                   "weight halves every DAYS.")
@click.option("--no-drift", is_flag=True,
              help="Keep the whole log's posteriors, with no drift shift.")
@click.option("--experiment", metavar="NAME", default="calibration",
              show_default=True, help="MLflow experiment.")
@tracking_options
def calibrate(log_path: Path, mapping_path: Path, strict: bool,
              since: dt.datetime | None, until: dt.datetime | None,
              sample: float | None, sample_seed: int, other_part: bool,
              snapshots_path: Path | None, snapshots_mapping: Path | None,
              base_path: Path | None, output_path: Path,
              report_folder: Path | None, min_touches: int,
              half_life_days: float, no_drift: bool, experiment: str,
              tracking_uri: str | None, no_tracking: bool) -> None:
    """Calibrate a scenario from a real engagement log.

    Response and action probabilities by method, message, segment and tier
    become Beta posteriors with partial pooling; handling, follow-up and
    response-delay minutes get the scipy.stats family with the lowest AIC;
    tier snapshots give Dirichlet transition rows. Where monthly response
    rates drift, each method gets a log-odds shift drawn per replication,
    centred on the recent level. The scenario is written
    with its sources, a report (tables and plots) beside it, and the
    calibration is recorded in MLflow with the input dataset.
    """
    import yaml

    from cssim.calibration import calibrate_to_scenario, write_scenario_yaml
    from cssim.calibration_report import build_report, write_report
    from cssim.output import check_free

    if output_path.exists():
        raise click.BadParameter(f"{output_path} already exists; choose another "
                                 "name or remove it", param_hint="--output")
    report_folder = report_folder or output_path.with_suffix(".report")
    _check_output_free(report_folder, check_free)
    if (snapshots_path is None) != (snapshots_mapping is None):
        raise click.UsageError("--snapshots and --snapshots-mapping go together")
    base = None
    if base_path is not None:
        _load(base_path)
        base = yaml.safe_load(base_path.read_text(encoding="utf-8"))

    errors = Console(file=sys.stderr, highlight=False, markup=False)
    log, facts = read_selected_log(log_path, mapping_path, strict, since, until,
                                   sample, sample_seed, other_part, errors)
    snapshots = _read_snapshots(snapshots_path, snapshots_mapping, strict, since,
                                until, sample, sample_seed, other_part, errors)
    label = f"{log_path.name} read with {mapping_path.name}"
    with _warnings_to(errors):
        scenario, result = calibrate_to_scenario(
            log, base, label, snapshots, min_touches=min_touches,
            half_life_days=None if no_drift else half_life_days)

    report = build_report(result, scenario, label)
    write_report(report, report_folder)
    write_scenario_yaml(scenario, output_path, report.summary)
    out = Console(file=sys.stdout, highlight=False, markup=False)
    out.print(report.summary, soft_wrap=True)
    out.print(f"Calibrated scenario: {output_path}", soft_wrap=True)
    out.print(f"Report: {report_folder}", soft_wrap=True)
    if not no_tracking:
        _track_calibration(report, report_folder, tracking_uri, experiment,
                           log_path, out)


def _read_snapshots(path: Path | None, mapping: Path | None, strict: bool,
                    since, until, sample, sample_seed, other_part,
                    console: Console) -> pd.DataFrame | None:
    """Read tier snapshots (or purchases made into snapshots), selected alike."""
    if path is None:
        return None
    from cssim.log_reader import read_snapshots
    from cssim.log_selection import select

    read = read_snapshots(path, mapping, strict=strict)
    _report_rows(path, read.counts, read.rejected, console)
    return select(read.snapshots, "as_of", since.date() if since else None,
                  until.date() if until else None, sample, sample_seed, other_part)


def _track_calibration(report, folder: Path, tracking_uri: str | None,
                       experiment: str, log_path: Path, out: Console) -> None:
    from cssim.calibration_report import log_calibration
    from cssim.tracking import TrackingError

    _settle_mlflow_logging()
    try:
        tracked = log_calibration(report, folder, tracking_uri, experiment,
                                  dataset_path=log_path,
                                  dataset_source=str(log_path.resolve()))
    except TrackingError as error:
        raise CommandFailed(
            f"the calibration could not be recorded in MLflow: {error}\n"
            f"The scenario and report are written; nothing was lost.")
    out.print(f"MLflow run: {tracked.run_id} (experiment "
              f"{tracked.experiment_name!r} in {tracked.tracking_uri})",
              soft_wrap=True)
