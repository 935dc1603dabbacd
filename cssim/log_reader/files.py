"""Reading an export file (CSV, Parquet or Excel) into cells and lines."""

from __future__ import annotations

import bz2
import csv
import gzip
import importlib.util
import io
import lzma
from pathlib import Path

import numpy as np
import pandas as pd

from cssim.log_reader.results import LogReadError
from cssim.log_reader.table import Table
from cssim.mapping import Mapping

DELIMITERS = (",", ";", "\t", "|")


def read_table(path: Path, mapping: Mapping) -> Table:
    """Cells and line numbers of an export in any supported format."""
    if not path.is_file():
        raise LogReadError(f"{path}: cannot read the export: no such file")
    kind = _format(path, mapping)
    try:
        if kind == "parquet":
            cells = pd.read_parquet(path)
        elif kind == "excel":
            cells = _read_excel(path, mapping)
        else:
            return _read_csv(path, mapping)
    except LogReadError:
        raise
    except Exception as error:
        raise LogReadError(
            f"{path}: cannot read as {kind} ({type(error).__name__}: {error})"
        ) from error
    cells = cells.reset_index(drop=True)
    cells.columns = [str(c).strip() for c in cells.columns]
    return Table(path, cells, np.arange(2, len(cells) + 2), [])


def _format(path: Path, mapping: Mapping) -> str:
    if mapping.source.format != "auto":
        return mapping.source.format
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2", ".xz"):
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last == ".parquet":
        return "parquet"
    if last in (".xlsx", ".xlsm"):
        return "excel"
    if last in (".csv", ".tsv", ".txt"):
        return "csv"
    raise LogReadError(
        f"{path}: cannot tell the format from the name; expected .csv, .tsv, "
        ".txt (optionally .gz, .bz2, .xz), .parquet or .xlsx, or set "
        "source.format in the mapping")


def _read_excel(path: Path, mapping: Mapping) -> pd.DataFrame:
    if importlib.util.find_spec("openpyxl") is None:
        raise LogReadError(
            f"{path}: reading Excel needs the openpyxl package "
            "(pip install openpyxl==3.1.5)")
    return pd.read_excel(path, sheet_name=mapping.source.sheet, dtype=object)


def _read_csv(path: Path, mapping: Mapping) -> Table:
    """Every record as text, with the line it starts on; ragged rows rejected."""
    text = _text(path, mapping.source.encoding)
    delimiter = mapping.source.delimiter
    if delimiter == "auto":
        delimiter = _sniffed_delimiter(text)

    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise LogReadError(f"{path}: empty file; expected a header line") from None
    header = [name.strip() for name in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise LogReadError(
            f"{path}: header repeats column name(s) {repeated}; expected each "
            "column once")

    rows, lines, ragged = [], [], []
    start = reader.line_num + 1
    try:
        for record in reader:
            if len(record) == len(header):
                rows.append(record)
                lines.append(start)
            else:
                ragged.append((start, len(record), delimiter.join(record)))
            start = reader.line_num + 1
    except csv.Error as error:
        raise LogReadError(f"{path}: line {start}: not valid CSV ({error})") from None

    cells = pd.DataFrame(rows, columns=header, dtype=object)
    cells = cells.astype(pd.StringDtype("pyarrow"))
    for name in cells.columns:
        cells[name] = cells[name].str.strip()
    return Table(path, cells, np.array(lines, dtype="int64"),
                  _ragged_rejections(ragged, len(header)))


def _ragged_rejections(
    ragged: list[tuple[int, int, str]], width: int
) -> list[pd.DataFrame]:
    if not ragged:
        return []
    return [pd.DataFrame({
        "position": pd.array([pd.NA] * len(ragged), dtype="Int64"),
        "line": [line for line, _, _ in ragged],
        "reason": ["empty row" if n == 0 else "wrong number of fields"
                   for _, n, _ in ragged],
        "column": "(row)",
        "value": [text[:80] for _, _, text in ragged],
        "expected": f"{width} fields",
    })]


def _text(path: Path, encoding: str) -> str:
    """The file's text, decompressed by suffix; a UTF-8 byte-order mark dropped."""
    openers = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
    opener = openers.get(path.suffix.lower(), open)
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
        return data.decode(encoding)
    except UnicodeDecodeError as error:
        raise LogReadError(
            f"{path}: byte {error.start} is not {encoding} text; set "
            "source.encoding in the mapping (e.g. cp1252)") from None
    except (OSError, EOFError, lzma.LZMAError) as error:
        raise LogReadError(f"{path}: cannot read the file ({error})") from None


def _sniffed_delimiter(text: str) -> str:
    """The candidate delimiter that occurs most in the header line (ties: comma)."""
    header = text.split("\n", 1)[0]
    counts = [(header.count(d), -i, d) for i, d in enumerate(DELIMITERS)]
    return max(counts)[2]
