"""An export's cells and the bad cells found in them so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cssim.mapping import FieldRule, Mapping


@dataclass
class Table:
    """An export's cells (text for CSV) with the file line of each row."""

    path: Path
    cells: pd.DataFrame
    lines: np.ndarray
    rejected: list[pd.DataFrame]


@dataclass
class Problems:
    """Bad cells found so far, one frame per check, by row position."""

    table: Table
    mapping: Mapping
    found: list[pd.DataFrame] = field(default_factory=list)

    def add(self, bad: Any, reason: str, column: str, values: Any,
            expected: str) -> None:
        """Record the rows where ``bad`` is true; ``values`` may be a callable."""
        bad = np.asarray(bad, dtype=bool)
        if not bad.any():
            return
        if callable(values):
            values = values()
        positions = np.flatnonzero(bad)
        shown = pd.Series(values, index=range(len(bad))).iloc[positions]
        self.found.append(pd.DataFrame({
            "position": positions,
            "line": self.table.lines[positions],
            "reason": reason,
            "column": column,
            "value": [_shown(value) for value in shown],
            "expected": expected,
        }))


def _shown(value: Any) -> str:
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    return str(value)


def display(rule: FieldRule, table: Table, fallback: pd.Series) -> pd.Series:
    """The cell values to show for a field: its source column(s) as written."""
    columns = rule.source_columns()
    if not columns:
        return fallback
    if len(columns) == 1:
        return table.cells[columns[0]]
    parts = [table.cells[c].map(lambda v, c=c: f"{c}={_shown(v)}") for c in columns]
    shown = parts[0]
    for part in parts[1:]:
        shown = shown + ", " + part
    return shown
