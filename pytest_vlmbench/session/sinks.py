"""Where records go: a store of the session's finished items and the JSON file written from it.

The file has pytest-benchmark's shape (a ``benchmarks`` list whose entries carry the record
in ``extra_info["vlmbench"]``) plus a top-level ``vlmbench`` block, so the gate and
``vlmbench compare`` read ``--vlmbench-json`` files and ``--benchmark-json`` files alike.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..options import RunOptions
from ..record import SCHEMA_VERSION, Record, plain_json
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
    """The records of a session, in the order their items finished."""

    options: RunOptions
    entries: list[StoredRecord] = field(default_factory=list)

    def add(self, record: Record, *, fullname: str, outcome: str = "passed") -> None:
        self.entries.append(StoredRecord(fullname.split("::")[-1], fullname, outcome, record))

    @property
    def records(self) -> list[Record]:
        return [entry.record for entry in self.entries]

    def run_block(self) -> dict[str, Any]:
        """The top-level ``vlmbench`` block: schema, options, loads per model, spread over seeds."""
        return run_block(self.options, self.records)

    def write_json(self, path: Path) -> None:
        """Write every record to ``path`` atomically (a temporary file renamed into place)."""
        payload = {RECORD_KEY: self.run_block(), "benchmarks": [entry.to_json() for entry in self.entries]}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(plain_json(payload), indent=2, allow_nan=False))
        tmp.replace(path)


def run_block(options: RunOptions, records: Sequence[Record]) -> dict[str, Any]:
    """Schema, the run's options, how often each model was loaded (and how long it took), seed spreads."""
    loads: dict[str, dict[str | None, float | None]] = {}
    for record in records:
        loads.setdefault(record.model, {}).setdefault(record.model_load_id, record.throughput.model_load_s)
    return {
        "schema": SCHEMA_VERSION,
        "options": options.as_json(),
        "models": {name: {"loads": len(by_id), "load_s": list(by_id.values())} for name, by_id in loads.items()},
        "seed_spread": [spread.to_json() for spread in seed_spread(records)],
    }
