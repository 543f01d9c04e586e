"""Table files read with the standard library: their first records, and where a broken one breaks.

The ``datasets`` builders load the tables (:func:`.files.load_table`). This module serves
the two things they do badly: telling a table's columns before it is loaded (the first
records are enough, see :mod:`.peek`), and saying in one sentence which line of a CSV,
TSV or JSON Lines file their parser choked on.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
"""Table file suffixes and the ``datasets`` builder that reads each."""


def delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line, decoded as UTF-8 (a byte-order mark dropped);
    an undecodable line raises :class:`_NotUtf8`, which names it."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise _NotUtf8(number, exc) from None


class _NotUtf8(ValueError):
    """A line that is not UTF-8, with its number and the first bad byte."""

    def __init__(self, line: int, exc: UnicodeDecodeError) -> None:
        super().__init__(f"line {line} is not UTF-8 (byte {exc.object[exc.start]:#04x} at column {exc.start + 1})")


def csv_records(path: Path, limit: int) -> tuple[list[str], list[list[str]]]:
    """The header and up to ``limit`` data rows of a CSV/TSV file (blank lines skipped, as pandas does)."""
    reader = csv.reader((text for _, text in _lines(path)), delimiter=delimiter(path))
    rows: list[list[str]] = []
    for row in reader:
        if row:
            rows.append(row)
        if len(rows) > limit:
            break
    return (rows[0], rows[1:]) if rows else ([], [])


def jsonl_records(path: Path, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` records of a JSON Lines file (a record that is not an object raises ``ValueError``)."""
    records: list[dict[str, Any]] = []
    for _, text in _lines(path):
        if not text.strip():
            continue
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError("a line is not a JSON object")
        records.append(record)
        if len(records) >= limit:
            break
    return records


def parse_error(path: Path) -> str | None:
    """Where a CSV/TSV/JSON Lines file is broken, as a clause (``line 4 has 3 fields where the
    header has 2``), read with the standard library; ``None`` when it finds nothing wrong."""
    try:
        if TABLE_SUFFIXES.get(path.suffix.lower()) == "csv":
            return _csv_error(path)
        if TABLE_SUFFIXES.get(path.suffix.lower()) == "json":
            return _json_error(path)
    except _NotUtf8 as exc:
        return str(exc)
    except OSError:  # the caller reports the parser's own reason
        return None
    return None


def _csv_error(path: Path) -> str | None:
    reader = csv.reader((text for _, text in _lines(path)), delimiter=delimiter(path))
    width = None
    try:
        for row in reader:
            if not row:
                continue
            if width is None:
                width = len(row)
            elif len(row) > width:
                # pandas refuses a row with more fields than the header (fewer are filled with nulls).
                return f"line {reader.line_num} has {len(row)} fields where the header has {width}"
    except csv.Error as exc:
        return f"line {reader.line_num}: {exc}"
    return None


def _json_error(path: Path) -> str | None:
    if path.suffix.lower() == ".json":
        text = "".join(t for _, t in _lines(path))
        if text.lstrip().startswith("["):  # one JSON document, not JSON Lines
            try:
                json.load(io.StringIO(text))
            except json.JSONDecodeError as exc:
                return f"line {exc.lineno} is not valid JSON ({exc.msg} at column {exc.colno})"
            return None
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            return f"line {number} is not valid JSON ({exc.msg} at column {exc.colno})"
        if not isinstance(record, dict):
            return f"line {number} is a JSON {type(record).__name__}, not an object with one field per column"
    return None


def has_rows(path: Path) -> bool:
    """Whether a table has at least one data row, read cheaply (an empty file makes the
    ``datasets`` builders fail with a message about splits, not about the file)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return bool(pq.ParquetFile(path).metadata.num_rows)
    header_lines = 1 if suffix in (".csv", ".tsv") else 0
    with open(path, "rb") as fh:
        non_blank = 0
        for line in fh:
            non_blank += bool(line.strip())
            if non_blank > header_lines:
                return True
    return False
