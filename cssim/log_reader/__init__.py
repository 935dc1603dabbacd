"""Reading real exports through a mapping: every row used or rejected with a reason."""

from cssim.log_reader.dates import MONTH_NAMES, WEEKDAY_NAMES
from cssim.log_reader.fields import STATUSES
from cssim.log_reader.files import DELIMITERS
from cssim.log_reader.readers import read_log, read_purchases, read_snapshots
from cssim.log_reader.results import (
    REJECTED_COLUMNS,
    LogRead,
    LogReadError,
    ReadCounts,
    SnapshotRead,
)
from cssim.log_reader.values import FALSE_WORDS, TRUE_WORDS

__all__ = [
    "DELIMITERS",
    "FALSE_WORDS",
    "MONTH_NAMES",
    "REJECTED_COLUMNS",
    "STATUSES",
    "TRUE_WORDS",
    "WEEKDAY_NAMES",
    "LogRead",
    "LogReadError",
    "ReadCounts",
    "SnapshotRead",
    "read_log",
    "read_purchases",
    "read_snapshots",
]
