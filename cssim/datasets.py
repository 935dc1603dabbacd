"""Real public datasets read into the engagement-log schema, with their mapping stated.

Bank Marketing (UCI dataset 222, CC BY 4.0; Moro, Cortez & Rita 2014) is shipped
in ``cssim/data`` with its attribution in ``cssim/data/SOURCE.md``. It records a
Portuguese bank's phone campaigns selling a term deposit, May 2008 to November
2010. Reading it as an engagement log takes these decisions:

- One row is one client's final touch of the campaign. ``attempt`` is
  ``campaign`` (contacts with the client, including the last), so the row
  stands for ``campaign`` calls of which only the last is described.
- ``customer_id`` is synthesised from the row number; the data has no id.
- ``segment`` is an age band (under 30, 30-44, 45-59, 60 and over): complete
  in every row, and the bands differ clearly in subscription rate.
- ``tier`` is a proxy, since the data has no health score: the previous
  campaign's outcome, ``success`` as green, ``nonexistent`` (never contacted
  before) as yellow and ``failure`` as red.
- ``contacted_at``: the year is inferred from where the month sequence wraps
  (rows are in date order); the week within the month is counted from the row
  order where ``day_of_week`` steps back, and the date is that week's
  ``day_of_week``, kept inside the month. The day is therefore approximate;
  year, month and weekday are the data's. Time 12:00 Europe/Lisbon, stored UTC.
- ``method`` is ``phone``, ``message`` is ``term_deposit``,
  ``handling_minutes`` is ``duration`` / 60 (the last call only) and
  ``responded`` is ``y == "yes"``.

Every original column is kept beside the schema's columns, with the inferred
``year``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cssim.engagement_log import LOG_COLUMNS, conform
from cssim.errors import CssimError

DATA_FOLDER = Path(__file__).parent / "data"
BANK_MARKETING_FILE = "bank-additional-full.csv.gz"
BANK_MARKETING_FIRST_YEAR = 2008
BANK_MARKETING_ZONE = "Europe/Lisbon"
MONTHS: tuple[str, ...] = (
    "jan", "feb", "mar", "apr", "may", "jun",
    "jul", "aug", "sep", "oct", "nov", "dec",
)
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("age_under_30", 30),
    ("age_30_44", 45),
    ("age_45_59", 60),
    ("age_60_plus", 200),
)
"""Segment name and the first age above the band."""

TIER_PROXY: dict[str, str] = {
    "success": "green",
    "nonexistent": "yellow",
    "failure": "red",
}
"""Previous-campaign outcome standing in for a health tier."""

_NEEDED_COLUMNS = ("age", "month", "day_of_week", "duration", "campaign",
                   "poutcome", "y")


class DatasetError(CssimError, ValueError):
    """A dataset file does not look as its SOURCE.md says it should."""


def bank_marketing_log() -> pd.DataFrame:
    """The shipped Bank Marketing file as an engagement log (one row per client)."""
    return read_bank_marketing(DATA_FOLDER / BANK_MARKETING_FILE)


def read_bank_marketing(path: str | Path) -> pd.DataFrame:
    """Read a ``bank-additional-full`` CSV (plain or gzipped) as an engagement log."""
    path = Path(path)
    raw = pd.read_csv(path, sep=";")
    _check_bank_columns(raw, path)

    year = _inferred_years(raw, path)
    log = raw.assign(year=year)
    log["customer_id"] = [f"bank-{row:05d}" for row in range(len(raw))]
    log["segment"] = _age_band(raw["age"], path)
    log["tier"] = _tier_proxy(raw["poutcome"], path)
    log["contacted_at"] = _contact_times(raw, year, path)
    log["method"] = "phone"
    log["message"] = "term_deposit"
    log["attempt"] = raw["campaign"].astype("int64")
    log["handling_minutes"] = raw["duration"].astype("float64") / 60.0
    log["responded"] = _subscribed(raw["y"], path)
    log["responded_at"] = pd.NaT
    log["followup_minutes"] = np.nan
    return conform(log, LOG_COLUMNS)


def _check_bank_columns(raw: pd.DataFrame, path: Path) -> None:
    missing = [name for name in _NEEDED_COLUMNS if name not in raw.columns]
    if missing:
        raise DatasetError(
            f"{path}: expected the bank-additional-full columns "
            f"{list(_NEEDED_COLUMNS)} separated by ';'; missing {missing}, "
            f"found {list(raw.columns)[:8]}"
        )


def _first_bad_row(path: Path, column: str, values: pd.Series, allowed: object) -> str:
    """A message naming the first row whose value is not allowed."""
    position = int(np.flatnonzero(values.to_numpy())[0])
    return (
        f"{path}: row {position} (line {position + 2}), column {column!r}: "
        f"expected one of {allowed}"
    )


def _inferred_years(raw: pd.DataFrame, path: Path) -> pd.Series:
    """Calendar year of every row, counting a new year where the month number falls."""
    month_number = raw["month"].map({name: i for i, name in enumerate(MONTHS, 1)})
    unknown = month_number.isna()
    if unknown.any():
        message = _first_bad_row(path, "month", unknown, list(MONTHS))
        raise DatasetError(f"{message}; got {raw['month'][unknown].iloc[0]!r}")

    wraps = (month_number.diff() < 0).cumsum()
    return (BANK_MARKETING_FIRST_YEAR + wraps).astype("int64")


def _age_band(age: pd.Series, path: Path) -> pd.Series:
    """Segment name of each client's age band."""
    if age.isna().any() or (age < 0).any():
        message = _first_bad_row(path, "age", age.isna() | (age < 0), "ages >= 0")
        raise DatasetError(message)
    names = [name for name, _ in AGE_BANDS]
    upper_bounds = [bound for _, bound in AGE_BANDS]
    positions = np.searchsorted(upper_bounds, age.to_numpy(), side="right")
    return pd.Series(np.array(names)[positions], index=age.index)


def _tier_proxy(outcome: pd.Series, path: Path) -> pd.Series:
    """Tier proxy from the previous campaign's outcome."""
    tier = outcome.map(TIER_PROXY)
    unknown = tier.isna()
    if unknown.any():
        message = _first_bad_row(path, "poutcome", unknown, sorted(TIER_PROXY))
        raise DatasetError(f"{message}; got {outcome[unknown].iloc[0]!r}")
    return tier


def _subscribed(answer: pd.Series, path: Path) -> pd.Series:
    """``y`` as a boolean."""
    unknown = ~answer.isin(["yes", "no"])
    if unknown.any():
        message = _first_bad_row(path, "y", unknown, ["yes", "no"])
        raise DatasetError(f"{message}; got {answer[unknown].iloc[0]!r}")
    return answer == "yes"


def _contact_times(raw: pd.DataFrame, year: pd.Series, path: Path) -> pd.Series:
    """Approximate contact time: the row's weekday in its counted week of the month.

    Inside each run of rows with the same month, a new week starts where the
    weekday steps back (fri, then mon). The date is the week's occurrence of
    the weekday in the month, held to the month's last such weekday.
    """
    weekday = raw["day_of_week"].map({name: i for i, name in enumerate(WEEKDAYS)})
    unknown = weekday.isna()
    if unknown.any():
        message = _first_bad_row(path, "day_of_week", unknown, list(WEEKDAYS))
        raise DatasetError(f"{message}; got {raw['day_of_week'][unknown].iloc[0]!r}")
    weekday = weekday.astype("int64")

    month_run = (raw["month"] != raw["month"].shift()).cumsum()
    week = (weekday.diff().fillna(0) < 0).astype("int64").groupby(month_run).cumsum()

    month_number = raw["month"].map({name: i for i, name in enumerate(MONTHS, 1)})
    first_day = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month_number, "day": 1})
    )
    days_in_month = first_day.dt.days_in_month
    first_occurrence = (weekday - first_day.dt.day_of_week) % 7
    last_week = (days_in_month - 1 - first_occurrence) // 7
    day_offset = first_occurrence + 7 * np.minimum(week, last_week)

    local = first_day + pd.to_timedelta(day_offset, unit="D") + pd.Timedelta(hours=12)
    utc = local.dt.tz_localize(BANK_MARKETING_ZONE).dt.tz_convert("UTC")
    return utc.astype(LOG_COLUMNS["contacted_at"])
