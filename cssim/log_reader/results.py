"""What a read returns: the used rows, the rejected rows and counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from cssim.errors import CssimError

REJECTED_COLUMNS = ("line", "reason", "column", "value", "expected")
"""Columns of ``LogRead.rejected``: line 1 is the header, the first row line 2."""


class LogReadError(CssimError, ValueError):
    """An export cannot be read: bad file, missing column, or (strict) a bad row."""


@dataclass(frozen=True)
class ReadCounts:
    """Rows read, used and rejected by reason; ``flagged`` counts used rows of note."""

    read: int
    used: int
    rejected: dict[str, int]
    flagged: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        """All rejected rows; ``read == used + rejected_total``."""
        return sum(self.rejected.values())

    def as_table(self) -> pd.DataFrame:
        """The counts as rows of (count, rows), for printing or tracking."""
        rows = [("read", self.read), ("used", self.used)]
        rows += [(f"rejected: {reason}", n) for reason, n in self.rejected.items()]
        rows += [(f"flagged: {note}", n) for note, n in self.flagged.items()]
        return pd.DataFrame(rows, columns=["count", "rows"])


@dataclass(frozen=True)
class LogRead:
    """An engagement log read from an export, with the rows that could not be used."""

    log: pd.DataFrame
    rejected: pd.DataFrame
    counts: ReadCounts


@dataclass(frozen=True)
class SnapshotRead:
    """Tier snapshots read (or derived from purchases) with the rejected rows.

    ``purchases`` holds the invoice lines used, when the export was purchases;
    ``counts`` then counts those lines.
    """

    snapshots: pd.DataFrame
    rejected: pd.DataFrame
    counts: ReadCounts
    purchases: pd.DataFrame | None = None
