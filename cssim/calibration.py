"""Calibration from engagement logs: response posteriors, handling-time fits, attempts.

Works on any log in the engagement-log schema. Estimates are per touch, the
unit the simulation draws a response for:

- **Response probability** per method, segment and tier is a Beta posterior
  from a uniform Beta(1, 1) prior: ``a = 1 + responses``, ``b = 1 + touches -
  responses``. Cells with fewer than ``min_touches`` touches raise
  ``SparseCellWarning`` and the written scenario uses the method's pooled
  posterior for that tier instead (the cell's own posterior stays in the
  table). With constant per-touch odds, this posterior is exact for both log
  kinds below.
- **Handling minutes** per method: expon, gamma, lognorm and weibull_min fitted
  by maximum likelihood with ``scipy.stats`` (loc fixed at 0), chosen by AIC,
  with the Kolmogorov-Smirnov statistic of each fit. Non-positive minutes are
  left out of the fit and counted.
- **Attempts**: touches per customer (mean and quantiles) and the response
  rate at each attempt number among customers who reached it.

A log is either ``every_touch`` (one row per touch) or ``final_touch`` (one row
per customer and method: its last touch, with ``attempt`` touches in all and
the response, if any, on that last one, as in Bank Marketing). Unless told,
a log whose customers each have one row per method while some attempt is
above 1 is read as ``final_touch``.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from scipy import stats

from cssim.errors import CssimError, SparseCellWarning
from cssim.scenario_file import scenario_from_dict
from cssim.tier import LIVE_TIERS

LogKind = Literal["every_touch", "final_touch"]

DEFAULT_MIN_TOUCHES = 30
"""Touches a method-segment-tier cell needs before it is used on its own."""

HANDLING_FAMILIES: tuple[str, ...] = ("expon", "gamma", "lognorm", "weibull_min")
PRIOR_A = 1.0
PRIOR_B = 1.0
INTERVAL_LEVEL = 0.90
CONTACT_QUANTILES: tuple[float, ...] = (0.5, 0.75, 0.9, 0.95)
ATTEMPTS_QUANTILE = 0.75
"""Policy attempts: this quantile of touches per customer, rounded up."""

DEFAULT_BOOK_CUSTOMERS = 3000
DEFAULT_SPACING_DAYS = 7.0
SIGNIFICANT_DIGITS = 5

_CALIBRATION_COLUMNS = ("customer_id", "segment", "tier", "contacted_at", "method",
                        "message", "attempt", "responded")
_CELL = ["method", "segment", "tier"]


class EngagementLogError(CssimError, ValueError):
    """An engagement log cannot be calibrated from: a column or row is unusable."""


@dataclass(frozen=True)
class CalibrationResult:
    """Everything estimated from one engagement log, as values and tables."""

    log_kind: LogKind
    source_rows: int
    customers: int
    touches: int
    first_contact: pd.Timestamp
    last_contact: pd.Timestamp
    min_touches: int
    response: pd.DataFrame
    """Per method, segment and tier: touches, responses, Beta posterior ``a``,
    ``b``, mean and 90% interval, customers and their response rate, ``sparse``."""
    response_by_tier: pd.DataFrame
    """The same, pooled over segments (per method and tier)."""
    handling_minutes_fits: pd.DataFrame
    """Per method and family: parameters, log-likelihood, AIC, delta AIC, KS."""
    handling_minutes: dict[str, dict[str, Any]]
    """Chosen distribution per method, in scenario form."""
    handling_minutes_excluded: dict[str, int]
    """Non-positive or missing minutes left out of each method's fit."""
    contacts_per_customer: pd.DataFrame
    """Per method: customers, mean touches per customer and quantiles."""
    response_by_attempt: pd.DataFrame
    """Per method and attempt number: customers reaching it, responses, rate."""
    response_by_month: pd.DataFrame
    """Per method and calendar month (UTC) of the logged rows: drift over time."""
    attempt_spacing_days: dict[str, float | None]
    """Median days between consecutive attempts; None when the log has no times."""
    methods: list[str] = field(default_factory=list)
    """Methods by touches, most first."""


def calibrate(
    log: pd.DataFrame,
    *,
    min_touches: int = DEFAULT_MIN_TOUCHES,
    log_kind: LogKind | None = None,
    families: Sequence[str] = HANDLING_FAMILIES,
) -> CalibrationResult:
    """Estimate response posteriors, handling-time fits and attempts from a log.

    Warns with ``SparseCellWarning`` for every method-segment-tier cell with
    fewer than ``min_touches`` touches.
    """
    _check_log(log)
    kind = log_kind or detect_log_kind(log)
    touches = _implied_touches(log, kind)

    response = _response_cells(touches, log, _CELL)
    response["sparse"] = response["touches"] < min_touches
    for cell in response[response["sparse"]].itertuples():
        warnings.warn(
            f"method {cell.method!r}, segment {cell.segment!r}, tier {cell.tier!r}: "
            f"{cell.touches} touches, fewer than the minimum {min_touches}; the "
            "scenario uses the method's pooled rate for this tier",
            SparseCellWarning,
            stacklevel=2,
        )
    response_by_tier = _response_cells(touches, log, ["method", "tier"])

    fits, chosen, excluded = _handling_fits(log, families)
    methods = touches["method"].value_counts().index.tolist()
    return CalibrationResult(
        log_kind=kind,
        source_rows=len(log),
        customers=int(log["customer_id"].nunique()),
        touches=len(touches),
        first_contact=log["contacted_at"].min(),
        last_contact=log["contacted_at"].max(),
        min_touches=min_touches,
        response=response,
        response_by_tier=response_by_tier,
        handling_minutes_fits=fits,
        handling_minutes=chosen,
        handling_minutes_excluded=excluded,
        contacts_per_customer=_contacts_per_customer(touches),
        response_by_attempt=_response_by_attempt(touches),
        response_by_month=_response_by_month(log),
        attempt_spacing_days=_attempt_spacing(log, kind, methods),
        methods=methods,
    )


def detect_log_kind(log: pd.DataFrame) -> LogKind:
    """``final_touch`` if each customer has one row per method and some attempt > 1."""
    one_row_each = not log.duplicated(["customer_id", "method"]).any()
    if one_row_each and (log["attempt"] > 1).any():
        return "final_touch"
    return "every_touch"


def beta_posterior(responses: Any, touches: Any) -> tuple[Any, Any]:
    """Beta posterior parameters after ``responses`` in ``touches`` from Beta(1, 1)."""
    return PRIOR_A + responses, PRIOR_B + touches - responses


def fit_handling_minutes(
    minutes: np.ndarray, families: Sequence[str] = HANDLING_FAMILIES
) -> pd.DataFrame:
    """Fit each family by maximum likelihood with loc 0; AIC and KS per family.

    ``minutes`` must be positive. Rows come sorted by AIC, best first.
    """
    rows = []
    for name in families:
        family = getattr(stats, name, None)
        if not isinstance(family, stats.rv_continuous):
            raise ValueError(
                f"handling-minutes family {name!r}: expected a scipy.stats "
                "continuous distribution such as lognorm, gamma or weibull_min"
            )
        fitted = family.fit(minutes, floc=0)
        shape_names = [
            shape.strip() for shape in (family.shapes or "").split(",") if shape
        ]
        parameters = dict(zip(shape_names, map(float, fitted[:-2])))
        parameters["scale"] = float(fitted[-1])

        log_likelihood = float(family.logpdf(minutes, *fitted).sum())
        free_parameters = len(shape_names) + 1
        aic = 2 * free_parameters - 2 * log_likelihood
        if not math.isfinite(aic):
            aic = math.inf
        ks_statistic = float(stats.kstest(minutes, family.cdf, args=fitted).statistic)
        rows.append({
            "family": name,
            "parameters": parameters,
            "observations": len(minutes),
            "log_likelihood": log_likelihood,
            "aic": aic,
            "ks_statistic": ks_statistic,
        })

    table = pd.DataFrame(rows).sort_values("aic", ignore_index=True)
    table.insert(5, "delta_aic", table["aic"] - table["aic"].min())
    return table


def default_base_scenario() -> dict[str, Any]:
    """A scenario skeleton for a calibrated method: team, policy and horizon.

    Segments, methods and policy attempts are left for the calibration to fill.
    """
    return {
        "name": "calibrated",
        "description": "Outreach calibrated from an engagement log.",
        "horizon_days": 90,
        "replications": 100,
        "seed": 0,
        "segments": {},
        "reps": [{"name": "rep", "count": 6, "weekly_hours": 40.0,
                  "shrinkage": 0.2}],
        "methods": {},
        "policy": {"tiers": ["red", "yellow"], "order": ["tier", "arr"],
                   "max_contacts_per_30_days": 3},
        "sources": {},
    }


def scenario_from_calibration(
    result: CalibrationResult,
    log: pd.DataFrame,
    base: dict[str, Any] | None,
    source_label: str,
    *,
    book_customers: int = DEFAULT_BOOK_CUSTOMERS,
) -> dict[str, Any]:
    """A scenario dict with the calibrated methods, book shares and attempts.

    Fills, in a copy of ``base`` (or ``default_base_scenario()``): every
    method's ``handling_minutes`` and ``response.default`` / ``segments``;
    for each segment of the log, ``customers`` (``book_customers`` split by the
    log's customer shares) and ``initial_tiers`` where the base leaves them
    out; ``policy.attempts``; and ``sources`` for every number filled.
    """
    scenario = copy.deepcopy(base) if base is not None else default_base_scenario()
    sources = {"calibration": _log_description(result, source_label)}
    sources.update(scenario.get("sources") or {})

    _fill_segments(scenario, sources, log, source_label, book_customers)
    for method in result.methods:
        _fill_method(scenario, sources, result, method, source_label)
    _fill_attempts(scenario, sources, result, log, source_label)

    scenario["sources"] = sources
    return scenario


def calibrate_to_scenario(
    log: pd.DataFrame,
    base: dict[str, Any] | None,
    source_label: str,
    *,
    book_customers: int = DEFAULT_BOOK_CUSTOMERS,
) -> tuple[dict[str, Any], CalibrationResult]:
    """Calibrate from ``log`` and write the estimates into a validated scenario dict.

    Returns the scenario as plain data (ready for ``yaml.safe_dump``; it has
    passed ``scenario_from_dict``) and the ``CalibrationResult``. Prints
    nothing; warns with ``SparseCellWarning`` and raises
    ``EngagementLogError`` or ``ScenarioError``.
    """
    result = calibrate(log)
    scenario = scenario_from_calibration(
        result, log, base, source_label, book_customers=book_customers
    )
    scenario_from_dict(scenario, source=f"scenario calibrated from {source_label}")
    return scenario, result


def describe_calibration(result: CalibrationResult) -> str:
    """Plain-text tables of the estimates, for a scenario file's header or a report."""
    lines = [
        f"log: {result.source_rows:,} rows read as {result.log_kind}, "
        f"{result.customers:,} customers, {result.touches:,} touches,",
        f"     {result.first_contact:%Y-%m-%d} to {result.last_contact:%Y-%m-%d}",
        "",
        "response per touch, Beta(1, 1) prior:",
        "  responses/touches, posterior mean [90% interval]",
    ]
    by_tier = result.response_by_tier.assign(segment="(all)", sparse=False)
    for row in pd.concat([result.response, by_tier]).itertuples():
        flag = "  sparse, pooled used" if row.sparse else ""
        lines.append(
            f"  {row.method} {row.segment:<14} {row.tier:<7}"
            f"{row.responses:>6,}/{row.touches:<7,} {row.mean:.4f} "
            f"[{row.lower:.4f}, {row.upper:.4f}]{flag}"
        )

    lines += ["", "handling minutes, maximum likelihood with loc 0: AIC (delta), KS"]
    for row in result.handling_minutes_fits.itertuples():
        shown = ", ".join(
            f"{name}={value:.4g}" for name, value in row.parameters.items()
        )
        lines.append(
            f"  {row.method} {row.family:<12}{row.aic:>11,.0f} "
            f"(+{row.delta_aic:,.0f})  KS {row.ks_statistic:.3f}  {shown}"
        )

    lines += ["", "touches per customer"]
    for row in result.contacts_per_customer.to_dict("records"):
        names = [f"p{round(quantile * 100)}" for quantile in CONTACT_QUANTILES]
        quantiles = ", ".join(f"{name} {row[name]:g}" for name in names)
        lines.append(
            f"  {row['method']} mean {row['mean']:.2f}, {quantiles}, "
            f"max {row['max']:g}"
        )
    return "\n".join(lines)


def write_scenario_yaml(
    scenario: dict[str, Any], path: str | Path, header: str = ""
) -> Path:
    """Write a scenario dict as YAML, with ``header`` as comment lines on top."""
    path = Path(path)
    comment = "".join(
        f"# {line}".rstrip() + "\n" for line in header.splitlines()
    )
    plain = _plain(scenario)
    sources = plain.pop("sources", None)
    body = yaml.safe_dump(
        plain, sort_keys=False, allow_unicode=True, width=80,
        default_flow_style=None,
    )
    if sources:
        body += yaml.safe_dump(
            {"sources": sources}, sort_keys=False, allow_unicode=True, width=80,
            default_flow_style=False,
        )
    sections = [
        ("\n" + line) if index and line[:1].isalpha() else line
        for index, line in enumerate(body.splitlines())
    ]
    text = comment + ("\n" if comment else "") + "\n".join(sections) + "\n"
    path.write_text(text, encoding="utf-8")
    return path


def _check_log(log: pd.DataFrame) -> None:
    """Raise ``EngagementLogError`` naming the column or row that cannot be used."""
    missing = [name for name in _CALIBRATION_COLUMNS if name not in log.columns]
    if missing:
        raise EngagementLogError(
            f"engagement log: missing column(s) {missing}; expected the schema's "
            f"columns {list(_CALIBRATION_COLUMNS)}, got {list(log.columns)}"
        )
    if log.empty:
        raise EngagementLogError("engagement log: expected touches, got no rows")
    expected_types = [
        ("responded", pd.api.types.is_bool_dtype, "booleans"),
        ("contacted_at", _is_aware_time, "timezone-aware timestamps"),
    ]
    for column, is_expected, expected in expected_types:
        if not is_expected(log[column]):
            raise EngagementLogError(
                f"engagement log column {column!r}: expected {expected}, got dtype "
                f"{log[column].dtype}; conform the export to the schema first"
            )

    checks = [
        ("responded", log["responded"].isna(), "true or false"),
        ("tier", ~log["tier"].isin(LIVE_TIERS), f"one of {list(LIVE_TIERS)}"),
        ("attempt", ~(log["attempt"] >= 1).fillna(False), "an integer >= 1"),
        ("customer_id", log["customer_id"].isna(), "a customer id"),
        ("contacted_at", log["contacted_at"].isna(), "a contact time"),
        ("segment", log["segment"].isna(), "a segment name"),
        ("method", log["method"].isna(), "a method name"),
    ]
    for column, bad, expected in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            position = int(np.flatnonzero(bad)[0])
            value = log[column].iloc[position]
            raise EngagementLogError(
                f"engagement log row {position} ({bad.sum()} rows in all), column "
                f"{column!r}: expected {expected}, got {value!r}"
            )


def _is_aware_time(values: pd.Series) -> bool:
    """True for a datetime column with a time zone."""
    return isinstance(values.dtype, pd.DatetimeTZDtype)


def _implied_touches(log: pd.DataFrame, kind: LogKind) -> pd.DataFrame:
    """One row per touch; a final-touch row stands for ``attempt`` touches."""
    columns = ["customer_id", "method", "segment", "tier", "attempt", "responded"]
    frame = log[columns].reset_index(drop=True)
    frame["responded"] = frame["responded"].astype(bool)
    if kind == "every_touch":
        return frame

    expanded = frame.loc[frame.index.repeat(frame["attempt"])]
    final_attempt = expanded["attempt"].to_numpy()
    expanded["attempt"] = expanded.groupby(level=0).cumcount().to_numpy() + 1
    expanded["responded"] = expanded["responded"] & (
        expanded["attempt"].to_numpy() == final_attempt
    )
    return expanded.reset_index(drop=True)


def _response_cells(
    touches: pd.DataFrame, log: pd.DataFrame, keys: list[str]
) -> pd.DataFrame:
    """Touches, responses and Beta posterior per cell, with per-customer rates."""
    cells = touches.groupby(keys, observed=True).agg(
        touches=("responded", "size"), responses=("responded", "sum")
    )
    customers = log.groupby(keys, observed=True)["customer_id"].nunique()
    responders = (
        log[log["responded"].astype(bool)]
        .groupby(keys, observed=True)["customer_id"].nunique()
    )
    cells["customers"] = customers
    cells["customers_responded"] = responders.reindex(cells.index, fill_value=0)
    cells = cells.reset_index()
    cells[["touches", "responses", "customers", "customers_responded"]] = cells[
        ["touches", "responses", "customers", "customers_responded"]
    ].astype("int64")

    cells["a"], cells["b"] = beta_posterior(cells["responses"], cells["touches"])
    cells["mean"] = cells["a"] / (cells["a"] + cells["b"])
    tail = (1 - INTERVAL_LEVEL) / 2
    cells["lower"] = stats.beta.ppf(tail, cells["a"], cells["b"])
    cells["upper"] = stats.beta.ppf(1 - tail, cells["a"], cells["b"])
    cells["customer_rate"] = cells["customers_responded"] / cells["customers"]
    return cells


def _handling_fits(
    log: pd.DataFrame, families: Sequence[str]
) -> tuple[pd.DataFrame, dict[str, dict[str, Any]], dict[str, int]]:
    """AIC tables and the chosen family per method with handling minutes."""
    if "handling_minutes" not in log.columns:
        return pd.DataFrame(), {}, {}
    tables, chosen, excluded = [], {}, {}
    for method, rows in log.groupby("method", observed=True):
        minutes = pd.to_numeric(rows["handling_minutes"], errors="coerce")
        usable = minutes[minutes > 0].to_numpy(dtype=float)
        excluded[str(method)] = int(len(minutes) - len(usable))
        if len(usable) < 2:
            continue
        table = fit_handling_minutes(usable, families)
        table.insert(0, "method", str(method))
        tables.append(table)
        best = table.iloc[0]
        chosen[str(method)] = {"family": best["family"], **{
            name: _rounded(value) for name, value in best["parameters"].items()
        }}
    fits = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return fits, chosen, excluded


def _contacts_per_customer(touches: pd.DataFrame) -> pd.DataFrame:
    """Distribution of touches per customer, per method."""
    counts = touches.groupby(["method", "customer_id"], observed=True).size()
    rows = []
    for method, per_customer in counts.groupby(level="method", observed=True):
        row: dict[str, Any] = {
            "method": method,
            "customers": len(per_customer),
            "mean": float(per_customer.mean()),
        }
        for quantile in CONTACT_QUANTILES:
            row[f"p{round(quantile * 100)}"] = float(per_customer.quantile(quantile))
        row["max"] = int(per_customer.max())
        rows.append(row)
    return pd.DataFrame(rows)


def _response_by_attempt(touches: pd.DataFrame) -> pd.DataFrame:
    """Response rate at each attempt number among the customers who reached it."""
    table = touches.groupby(["method", "attempt"], observed=True).agg(
        customers_reaching=("responded", "size"), responses=("responded", "sum")
    ).reset_index()
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["customers_reaching"]
    return table


def _response_by_month(log: pd.DataFrame) -> pd.DataFrame:
    """Share of logged rows that responded, per method and calendar month."""
    month = pd.to_datetime(log["contacted_at"], utc=True).dt.strftime("%Y-%m")
    frame = pd.DataFrame({
        "method": log["method"].to_numpy(),
        "month": month.to_numpy(),
        "responded": log["responded"].astype(bool).to_numpy(),
    })
    table = frame.groupby(["method", "month"]).agg(
        rows=("responded", "size"), responses=("responded", "sum")
    ).reset_index()
    table["responses"] = table["responses"].astype("int64")
    table["rate"] = table["responses"] / table["rows"]
    return table


def _attempt_spacing(
    log: pd.DataFrame, kind: LogKind, methods: list[str]
) -> dict[str, float | None]:
    """Median days from one attempt to the next, per method (every-touch logs)."""
    if kind == "final_touch":
        return {method: None for method in methods}
    ordered = log.sort_values("contacted_at")
    spacing: dict[str, float | None] = {}
    for method in methods:
        rows = ordered[ordered["method"] == method]
        grouped = rows.groupby("customer_id", observed=True)
        gaps = grouped["contacted_at"].diff().dt.total_seconds() / 86400
        steps = grouped["attempt"].diff() == 1
        usable = gaps[steps]
        spacing[method] = float(usable.median()) if len(usable) else None
    return spacing


def _beta(a: float, b: float) -> dict[str, Any]:
    """A Beta posterior in the scenario's ``UncertainProbability`` form."""
    return {"family": "beta", "a": _rounded(a), "b": _rounded(b)}


def _rounded(value: float) -> float | int:
    """A plain number with a few significant digits; whole numbers as int."""
    value = float(value)
    if value.is_integer():
        return int(value)
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def _log_description(result: CalibrationResult, label: str) -> str:
    """One sentence on what was read, for the scenario's ``sources``."""
    kind = (
        "final touches (each row stands for `attempt` touches, a response "
        "only on the last)" if result.log_kind == "final_touch"
        else "one row per touch"
    )
    return (
        f"{label}: {result.source_rows:,} rows read as {kind}; "
        f"{result.touches:,} touches of {result.customers:,} customers, "
        f"{result.first_contact:%Y-%m-%d} to {result.last_contact:%Y-%m-%d}. "
        "Response probabilities are per touch, Beta posteriors from a "
        "uniform Beta(1, 1) prior"
    )


def _fill_segments(
    scenario: dict[str, Any],
    sources: dict[str, str],
    log: pd.DataFrame,
    label: str,
    book_customers: int,
) -> None:
    """Add the log's segments; fill customers and initial tiers the base leaves out."""
    latest = log.sort_values("contacted_at").drop_duplicates("customer_id", keep="last")
    shares = latest["segment"].value_counts(normalize=True)
    segments = scenario.setdefault("segments", {})

    for name, share in shares.items():
        name = str(name)
        segment = segments.setdefault(name, {})
        if "customers" not in segment and "accounts" not in segment:
            segment["customers"] = max(1, round(book_customers * share))
            sources[f"segments.{name}.customers"] = (
                f"{book_customers:,} customers split by this segment's share of "
                f"customers in {label} ({share:.1%})"
            )
        if "initial_tiers" not in segment:
            members = latest[latest["segment"] == name]
            tier_shares = members["tier"].value_counts(normalize=True)
            segment["initial_tiers"] = _shares_summing_to_one(tier_shares)
            sources[f"segments.{name}.initial_tiers"] = (
                f"{label}: tier shares of the segment's {len(members):,} customers "
                "at their latest touch"
            )
        segments[name] = _leading(segment, ("customers", "accounts", "initial_tiers"))


def _shares_summing_to_one(shares: pd.Series) -> dict[str, float]:
    """Tier shares rounded to 4 decimals, the largest adjusted so they sum to 1."""
    rounded = {str(tier): round(float(share), 4) for tier, share in shares.items()}
    largest = max(rounded, key=rounded.get)
    others = sum(share for tier, share in rounded.items() if tier != largest)
    rounded[largest] = round(1.0 - others, 4)
    return {tier: rounded[tier] for tier in LIVE_TIERS if tier in rounded}


def _fill_method(
    scenario: dict[str, Any],
    sources: dict[str, str],
    result: CalibrationResult,
    method: str,
    label: str,
) -> None:
    """Write a method's handling minutes and response posteriors, with sources."""
    methods = scenario.setdefault("methods", {})
    target = methods.setdefault(method, {})

    if method in result.handling_minutes:
        target["handling_minutes"] = result.handling_minutes[method]
        fits = result.handling_minutes_fits
        fits = fits[fits["method"] == method]
        best = fits.iloc[0]
        ranking = ", ".join(
            f"{fit.family} {fit.aic:,.0f}" for fit in fits.itertuples()
        )
        sources[f"methods.{method}.handling_minutes"] = (
            f"{label}: {best['family']} fitted by maximum likelihood (loc 0) to "
            f"{best['observations']:,} positive handling_minutes; lowest AIC of "
            f"{ranking}; KS statistic {best['ks_statistic']:.3f}; "
            f"{result.handling_minutes_excluded[method]:,} rows without positive "
            "minutes left out"
        )

    pooled = result.response_by_tier[result.response_by_tier["method"] == method]
    pooled = pooled.set_index("tier")
    response = target.setdefault("response", {})
    response["default"] = {}
    for tier in LIVE_TIERS:
        if tier in pooled.index:
            row = pooled.loc[tier]
            response["default"][tier] = _beta(row["a"], row["b"])
            sources[f"methods.{method}.response.default.{tier}"] = (
                f"{label}: Beta(1, 1) prior updated with {row['responses']:,} "
                f"responses in {row['touches']:,} touches, {tier} tier, all segments"
            )
        else:
            response["default"][tier] = _beta(PRIOR_A, PRIOR_B)
            sources[f"methods.{method}.response.default.{tier}"] = (
                f"{label} has no {method} touches of {tier} customers: the "
                "uniform Beta(1, 1) prior"
            )

    cells = result.response[result.response["method"] == method]
    segment_values = response.setdefault("segments", {})
    for segment, rows in cells.groupby("segment", observed=True):
        by_tier = rows.set_index("tier")
        values: dict[str, Any] = {}
        for tier in LIVE_TIERS:
            path = f"methods.{method}.response.segments.{segment}.{tier}"
            usable = tier in by_tier.index and not by_tier.loc[tier, "sparse"]
            if usable:
                row = by_tier.loc[tier]
                values[tier] = _beta(row["a"], row["b"])
                sources[path] = (
                    f"{label}: Beta(1, 1) prior updated with {row['responses']:,} "
                    f"responses in {row['touches']:,} touches"
                )
            else:
                values[tier] = copy.deepcopy(response["default"][tier])
                seen = int(by_tier.loc[tier, "touches"]) if tier in by_tier.index else 0
                sources[path] = (
                    f"{label}: only {seen} touches (minimum {result.min_touches}); "
                    f"the method's pooled {tier} posterior"
                )
        segment_values[str(segment)] = values
    methods[method] = _leading(target, ("handling_minutes", "response"))


def _fill_attempts(
    scenario: dict[str, Any],
    sources: dict[str, str],
    result: CalibrationResult,
    log: pd.DataFrame,
    label: str,
) -> None:
    """Policy attempts for the method with most touches: count and spacing."""
    method = result.methods[0]
    contacts = result.contacts_per_customer.set_index("method").loc[method]
    quantile_column = f"p{round(ATTEMPTS_QUANTILE * 100)}"
    count = max(1, math.ceil(contacts[quantile_column]))

    policy = scenario.setdefault("policy", {})
    previous = policy.get("attempts") or []
    messages = log.loc[log["method"] == method, "message"].dropna()
    message = (
        previous[0].get("message") if previous and "message" in previous[0]
        else str(messages.mode().iloc[0]) if len(messages) else "default"
    )

    data_spacing = result.attempt_spacing_days.get(method)
    if len(previous) > 1 and "after_days" in previous[1]:
        spacing = float(previous[1]["after_days"])
        spacing_source = "the base scenario"
    elif data_spacing is not None:
        spacing = round(data_spacing, 1)
        spacing_source = f"{label} (median days between consecutive attempts)"
    else:
        spacing = DEFAULT_SPACING_DAYS
        spacing_source = "an assumption (the log has no time between attempts)"

    policy["attempts"] = [
        {"method": method, "message": message,
         "after_days": 0.0 if number == 0 else spacing}
        for number in range(count)
    ]
    sources["policy.attempts"] = (
        f"{label}: {count} attempt{'s' if count > 1 else ''} = {quantile_column} "
        "of touches per customer, "
        f"rounded up (mean {contacts['mean']:.2f}, median {contacts['p50']:g}, "
        f"p90 {contacts['p90']:g}, max {contacts['max']:g}); spacing "
        f"{spacing:g} days from {spacing_source}"
    )


def _leading(mapping: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The mapping with ``keys`` (those present) moved to the front, for reading."""
    first = {key: mapping[key] for key in keys if key in mapping}
    return first | {key: value for key, value in mapping.items() if key not in first}


def _plain(value: Any) -> Any:
    """Convert numpy scalars and containers to plain YAML-safe Python values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value
