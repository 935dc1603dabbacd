"""Forecast versus actual: where each actual KPI falls in its forecast distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cssim.kpi import summarise

KEYS = ["month", "segment", "kpi"]


def compare_kpis(forecast: pd.DataFrame, actual: pd.DataFrame,
                 low: float = 0.05, high: float = 0.95) -> pd.DataFrame:
    """One row per KPI, month and segment present in both forecast and actual.

    ``forecast`` holds KPIs per replication (replication, month, segment, kpi,
    value); ``actual`` the measured KPIs (month, segment, kpi, value). The
    actual's percentile is its mid-rank among the replications, so an actual
    equal to every replication sits at 50%.
    """
    summary = summarise(forecast, low, high).rename(columns={
        "mean": "forecast_mean", "p5": "forecast_low", "p95": "forecast_high"})
    joined = summary.merge(actual.rename(columns={"value": "actual"}), on=KEYS)

    draws = forecast.groupby(KEYS)["value"].apply(
        lambda values: values.to_numpy(dtype=float))
    percentiles = []
    for row in joined.itertuples(index=False):
        values = draws.loc[(row.month, row.segment, row.kpi)]
        values = values[~np.isnan(values)]
        below = np.sum(values < row.actual)
        equal = np.sum(values == row.actual)
        percentiles.append((below + 0.5 * equal) / len(values) if len(values)
                           else np.nan)

    joined["inside"] = joined["actual"].between(joined["forecast_low"],
                                                joined["forecast_high"])
    joined["percentile"] = percentiles
    joined["error"] = joined["actual"] - joined["forecast_mean"]
    return joined[KEYS + ["forecast_mean", "forecast_low", "forecast_high",
                          "actual", "inside", "percentile", "error"]]


def coverage(table: pd.DataFrame, low: float = 0.05, high: float = 0.95
             ) -> dict[str, float]:
    """Share of actuals inside their intervals, against the nominal share.

    Rows whose forecast has no spread (touches in a forecast given the
    outreach made, say) cannot miss and are not counted.
    """
    usable = table.dropna(subset=["actual", "forecast_low", "forecast_high"])
    usable = usable[usable["forecast_high"] > usable["forecast_low"]]
    inside = int(usable["inside"].sum())
    return {
        "checked": len(usable),
        "inside": inside,
        "coverage": inside / len(usable) if len(usable) else float("nan"),
        "nominal": round(high - low, 6),
    }


def fan_charts(forecast: pd.DataFrame, actual: pd.DataFrame, folder,
               segment: str = "all", low: float = 0.05, high: float = 0.95
               ) -> list:
    """One PNG per KPI: the forecast band and mean by month, the actual as a line."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    from cssim.kpi import KPI_LABELS

    summary = summarise(forecast[forecast["segment"] == segment], low, high)
    measured = actual[actual["segment"] == segment]
    written = []
    for kpi, band in summary.groupby("kpi", sort=False):
        truth = measured[measured["kpi"] == kpi].sort_values("month")
        if truth.empty:
            continue
        band = band.sort_values("month")
        figure, axes = pyplot.subplots(figsize=(6, 3.5))
        axes.fill_between(band["month"], band["p5"], band["p95"], alpha=0.3,
                          label=f"forecast {low:.0%}–{high:.0%}")
        axes.plot(band["month"], band["mean"], label="forecast mean")
        axes.plot(truth["month"], truth["value"], marker="o", color="black",
                  label="actual")
        axes.set_xlabel("month")
        axes.set_title(f"{KPI_LABELS.get(kpi, kpi)} ({segment})")
        axes.legend(loc="best", fontsize="small")
        path = folder / f"fan_{kpi}_{segment}.png"
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        pyplot.close(figure)
        written.append(path)
    return written
