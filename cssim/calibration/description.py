"""Plain-text tables of a calibration's estimates, for a file header or a report."""

from __future__ import annotations

import textwrap

import pandas as pd

from cssim.calibration.contacts import CONTACT_QUANTILES
from cssim.calibration.durations import DURATION_QUANTITIES
from cssim.calibration.result import CalibrationResult
from cssim.calibration.settings import GOOD_FIT_P_VALUE
from cssim.calibration.transitions import TransitionEstimates
from cssim.tier import TIERS

NOTE_WIDTH = 86
"""Width a prior's note wraps at: with the "# " of a scenario header, 88."""


def describe_calibration(result: CalibrationResult) -> str:
    """Plain-text tables of the estimates, for a scenario file's header or a report."""
    lines = [
        f"log: {result.source_rows:,} rows read as {result.log_kind}, "
        f"{result.customers:,} customers, {result.touches:,} touches,",
        f"     {result.first_contact:%Y-%m-%d} to {result.last_contact:%Y-%m-%d}",
        "",
        "response per touch, Beta prior fitted across each method's cells:",
    ]
    lines += _describe_priors(result.priors)
    lines += _describe_cells(result)

    for row in result.message_lifts.itertuples():
        lines.append(
            f"  {row.method} message {row.message}: odds x{row.odds_ratio:.3g} "
            f"[{row.lower:.3g}, {row.upper:.3g}] against {row.reference}"
        )
    if result.drift:
        lines += ["", "drift between months (a log-odds shift drawn per replication):"]
        lines += [f"  {drift.describe()}" for drift in result.drift]
    lines += _describe_fatigue(result)
    lines += _describe_durations(result)

    lines += ["", "touches per customer"]
    for row in result.contacts_per_customer.to_dict("records"):
        names = [f"p{round(quantile * 100)}" for quantile in CONTACT_QUANTILES]
        quantiles = ", ".join(f"{name} {row[name]:g}" for name in names)
        lines.append(
            f"  {row['method']} mean {row['mean']:.2f}, {quantiles}, "
            f"max {row['max']:g}"
        )
    if result.transitions is not None:
        lines += _describe_transitions(result.transitions)
    return "\n".join(lines)


def _describe_priors(priors: pd.DataFrame) -> list[str]:
    """One aligned line per method and outcome, and its note on a line below."""
    if priors.empty:
        return []
    names = [f"{row.method} {row.outcome}" for row in priors.itertuples()]
    shapes = [f"Beta({row.a:.3g}, {row.b:.3g})" for row in priors.itertuples()]
    name_width = max(map(len, names))
    shape_width = max(map(len, shapes))
    lines = []
    for name, shape, row in zip(names, shapes, priors.itertuples()):
        lines.append(f"  {name:<{name_width}}  {shape:<{shape_width}}  "
                     f"{row.fit}, {row.cells} cells")
        if row.note:
            lines += textwrap.wrap(row.note, width=NOTE_WIDTH,
                                   initial_indent="    ", subsequent_indent="    ")
    return lines


def _describe_cells(result: CalibrationResult) -> list[str]:
    """The posterior per cell, then per tier across segments, in aligned columns."""
    by_tier = result.response_by_tier.assign(segment="(all)", sparse=False)
    table = pd.concat([result.response, by_tier], ignore_index=True)
    if table.empty:
        return []
    # Each method and message: its segment rows, then its "(all)" rows.
    order = table[["method", "message"]].astype(str)
    table = table.loc[order.sort_values(["method", "message"], kind="stable").index]
    header = {"method": "method", "message": "message", "segment": "segment",
              "tier": "tier"}
    widths = {
        key: max(len(title), *(len(str(value)) for value in table[key]))
        for key, title in header.items()
    }
    # Counts line up on their slash.
    above = max(len(f"{value:,}") for value in table["responses"])
    below = max(len(f"{value:,}") for value in table["touches"])
    counts = [f"{row.responses:>{above},}/{row.touches:<{below},}"
              for row in table.itertuples()]
    count_width = max(len("responses/touches"), above + 1 + below)

    def columns(*values: str) -> str:
        return "  ".join(
            f"{value:<{widths[key]}}" for key, value in zip(header, values)
        )

    lines = [
        "  posterior per cell; segment (all) pools a tier across segments",
        f"  {columns(*header.values())}  {'responses/touches':<{count_width}}  "
        "mean   [90% interval]",
    ]
    for count, row in zip(counts, table.itertuples()):
        flag = " *" if row.sparse else ""
        cells = columns(str(row.method), str(row.message), str(row.segment),
                        str(row.tier))
        lines.append(
            f"  {cells}  {count:<{count_width}}  {row.mean:.4f} "
            f"[{row.lower:.4f}, {row.upper:.4f}]{flag}"
        )
    if table["sparse"].any():
        lines.append(f"  * sparse: under {result.min_touches} touches, so it leans "
                     "on the method's prior")
    return lines


def _describe_fatigue(result: CalibrationResult) -> list[str]:
    """Lines on the odds multiplier per extra attempt."""
    if result.fatigue.empty:
        return []
    lines = ["", "fatigue: odds multiplier per extra attempt [90% interval]"]
    for row in result.fatigue.itertuples():
        lines += [
            f"  {row.method} x{row.odds_multiplier:.3f} [{row.lower:.3f}, "
            f"{row.upper:.3f}] over attempts 1-{row.attempts_used}, "
            f"p={row.p_value:.2g};",
            f"  mean attempt of the touches {row.mean_attempt:.2f}",
        ]
    return lines


def _describe_durations(result: CalibrationResult) -> list[str]:
    """Lines on each fitted duration family."""
    if result.duration_fits.empty:
        return []
    lines = ["", "durations, maximum likelihood with loc 0; a poor fit has KS p < "
             f"{GOOD_FIT_P_VALUE}"]
    for row in result.duration_fits.itertuples():
        shown = ", ".join(
            f"{name}={value:.4g}" for name, value in row.parameters.items()
        )
        flag = "" if row.good_fit else ", poor fit"
        lines += [
            f"  {row.method} {DURATION_QUANTITIES[row.quantity]}: {row.family}{flag}",
            f"      AIC {row.aic:,.0f} (+{row.delta_aic:,.0f}), KS "
            f"{row.ks_statistic:.3f} p {row.ks_pvalue:.2g}; {shown}",
        ]
    return lines


def _describe_transitions(estimates: TransitionEstimates) -> list[str]:
    """Lines on the snapshot spacing and the posterior mean transition rows."""
    spacing = estimates.spacing
    lines = [
        "",
        f"tier moves per {estimates.period_days:.1f} days from "
        f"{spacing['pairs_used']:,} snapshot pairs "
        f"({spacing['pairs_irregular']:,} left out for irregular spacing); "
        "posterior means:",
    ]
    table = estimates.counts.pivot_table(
        index=["segment", "from_tier", "row_total"], columns="to_tier",
        values="mean", observed=True,
    ).reindex(columns=list(TIERS))
    for (segment, tier, total), row in table.iterrows():
        shown = " ".join(f"{to} {row[to]:.3f}" for to in TIERS)
        lines.append(f"  {segment:<14} {tier:<7} n={total:<7,.0f} {shown}")
    return lines
