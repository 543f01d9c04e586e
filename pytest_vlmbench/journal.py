"""The journal: one JSON line per finished item, written the moment the item finishes.

It is what survives a run that is killed (SIGKILL, an out-of-memory kill, a preempted
cloud GPU): every line holds one whole benchmark entry (test names, outcome, record), is
flushed and fsync'ed before the next item starts, and a line cut short by the kill is
skipped on reading. ``vlmbench compare``, ``vlmbench diff`` and ``--vlmbench-baseline``
read a journal like a finished run's JSON.

Layout (JSON Lines)::

    {"vlmbench_journal": 1, "started": "...", "options": {...}}       <- header
    {"name": ..., "fullname": ..., "outcome": ..., "extra_info": {"vlmbench": RECORD}}
    ...
    {"vlmbench_journal_end": "complete" | "interrupted" | "failed"}  <- only when the run ended
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from .record import SCHEMA_VERSION
from .secrets import redact_json

JOURNAL_VERSION = 1


def journal_path(json_path: Path) -> Path:
    """Where the journal of ``json_path`` goes: beside it, ``.jsonl`` for ``.json``."""
    return json_path.with_suffix(".jsonl") if json_path.suffix == ".json" else json_path.with_name(json_path.name + ".jsonl")


class Journal:
    """An open journal; :meth:`append` returns only once the line is on disk."""

    def __init__(self, path: Path, options: Mapping[str, Any]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = path.open("w", encoding="utf-8")
        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self._write({"vlmbench_journal": JOURNAL_VERSION, "schema": SCHEMA_VERSION, "started": started, "options": dict(options)})

    def _write(self, obj: Mapping[str, Any]) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps(redact_json(obj), allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, entry: Mapping[str, Any]) -> None:
        self._write(entry)

    def close(self, status: str) -> None:
        """Mark how the run ended and close the file."""
        self._write({"vlmbench_journal_end": status})
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_journal(path: Path) -> dict[str, Any]:
    """A journal as a pytest-benchmark-shaped document (``benchmarks`` + a ``vlmbench`` block).

    Raises ``ValueError`` with one sentence when the file is not a journal; a last line cut
    short by a kill is left out (it is the item that was being written).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    header: dict[str, Any] = {}
    entries: list[dict[str, Any]] = []
    status = "running or killed"
    for number, line in enumerate(lines, 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # the line being written when the run was killed
            raise ValueError(f"{str(path)!r} line {number} is not JSON; the journal is damaged.") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{str(path)!r} line {number} is not a JSON object; is this a vlmbench journal?")
        if number == 1:
            if "vlmbench_journal" not in obj:
                raise ValueError(f"{str(path)!r} does not start with a vlmbench journal header.")
            header = obj
        elif "vlmbench_journal_end" in obj:
            status = str(obj["vlmbench_journal_end"])
        else:
            entries.append(obj)
    block = {"schema": header.get("schema", SCHEMA_VERSION), "options": header.get("options", {}), "status": status}
    return {"vlmbench": block, "benchmarks": entries, "datetime": header.get("started")}
