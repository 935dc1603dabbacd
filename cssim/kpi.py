"""KPIs by 30-day month and segment, computed the same way from any engagement log.

Inputs are the engagement log and tier snapshots in the shared schemas, plus
two optional tables the simulation knows and a real team may reconstruct: the
due list (when each customer became eligible) and rep days (available and busy
minutes). A KPI whose input is missing is left out rather than guessed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cssim.engagement_log import UNRELATED_OUTCOMES
from cssim.tier import TIER_INDEX

MONTH_DAYS = 30
ALL = "all"

KPI_LABELS: dict[str, str] = {
    "touches": "touches (contact attempts)",
    "customers_reached": "customers reached",
    "response_rate": "response rate",
    "action_rate": "action rate",
    "tier_up": "tier up, contacted",
    "tier_down": "tier down, contacted",
    "tier_up_not_contacted": "tier up, comparable not contacted",
    "tier_down_not_contacted": "tier down, comparable not contacted",
    "logo_retention": "logo retention",
    "grr": "gross revenue retention",
    "nrr": "net revenue retention",
    "rep_utilisation": "rep utilisation",
    "backlog": "backlog (due, not yet contacted)",
    "days_to_first_contact": "days to first contact",
    "days_to_first_contact_red": "days to first contact, reds",
    "followup_minutes": "follow-up minutes",
    "unrelated_requests": "unrelated requests",
    "contacts_per_customer_30d": "contacts per customer per 30 days",
    "unsubscribes": "unsubscribes",
    "complaints": "complaints",
}
"""KPI names in display order, with a label for tables."""


def month_of(times: pd.Series, start: pd.Timestamp) -> pd.Series:
    """1-based 30-day month of each time since the program start."""
    days = (times - start).dt.total_seconds() / 86400.0
    return (np.floor(days / MONTH_DAYS) + 1).astype("Int64")


def compute_kpis(
    log: pd.DataFrame,
    snapshots: pd.DataFrame,
    start: pd.Timestamp,
    months: int,
    due: pd.DataFrame | None = None,
    rep_days: pd.DataFrame | None = None,
    group: str = "segment",
) -> pd.DataFrame:
    """Every KPI as a long table: month, segment (with ``all``), kpi, value.

    ``group`` names the log column whose values fill the ``segment`` column:
    ``message`` or ``method`` measures each A/B arm or method apart. Health
    and waiting KPIs belong to customer segments and come only by segment.
    """
    log = log.assign(month=month_of(log["contacted_at"], start))
    log = log[log["month"].between(1, months)]

    parts = [_outreach(log, group=group)]
    if group == "segment":
        parts.append(_health(log, snapshots, start, months))
        if due is not None:
            parts.append(_waiting(log, due, start, months))
    if rep_days is not None:
        parts.append(_utilisation(rep_days))
    table = pd.concat(parts, ignore_index=True)
    table = table[table["month"].between(1, months)]
    order = {name: i for i, name in enumerate(KPI_LABELS)}
    table = table.assign(rank=table["kpi"].map(order))
    table = table.sort_values(["month", "segment", "rank"]).drop(columns="rank")
    return table.reset_index(drop=True)


def _by_segment(frame: pd.DataFrame, compute, by: tuple[str, ...] = ()
                ) -> pd.DataFrame:
    """Apply ``compute`` per (month, segment) and per month over all segments."""
    keys = [*by, "month", "segment"]
    per_segment = compute(frame, keys)
    overall = compute(frame.assign(segment=ALL), keys)
    wide = pd.concat([per_segment, overall])
    long = wide.reset_index().melt(id_vars=keys, var_name="kpi")
    return long.astype({"month": int, "segment": str, "value": float})


def outreach_kpis(log: pd.DataFrame, start: pd.Timestamp, months: int,
                  by: tuple[str, ...] = (), group: str = "segment"
                  ) -> pd.DataFrame:
    """The outreach KPIs alone, optionally for each value of extra columns ``by``.

    Replay forecasts measure all their replications in one pass with
    ``by=("replication",)``; ``compute_kpis`` uses the same code.
    """
    log = log.assign(month=month_of(log["contacted_at"], start))
    return _outreach(log[log["month"].between(1, months)], by, group)


def _outreach(log: pd.DataFrame, by: tuple[str, ...] = (),
              group: str = "segment") -> pd.DataFrame:
    """Touches, reach, response and action, follow-up time and contact pressure."""
    if log.empty:
        return pd.DataFrame(columns=[*by, "month", "segment", "kpi", "value"])

    outcome = log["outcome"].fillna("").astype(str)
    flags = pd.DataFrame({
        **{column: log[column].to_numpy() for column in by},
        "month": log["month"].astype(int),
        "segment": log[group].astype(str),
        "customer_id": log["customer_id"].astype(str),
        "responded": log["responded"].astype(bool),
        "acted": log["acted"].fillna(False).astype(bool),
        "followup_minutes": log["followup_minutes"].fillna(0.0),
        "unrelated_requests": outcome.isin(UNRELATED_OUTCOMES),
        "unsubscribes": outcome == "unsubscribed",
        "complaints": outcome == "complaint",
    })

    def compute(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        per_customer = frame.groupby(keys + ["customer_id"], sort=False).agg(
            responded=("responded", "max"), acted=("acted", "max"))
        customers = per_customer.groupby(level=keys, sort=False)
        table = frame.groupby(keys, sort=False).agg(
            touches=("responded", "size"),
            followup_minutes=("followup_minutes", "sum"),
            unrelated_requests=("unrelated_requests", "sum"),
            unsubscribes=("unsubscribes", "sum"),
            complaints=("complaints", "sum"),
        )
        table["customers_reached"] = customers.size()
        table["response_rate"] = customers["responded"].mean()
        table["action_rate"] = customers["acted"].mean()
        table["contacts_per_customer_30d"] = (
            table["touches"] / table["customers_reached"]
        )
        return table

    return _by_segment(flags, compute, by)


def _health(log: pd.DataFrame, snapshots: pd.DataFrame, start: pd.Timestamp,
            months: int) -> pd.DataFrame:
    """Tier moves of contacted and comparable customers; logo, gross, net retention.

    A contacted customer's move runs from its tier at its first touch of the
    month to its tier at month end, so the drop that made it eligible is not
    counted as an effect of the contact; others run from month start.
    """
    lean, customers = _lean_snapshots(snapshots, start)
    touches = log[["customer_id", "contacted_at", "tier", "month"]].assign(
        key=customers.get_indexer(log["customer_id"].astype(str)),
        tier=log["tier"].astype(str).map(TIER_INDEX).to_numpy())
    rows = []
    for month in range(1, months + 1):
        begin = lean[lean["day"] == (month - 1) * MONTH_DAYS].set_index("key")
        end = lean[lean["day"] == month * MONTH_DAYS].set_index("key")
        if begin.empty or end.empty:
            continue
        ending = end[["tier", "arr", "active"]].add_suffix("_end")
        cohort = begin[begin["active"]].join(ending, how="inner")
        touched = touches[touches["month"] == month].sort_values("contacted_at")
        tier_at_touch = touched.groupby("key")["tier"].first()
        cohort["contacted"] = cohort.index.isin(tier_at_touch.index)
        cohort["tier_from"] = tier_at_touch.reindex(cohort.index).fillna(
            cohort["tier"]).astype(int)
        rows.append(_health_month(cohort.assign(month=month)))
    if not rows:
        return pd.DataFrame(columns=["month", "segment", "kpi", "value"])
    return _by_segment(pd.concat(rows), _health_table)


def _lean_snapshots(snapshots: pd.DataFrame, start: pd.Timestamp
                    ) -> tuple[pd.DataFrame, pd.Index]:
    """Snapshots with integer customer keys and tiers, for fast joins by month."""
    ids = pd.Categorical(snapshots["customer_id"].astype(str))
    lean = pd.DataFrame({
        "key": ids.codes,
        "day": ((snapshots["as_of"] - start).dt.total_seconds() / 86400.0)
        .round().to_numpy(),
        "segment": snapshots["segment"].astype(str).to_numpy(dtype=object),
        "tier": snapshots["tier"].astype(str).map(TIER_INDEX).to_numpy(),
        "arr": snapshots["arr"].to_numpy(dtype=float),
        "active": (snapshots["status"] == "active").to_numpy(dtype=bool),
    })
    return lean, ids.categories


def _health_month(cohort: pd.DataFrame) -> pd.DataFrame:
    rank_start = cohort["tier_from"]
    rank_end = cohort["tier_end"]
    active_end = cohort["active_end"]
    arr_end = cohort["arr_end"].where(active_end, 0.0)
    return cohort.assign(
        up=rank_end < rank_start,
        down=rank_end > rank_start,
        retained=active_end,
        arr_gross=np.minimum(arr_end, cohort["arr"]),
        arr_net=arr_end,
    )


def _health_table(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    grouped = frame.groupby(keys, observed=True)
    table = pd.DataFrame({
        "logo_retention": grouped["retained"].mean(),
        "grr": grouped["arr_gross"].sum() / grouped["arr"].sum(),
        "nrr": grouped["arr_net"].sum() / grouped["arr"].sum(),
    })
    contacted = frame[frame["contacted"]]
    moves = contacted.groupby(keys, observed=True)[["up", "down"]].mean()
    table["tier_up"] = moves["up"]
    table["tier_down"] = moves["down"]

    comparable = _standardised_moves(frame, keys)
    table["tier_up_not_contacted"] = comparable["up"]
    table["tier_down_not_contacted"] = comparable["down"]
    return table


def _standardised_moves(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Tier moves of customers not contacted, reweighted to the contacted tier mix.

    Contacted customers are mostly reds and yellows; comparing them with all
    other customers would mostly compare tiers. Each starting tier's rate
    among the not contacted is weighted by that tier's share of the contacted.
    """
    cells = keys + ["tier_from"]
    rates = frame[~frame["contacted"]].groupby(cells, observed=True)[["up", "down"]]
    rates = rates.mean()
    weights = frame[frame["contacted"]].groupby(cells, observed=True).size()
    joined = rates.join(weights.rename("weight"), how="inner")
    joined[["up", "down"]] = joined[["up", "down"]].mul(joined["weight"], axis=0)
    summed = joined.groupby(level=keys, observed=True).sum()
    return summed[["up", "down"]].div(summed["weight"], axis=0)


def _waiting(log: pd.DataFrame, due: pd.DataFrame, start: pd.Timestamp,
             months: int) -> pd.DataFrame:
    """Backlog at each month end and days from falling due to first contact."""
    times = "datetime64[ns, UTC]"
    contacts = log[["customer_id", "contacted_at"]].astype(
        {"customer_id": str, "contacted_at": times})
    waits = pd.merge_asof(
        due.astype({"customer_id": str, "due_at": times}).sort_values("due_at"),
        contacts.rename(columns={"contacted_at": "first_contact"})
        .sort_values("first_contact"),
        left_on="due_at", right_on="first_contact", by="customer_id",
        direction="forward",
    )
    if "left_at" in waits:
        left_first = waits["left_at"] < waits["first_contact"]
        waits.loc[left_first.fillna(False), "first_contact"] = pd.NaT
    waits["wait_days"] = (
        (waits["first_contact"] - waits["due_at"]).dt.total_seconds() / 86400.0
    )
    waits["month"] = month_of(waits["first_contact"], start)

    rows = []
    for month in range(1, months + 1):
        month_end = start + pd.Timedelta(days=month * MONTH_DAYS)
        waiting = (waits["due_at"] < month_end) & ~(
            waits["first_contact"] < month_end)
        if "left_at" in waits:
            waiting &= ~(waits["left_at"] < month_end)
        for segment, mask in _segment_masks(waits):
            rows.append((month, segment, "backlog", float((waiting & mask).sum())))
    backlog = pd.DataFrame(rows, columns=["month", "segment", "kpi", "value"])

    def compute(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        reached = frame.dropna(subset=["month"])
        grouped = reached.groupby(keys, observed=True)["wait_days"]
        reds = reached[reached["tier"] == "red"].groupby(keys, observed=True)
        return pd.DataFrame({
            "days_to_first_contact": grouped.mean(),
            "days_to_first_contact_red": reds["wait_days"].mean(),
        })

    if waits["month"].notna().any():
        return pd.concat([backlog, _by_segment(waits, compute)], ignore_index=True)
    return backlog


def _segment_masks(frame: pd.DataFrame):
    yield ALL, pd.Series(True, index=frame.index)
    for segment in frame["segment"].unique():
        yield segment, frame["segment"] == segment


def _utilisation(rep_days: pd.DataFrame) -> pd.DataFrame:
    """Busy over available rep minutes per month (team-wide only)."""
    month = rep_days["day"] // MONTH_DAYS + 1
    sums = rep_days.groupby(month)[["busy_minutes", "available_minutes"]].sum()
    value = sums["busy_minutes"] / sums["available_minutes"].where(
        sums["available_minutes"] > 0)
    return pd.DataFrame({"month": value.index.astype(int), "segment": ALL,
                         "kpi": "rep_utilisation", "value": value.to_numpy()})


def summarise(kpis: pd.DataFrame, low: float = 0.05, high: float = 0.95
              ) -> pd.DataFrame:
    """Mean and a percentile interval of each KPI over replications."""
    grouped = kpis.groupby(["month", "segment", "kpi"], sort=False)["value"]
    summary = grouped.agg(
        mean="mean",
        p5=lambda values: values.quantile(low),
        p95=lambda values: values.quantile(high),
        replications="count",
    ).reset_index()
    order = {name: i for i, name in enumerate(KPI_LABELS)}
    summary["rank"] = summary["kpi"].map(order)
    summary["segment_rank"] = summary["segment"] != ALL
    summary = summary.sort_values(["month", "segment_rank", "segment", "rank"])
    return summary.drop(columns=["rank", "segment_rank"]).reset_index(drop=True)
