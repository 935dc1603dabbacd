"""Timestamps assembled from separate year, month and day columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cssim.log_reader.table import Problems, Table, display
from cssim.log_reader.values import as_text, parse_numbers, stripped
from cssim.mapping import DayFromWeekday, FieldRule, Mapping, YearFromWrap

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun",
               "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def date_parts(rule: FieldRule, table: Table, mapping: Mapping,
                problems: Problems, name: str) -> pd.Series:
    """Naive timestamps assembled from year, month and day parts."""
    parts = rule.date_parts
    cells = table.cells
    month = _month_numbers(_part(parts.month, cells))
    label = ", ".join(rule.source_columns())

    if isinstance(parts.year, YearFromWrap):
        wraps = (month.ffill().diff() < 0).cumsum()
        year = parts.year.first_year + wraps
    else:
        year, _ = parse_numbers(_part(parts.year, cells), mapping)

    if isinstance(parts.day, DayFromWeekday):
        day = _weekday_days(cells[parts.day.weekday], year, month)
    else:
        day, _ = parse_numbers(_part(parts.day, cells), mapping)

    frame = pd.DataFrame({"year": year, "month": month, "day": day})
    stamps = pd.to_datetime(frame, errors="coerce")
    hours, minutes, *seconds = (int(p) for p in parts.time.split(":"))
    offset = pd.Timedelta(hours=hours, minutes=minutes, seconds=sum(seconds))
    stamps = stamps + offset
    problems_mask = stamps.isna().to_numpy(dtype=bool)
    problems.add(problems_mask, "unparseable date", label,
                 lambda: display(rule, table, stamps),
                 "year, month and day that make a date")
    return stamps


def _part(part: str | int, cells: pd.DataFrame) -> pd.Series:
    if isinstance(part, str):
        return stripped(cells[part])
    return pd.Series([part] * len(cells), index=cells.index, dtype=object)


def _month_numbers(values: pd.Series) -> pd.Series:
    """Month 1-12 from numbers or English names (jan, January); NaN if neither."""

    text = as_text(values).str.strip().str.lower()
    names = {name: float(i) for i, name in enumerate(MONTH_NAMES, 1)}
    by_name = text.str[:3].map(names).where(text.str.isalpha())
    by_number = pd.to_numeric(text, errors="coerce").astype("float64")
    by_number = by_number.where(by_number.isin(range(1, 13)))
    return by_name.fillna(by_number).astype("float64")


def _weekday_days(weekday_names: pd.Series, year: pd.Series,
                  month: pd.Series) -> pd.Series:
    """Day of month of each row's weekday in its week, weeks counted in row order.

    Inside a run of rows with the same month, a new week starts where the
    weekday steps back; the date is that week's occurrence of the weekday,
    held to the month's last such weekday.
    """
    days = {name: float(i) for i, name in enumerate(WEEKDAY_NAMES)}
    text = as_text(weekday_names).str.strip().str.lower()
    weekday = text.str[:3].map(days).where(text.str.isalpha()).astype("float64")
    known = weekday.notna() & month.notna() & year.notna()

    month_key = month.ffill()
    month_run = (month_key != month_key.shift()).astype("int64").cumsum()
    step_back = (weekday.ffill().diff().fillna(0) < 0).astype("int64")
    week = step_back.groupby(month_run).cumsum()

    first = pd.to_datetime(pd.DataFrame({
        "year": year.where(known, 2000), "month": month.where(known, 1), "day": 1,
    }))
    first_occurrence = (weekday.fillna(0) - first.dt.day_of_week) % 7
    last_week = (first.dt.days_in_month - 1 - first_occurrence) // 7
    day = 1 + first_occurrence + 7 * np.minimum(week, last_week)
    return day.where(known)
