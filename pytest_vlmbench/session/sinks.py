"""Where records go: a store of the session's finished items and the JSON file written from it.

The file has pytest-benchmark's shape (a ``benchmarks`` list whose entries carry the record
in ``extra_info["vlmbench"]``) plus a top-level ``vlmbench`` block, so the gate and
``vlmbench compare`` read ``--vlmbench-json`` files and ``--benchmark-json`` files alike.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..journal import Journal
from ..options import OptionError, RunOptions
from ..record import SCHEMA_VERSION, Record, plain_json
from ..secrets import redact_json
from .summary import seed_spread

RECORD_KEY = "vlmbench"
"""Key of the record in ``benchmark.extra_info``, in test reports and in the JSON."""


@dataclass(frozen=True)
class StoredRecord:
    """One finished item: its test names, outcome and record."""

    name: str
    fullname: str
    outcome: str
    record: Record

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fullname": self.fullname,
            "outcome": self.outcome,
            "extra_info": {RECORD_KEY: self.record.to_json()},
        }


@dataclass
class RecordStore:
    """The records of a session, in the order their items finished; each one journaled at once."""

    options: RunOptions
    entries: list[StoredRecord] = field(default_factory=list)
    journal: Journal | None = None
    """Where each finished item is written the moment it finishes (see :mod:`pytest_vlmbench.journal`)."""
    status: str = "running"
    """``running``, then ``complete`` or ``interrupted``: written into the JSON's ``vlmbench`` block."""

    def add(self, record: Record, *, fullname: str, outcome: str = "passed") -> None:
        entry = StoredRecord(fullname.split("::")[-1], fullname, outcome, record)
        self.entries.append(entry)
        if self.journal is not None:
            self.journal.append(plain_json(entry.to_json()))

    def finish(self, status: str) -> None:
        self.status = status
        if self.journal is not None:
            self.journal.close(status)

    @property
    def records(self) -> list[Record]:
        return [entry.record for entry in self.entries]

    def run_block(self) -> dict[str, Any]:
        """The top-level ``vlmbench`` block: schema, options, loads per model, spread over seeds."""
        return run_block(self.options, self.records, self.status)

    def write_json(self, path: Path) -> None:
        """Write every record to ``path`` atomically (a temporary file renamed into place)."""
        payload = {RECORD_KEY: self.run_block(), "benchmarks": [entry.to_json() for entry in self.entries]}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(redact_json(plain_json(payload)), indent=2, allow_nan=False))
        tmp.replace(path)


def run_block(options: RunOptions, records: Sequence[Record], status: str = "complete") -> dict[str, Any]:
    """Schema, status, the run's options, each model's loads (where and how long), seed spreads."""
    loads: dict[str, dict[str | None, float | None]] = {}
    for record in records:
        loads.setdefault(record.model, {}).setdefault(record.model_load_id, record.throughput.model_load_s)
    return {
        "schema": SCHEMA_VERSION,
        "status": status,
        "options": options.as_json(),
        "models": {
            name: {"loads": len(by_id), "load_s": list(by_id.values()), "workers": load_workers(by_id)}
            for name, by_id in loads.items()
        },
        "seed_spread": [spread.to_json() for spread in seed_spread(records)],
    }


def load_workers(load_ids: Sequence[str | None] | dict[str | None, Any]) -> list[str]:
    """The processes that loaded a model: ``main`` or the xdist worker (``gw0`` ...), from the load ids."""
    return sorted({str(load_id).split("-", 1)[0] for load_id in load_ids if load_id})


def writable_output(value: str | os.PathLike[str], flag: str) -> Path:
    """Check, before anything runs, that ``value`` can be written as a file; one sentence if not."""
    path = Path(value).expanduser()
    if path.is_dir():
        raise OptionError(f"{flag} {value} is a folder; give a file path, such as {path / 'vlmbench.json'}.")
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OptionError(f"{flag} {value} cannot be created: {existing} is a file, not a folder.")
    target = path if path.exists() else existing
    if not os.access(target, os.W_OK):
        raise OptionError(f"{flag} {value} cannot be written: {target} is not writable; choose another path.")
    return path
