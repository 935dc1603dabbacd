"""The ``cssim`` command line: validate scenarios, run them, record the runs."""

from __future__ import annotations

import logging
import math
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cssim.errors import CssimError, CssimWarning, ScenarioError

if TYPE_CHECKING:
    import pandas as pd

    from cssim.replications import RunResult
    from cssim.scenario import Scenario

logger = logging.getLogger("cssim")

DAYS_PER_MONTH = 30
PERCENT_KPIS: frozenset[str] = frozenset({
    "response_rate", "action_rate", "tier_up", "tier_down", "tier_up_not_contacted",
    "tier_down_not_contacted", "logo_retention", "grr", "nrr", "rep_utilisation",
})
"""KPIs that are shares, shown as percentages; other names ending in ``_rate``
or ``_share`` are too."""


class ScenarioProblem(click.ClickException):
    """A scenario that fails validation: a usage error, listed problem by problem."""

    exit_code = 2

    def __init__(self, error: ScenarioError):
        super().__init__(str(error))

    def format_message(self) -> str:
        """The problems, then the next step to take."""
        return (f"{self.message}\nFix the fields above, then check the file again "
                "with 'cssim validate'.")


class BadInput(click.ClickException):
    """A log, mapping or other input that cannot be used: exit code 2."""

    exit_code = 2


class CommandFailed(click.ClickException):
    """A command that could not finish; exit code 1."""

    exit_code = 1


class CssimGroup(click.Group):
    """A group that turns failures into messages and exit codes.

    Scenario errors exit with 2 (bad input), any other failure with 1 and a
    one-line message; ``-v`` adds the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, translating cssim and unexpected errors."""
        try:
            return super().invoke(ctx)
        except ScenarioError as error:
            raise ScenarioProblem(error) from error
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except ValueError as error:
            if not isinstance(error, CssimError):
                raise
            _log_traceback()
            raise BadInput(str(error)) from error
        except CssimError as error:
            _log_traceback()
            raise CommandFailed(str(error)) from error
        except Exception as error:
            _log_traceback()
            first_line = (str(error).splitlines() or [""])[0]
            hint = "" if logger.isEnabledFor(logging.INFO) else " (run with -v)"
            raise CommandFailed(
                f"unexpected {type(error).__name__}: {first_line}{hint}"
            ) from error


def _log_traceback() -> None:
    """Show the traceback of the error being handled, with -v only."""
    if logger.isEnabledFor(logging.INFO):
        logger.error("the command failed", exc_info=True)


@click.group(
    cls=CssimGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  cssim validate scenarios/quickstart.yaml
  cssim run scenarios/quickstart.yaml
  cssim run scenarios/bank_phone_outreach.yaml -r 200 --seed 7 -o out/bank
  cssim run scenarios/quickstart.yaml --segment smb --month 1 --no-tracking
  cssim run scenarios/quickstart.yaml --tracking-uri http://127.0.0.1:5000
  cssim calibrate LOG --mapping mappings/bank_marketing.yaml -o calibrated.yaml
  cssim forecast calibrated.yaml --given-outreach LOG --mapping MAP -o out/f
  cssim compare out/f LOG --mapping MAP
""",
)
@click.version_option(package_name="cssim", prog_name="cssim")
@click.option("-v", "--verbose", count=True,
              help="More detail on stderr: -v for progress notes and tracebacks, "
                   "-vv for debug output of cssim and MLflow.")
def main(verbose: int) -> None:
    """Simulate proactive customer-success outreach programs.

    A scenario file describes the customer book, the team, the outreach
    methods and the policy. cssim runs it as many replications of a
    discrete-event simulation, writes the results to an output folder and
    records the run in MLflow.
    """
    _configure_logging(verbose)


@main.command()
@click.argument("scenario_path", metavar="SCENARIO",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
def validate(scenario_path: Path) -> None:
    """Check a scenario file and summarise what it describes."""
    scenario = _load(scenario_path)
    console = Console(file=sys.stdout, highlight=False, markup=False)
    _print_overview(scenario, scenario_path, console)


@main.command()
@click.argument("scenario_path", metavar="SCENARIO",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-r", "--replications", type=click.IntRange(min=1), metavar="N",
              help="Number of replications [default: the scenario's].")
@click.option("-s", "--seed", type=click.IntRange(min=0), metavar="SEED",
              help="Root random seed [default: the scenario's].")
@click.option("-w", "--workers", type=click.IntRange(min=1), metavar="N",
              help="Worker processes [default: all cores]. Results do not "
                   "depend on it.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; must not exist [default: "
                   "out/<scenario-name>-<timestamp>].")
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", metavar="URI",
              help="MLflow tracking URI [env: MLFLOW_TRACKING_URI; default: "
                   "sqlite:///mlflow.db].")
@click.option("--experiment", metavar="NAME",
              help="MLflow experiment [default: the scenario name].")
@click.option("--no-tracking", is_flag=True, help="Do not record the run in MLflow.")
@click.option("--fixed-parameters", is_flag=True,
              help="Use the mean of every uncertain parameter instead of a draw "
                   "per replication (simulation noise only).")
@click.option("--segment", "segments", multiple=True, metavar="NAME",
              help="Show only this segment in the table (repeatable; 'all' is "
                   "the whole book).")
@click.option("--month", "months", multiple=True, type=click.IntRange(min=1),
              metavar="N",
              help="Show only this month in the table (repeatable).")
def run(
    scenario_path: Path,
    replications: int | None,
    seed: int | None,
    workers: int | None,
    output: Path | None,
    tracking_uri: str | None,
    experiment: str | None,
    no_tracking: bool,
    fixed_parameters: bool,
    segments: tuple[str, ...],
    months: tuple[int, ...],
) -> None:
    """Run a scenario, write its output folder and record it in MLflow."""
    from cssim.output import check_free, write_output

    scenario = _load(scenario_path)
    _check_table_filters(scenario, segments, months)
    _check_output_free(output or Path("out") / "new", check_free)
    errors = Console(file=sys.stderr, highlight=False)

    with _warnings_to(errors):
        result = _simulate(scenario, replications, seed, workers, fixed_parameters,
                           errors)
    folder = write_output(result, output, {"fixed_parameters": fixed_parameters})

    tracked, tracking_error = None, None
    if not no_tracking:
        tracked, tracking_error = _track(result, folder, tracking_uri, experiment,
                                         fixed_parameters, errors)
        if tracked is not None:
            cli_logs._remember_run(folder, tracked)

    out = Console(file=sys.stdout, highlight=False, markup=False)
    out.print(kpi_table(result, segments, months))
    out.print(f"Output folder: {folder}", soft_wrap=True)
    if tracked is not None:
        out.print(f"MLflow run: {tracked.run_id} (experiment "
                  f"{tracked.experiment_name!r} in {tracked.tracking_uri})",
                  soft_wrap=True)
        out.print(f"Open it with: {tracked.how_to_open()}", soft_wrap=True)
    if tracking_error is not None:
        raise CommandFailed(
            f"the run could not be recorded in MLflow: {tracking_error}\n"
            f"The results are safe in {folder}; record them later with "
            f"'cssim track {folder}'."
        )


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False,
                                          path_type=Path))
@click.option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", metavar="URI",
              help="MLflow tracking URI [env: MLFLOW_TRACKING_URI; default: "
                   "sqlite:///mlflow.db].")
@click.option("--experiment", metavar="NAME",
              help="MLflow experiment [default: the scenario name].")
def track(folder: Path, tracking_uri: str | None, experiment: str | None) -> None:
    """Record an earlier run's output folder in MLflow."""
    from cssim.tracking import log_folder

    _settle_mlflow_logging()
    tracked = log_folder(folder, tracking_uri, experiment)
    click.echo(f"MLflow run: {tracked.run_id} (experiment "
               f"{tracked.experiment_name!r} in {tracked.tracking_uri})")
    click.echo(f"Open it with: {tracked.how_to_open()}")


def _configure_logging(verbose: int) -> None:
    """cssim notes at INFO with -v; everything, MLflow included, at DEBUG with -vv."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _settle_mlflow_logging() -> None:
    """Keep MLflow's own notes off stderr unless cssim logs at DEBUG (-vv).

    MLflow sets its loggers' levels when imported, so this runs after that.
    """
    import mlflow  # noqa: F401 - imported for its logger set-up

    level = logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.WARNING
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)


def _load(path: Path) -> Scenario:
    """Load a scenario, showing its warnings on stderr."""
    from cssim.scenario_file import load_scenario

    with _warnings_to(Console(file=sys.stderr, highlight=False)):
        return load_scenario(path)


@contextmanager
def _warnings_to(console: Console) -> Iterator[None]:
    """Show cssim warnings as one readable line each, on the given console."""

    def show(message: Warning | str, category: type[Warning], *_: Any,
             **__: Any) -> None:
        console.print(f"[yellow]Warning[/] ({category.__name__}): "
                      f"{escape(str(message))}", markup=True, soft_wrap=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always", CssimWarning)
        previous = warnings.showwarning
        warnings.showwarning = show
        try:
            yield
        finally:
            warnings.showwarning = previous


def _check_table_filters(scenario: Scenario, segments: tuple[str, ...],
                         months: tuple[int, ...]) -> None:
    """Reject table filters that name no segment or month of the scenario."""
    known = [*scenario.segments, "all"]
    for name in segments:
        if name not in known:
            raise click.BadParameter(
                f"{name!r} is not a segment of {scenario.name!r} "
                f"(segments: {', '.join(known)})", param_hint="--segment")
    last_month = math.ceil(scenario.horizon_days / DAYS_PER_MONTH)
    for month in months:
        if month > last_month:
            raise click.BadParameter(
                f"month {month} is past the horizon of {scenario.horizon_days} "
                f"days (months 1 to {last_month})", param_hint="--month")


def _check_output_free(output: Path, check_free: Any) -> None:
    """Refuse an existing output folder before spending time on the run."""
    try:
        check_free(output)
    except (FileExistsError, PermissionError) as error:
        raise click.BadParameter(str(error), param_hint="--output") from error


def _simulate(scenario: Scenario, replications: int | None, seed: int | None,
              workers: int | None, fixed_parameters: bool,
              console: Console) -> RunResult:
    """Run the replications behind a progress bar on stderr."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress,
                               TextColumn, TimeElapsedColumn)

    from cssim.replications import run_replications

    total = replications or scenario.replications
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(f"Simulating {scenario.name}", total=total)
        return run_replications(
            scenario, replications=replications, seed=seed, workers=workers,
            fixed_parameters=fixed_parameters,
            on_done=lambda _index: progress.advance(task),
        )


def _track(result: RunResult, folder: Path, tracking_uri: str | None,
           experiment: str | None, fixed_parameters: bool,
           console: Console) -> tuple[Any, str | None]:
    """Record the run in MLflow; a failure is returned, not raised."""
    from cssim.tracking import TrackingError, log_run

    _settle_mlflow_logging()
    try:
        with console.status("Recording the run in MLflow"):
            tracked = log_run(result, folder, tracking_uri, experiment,
                              fixed_parameters)
        return tracked, None
    except TrackingError as error:
        logger.debug("tracking failure", exc_info=True)
        return None, str(error)


def kpi_table(result: RunResult, segments: tuple[str, ...] = (),
              months: tuple[int, ...] = ()) -> Table:
    """Monthly KPIs by segment and overall: mean and [5th – 95th percentile].

    One block per segment (the whole book first), one row per KPI, one column
    per month, so a month-on-month trend reads across a row.
    """
    from cssim.kpi import KPI_LABELS

    summary = _ordered_summary(result.summary, KPI_LABELS, segments, months)
    shown_months = sorted(summary["month"].unique())
    table = Table(title=f"{result.scenario.name}: {result.replications} "
                        f"replications, seed {result.seed}; mean [5th – 95th "
                        "percentile] per 30-day month",
                  title_justify="left")
    table.add_column("Segment")
    table.add_column("KPI")
    for month in shown_months:
        table.add_column(f"Month {month}", justify="right")

    for number, (segment, block) in enumerate(summary.groupby("segment", sort=False)):
        if number:
            table.add_section()
        cells = {(row.kpi, row.month): row for row in block.itertuples(index=False)}
        kpis = list(dict.fromkeys(block["kpi"]))
        for position, kpi in enumerate(kpis):
            row_cells = []
            for month in shown_months:
                row = cells.get((kpi, month))
                row_cells.append("–" if row is None else
                                 f"{format_value(kpi, row.mean)} "
                                 f"[{format_interval(kpi, row.p5, row.p95)}]")
            table.add_row(str(segment) if position == 0 else "",
                          _capitalised(KPI_LABELS.get(kpi, kpi)), *row_cells)
    return table


def _ordered_summary(summary: pd.DataFrame, labels: dict[str, str],
                     segments: tuple[str, ...], months: tuple[int, ...]
                     ) -> pd.DataFrame:
    """Filter the summary and order it by segment ('all' first), KPI and month."""
    if segments:
        summary = summary[summary["segment"].isin(segments)]
    if months:
        summary = summary[summary["month"].isin(months)]
    kpi_rank = {name: rank for rank, name in enumerate(labels)}
    return summary.assign(
        _all_first=summary["segment"].ne("all"),
        _kpi_rank=summary["kpi"].map(kpi_rank).fillna(len(kpi_rank)),
    ).sort_values(["_all_first", "segment", "_kpi_rank", "kpi", "month"])


def _capitalised(label: str) -> str:
    """A label with its first letter in upper case, the rest untouched."""
    return label[:1].upper() + label[1:]


def format_interval(kpi: str, low: float, high: float) -> str:
    """A percentile interval as "low – high", or a dash when it is undefined."""
    if math.isnan(low) and math.isnan(high):
        return "–"
    return f"{format_value(kpi, low)} – {format_value(kpi, high)}"


def format_value(kpi: str, value: float) -> str:
    """A KPI value for the table: shares as percentages, counts to a sensible width."""
    if value is None or math.isnan(value):
        return "–"
    if kpi in PERCENT_KPIS or kpi.endswith(("_rate", "_share")):
        return f"{value:.1%}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _print_overview(scenario: Scenario, path: Path, console: Console) -> None:
    """A short summary of a valid scenario: book, team, methods and policy."""
    console.print(f"{scenario.name} ({path}) is valid.", soft_wrap=True)
    if scenario.description:
        console.print(scenario.description.strip(), soft_wrap=True)
    console.print(
        f"Objective {scenario.objective}; {scenario.horizon_days} days from "
        f"{scenario.start_date}; {scenario.replications} replications, seed "
        f"{scenario.seed}.",
        soft_wrap=True,
    )

    segments = Table(title="Segments", title_justify="left")
    for heading in ("Segment", "Customers", "Green / yellow / red"):
        segments.add_column(heading)
    for name, segment in scenario.segments.items():
        mix = " / ".join(f"{segment.initial_tiers.get(tier, 0.0):.0%}"
                         for tier in ("green", "yellow", "red"))
        segments.add_row(name, _customer_count(segment), mix)
    console.print(segments)

    reps = Table(title="Reps", title_justify="left")
    for heading in ("Rep", "Count", "Hours a week", "Covers", "Starts", "Ramp"):
        reps.add_column(heading)
    for rep in scenario.reps:
        reps.add_row(rep.name, str(rep.count), f"{rep.weekly_hours:g}",
                     ", ".join(rep.segments or ["all segments"]),
                     f"day {rep.start_day}", f"{rep.ramp_days} days")
    console.print(reps)

    methods = Table(title="Methods", title_justify="left")
    for heading in ("Method", "Minutes per contact", "Batch", "Response (default)"):
        methods.add_column(heading)
    for name, method in scenario.methods.items():
        batch = (f"{method.batch_minutes:g} min, {method.seats} seats"
                 if method.seats else "one to one")
        methods.add_row(name, method.handling_minutes.describe(), batch,
                        _describe_probability(method.response.default))
    console.print(methods)

    policy = scenario.policy
    steps = [f"{attempt.method} ({attempt.message})" if attempt.message != "default"
             else attempt.method for attempt in policy.attempts]
    spacing = [f"+{attempt.after_days:g}d" for attempt in policy.attempts[1:]]
    sequence = steps[0] + "".join(f" → {gap} {step}"
                                  for gap, step in zip(spacing, steps[1:]))
    waves = "1 wave" if len(policy.waves) == 1 else f"{len(policy.waves)} waves"
    console.print(
        f"Policy: tiers {', '.join(policy.tiers)} in "
        f"{', '.join(scenario.targeted_segments())}; order by "
        f"{', '.join(policy.order)}; {waves}; attempts "
        f"{sequence}; at most {policy.max_contacts_per_30_days} contacts per "
        "customer per 30 days.",
        soft_wrap=True,
    )


def _customer_count(segment: Any) -> str:
    """The segment's customer count, or the row count of its accounts file."""
    if segment.customers is not None:
        return f"{segment.customers:,}"
    try:
        with open(segment.accounts, encoding="utf-8") as accounts:
            rows = sum(1 for line in accounts if line.strip()) - 1
    except OSError as error:
        return f"{Path(segment.accounts).name} (unreadable: {error.strerror})"
    return f"{rows:,} ({Path(segment.accounts).name})"


def _describe_probability(value: Any) -> str:
    """A probability, a per-tier mapping or a Beta posterior, in a few characters."""
    if isinstance(value, dict):
        return ", ".join(f"{tier} {_describe_probability(probability)}"
                         for tier, probability in value.items())
    if hasattr(value, "mean"):
        return f"beta(a={value.a:g}, b={value.b:g}) ≈ {value.mean():.1%}"
    return f"{value:.1%}"


# The log-reading commands (calibrate, forecast, compare) live in their own
# module; importing it registers them on the group.
from cssim import cli_logs  # noqa: E402, F401

if __name__ == "__main__":
    main()
