"""The shipped real datasets, read through the project's own mappings.

Bank Marketing (UCI dataset 222, CC BY 4.0; Moro, Cortez & Rita 2014) ships
in ``cssim/data`` with its attribution in ``cssim/data/SOURCE.md``; how its
columns become an engagement log (age-band segments, a tier proxy from the
previous campaign's outcome, the year inferred from where months wrap) is
stated in ``mappings/bank_marketing.yaml``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cssim.log_reader import read_log

DATA_FOLDER = Path(__file__).parent / "data"
MAPPINGS_FOLDER = Path(__file__).resolve().parent.parent / "mappings"
BANK_MARKETING_FILE = "bank-additional-full.csv.gz"


def bank_marketing_log() -> pd.DataFrame:
    """The shipped Bank Marketing export as an engagement log (41,188 rows)."""
    read = read_log(DATA_FOLDER / BANK_MARKETING_FILE,
                    MAPPINGS_FOLDER / "bank_marketing.yaml")
    return read.log
