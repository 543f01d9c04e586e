"""Saved runs: loading pytest-benchmark JSON files and matching their vlmbench records.

Accepted files: anything pytest-benchmark writes (``--benchmark-json``, ``--benchmark-save``,
``--benchmark-autosave``) and the plugin's own ``--vlmbench-json``. A benchmark entry whose
``extra_info`` has no ``vlmbench`` record is not ours and is ignored.

Matching key -- what must be equal for two records to be "the same case":
model, dataset, strategy and the whole ``config`` except

- ``versions``: library versions are what a nightly gate exists to catch changing;
- ``batch_size``: it changes speed and memory, not which answer an item gets. Quality is
  compared across batch sizes; cost metrics are not (see :mod:`.compare`).

Everything else in ``config`` (seed, permutations, prompt template, max_new_tokens, limit,
and keys added later such as ``num_classes``/``per_class_cap``) is part of the key. Node ids
are not: renaming a test or reordering parameters does not lose its baseline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .metrics import GateError

SCHEMA_VERSION = 1
"""The record schema this module reads (``pytest_vlmbench.runner.SCHEMA_VERSION``)."""

KEY_EXCLUDED = ("versions", "batch_size")


def record_key(record: Mapping[str, Any]) -> str:
    """The matching key of a record, as canonical JSON (hashable, stable across runs)."""
    config = {k: v for k, v in (record.get("config") or {}).items() if k not in KEY_EXCLUDED}
    key = {
        "model": record.get("model"),
        "dataset": record.get("dataset"),
        "strategy": record.get("strategy"),
        "config": config,
    }
    return json.dumps(key, sort_keys=True, default=str)


def record_label(record: Mapping[str, Any]) -> str:
    """A short human name for a record's case: ``model dataset strategy``."""
    return f"{record.get('model')} {record.get('dataset')} {record.get('strategy')}"


@dataclass(frozen=True)
class Hardware:
    """What a record was measured on: the device kind and, when recorded, the GPU name."""

    kind: str | None
    """``cpu``, ``cuda``, ``mps`` ... from ``model_info.device``."""
    gpu_name: str | None

    def __str__(self) -> str:
        return self.gpu_name or self.kind or "unknown device"

    def differs(self, other: Hardware) -> bool:
        """True when the two are known to be different hardware (unknown parts never differ)."""
        if self.kind and other.kind and self.kind != other.kind:
            return True
        return bool(self.gpu_name and other.gpu_name and self.gpu_name != other.gpu_name)


def hardware(record: Mapping[str, Any], machine_info: Mapping[str, Any] | None = None) -> Hardware:
    """The hardware a record was measured on.

    pytest-benchmark's machine id ignores the GPU, so the GPU name is read from the record's
    ``memory["gpu_name"]`` (written by the cost meter on CUDA) or ``model_info["gpu_name"]``
    and, failing that, from ``machine_info`` (``gpu_name``/``gpu``).
    """
    info = record.get("model_info") or {}
    gpu = (
        (record.get("memory") or {}).get("gpu_name")
        or info.get("gpu_name")
        or (machine_info or {}).get("gpu_name")
        or (machine_info or {}).get("gpu")
    )
    device = str(info.get("device") or (record.get("memory") or {}).get("device") or "")
    kind = device.split(":")[0] or None
    return Hardware(kind, str(gpu) if gpu and kind != "cpu" else None)


@dataclass(frozen=True)
class Entry:
    """One benchmark entry of a saved run that carries a vlmbench record."""

    name: str
    fullname: str
    record: dict[str, Any]


@dataclass(frozen=True)
class Run:
    """A saved run: its vlmbench records and where they came from."""

    source: str
    """The file path (or storage name) it was read from."""
    entries: list[Entry]
    machine_info: dict[str, Any] = field(default_factory=dict)
    commit_info: dict[str, Any] = field(default_factory=dict)
    datetime: str | None = None
    by_key: dict[str, Entry] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries:  # a later entry with the same key wins
            self.by_key[record_key(entry.record)] = entry

    @property
    def label(self) -> str:
        """Commit id (short) when recorded, else the file name."""
        commit = str(self.commit_info.get("id") or "")
        if commit:
            short = commit[:8] if all(c in "0123456789abcdef" for c in commit.lower()) else commit
            return short + ("+" if self.commit_info.get("dirty") else "")
        return Path(self.source).name

    def find(self, record: Mapping[str, Any]) -> Entry | None:
        """The entry matching ``record``'s key, if this run has one."""
        return self.by_key.get(record_key(record))

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def hardware(self, entry: Entry) -> Hardware:
        return hardware(entry.record, self.machine_info)


def _check_schema(value: Any, source: str) -> None:
    if value != SCHEMA_VERSION:
        raise GateError(
            f"{source} holds vlmbench schema {value!r} results, but this pytest-vlmbench reads schema "
            f"{SCHEMA_VERSION}; re-create the baseline with this version."
        )


def parse_run(data: Any, source: str) -> Run:
    """Validate a decoded JSON document and return its vlmbench records as a :class:`Run`."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise GateError(f"{source} is not a pytest-benchmark JSON file (it has no 'benchmarks' list).")
    meta = data.get("vlmbench")
    if isinstance(meta, dict) and "schema" in meta:
        _check_schema(meta["schema"], source)
    entries = []
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        record = extra.get("vlmbench") if isinstance(extra, dict) else None
        if not isinstance(record, dict):
            continue
        _check_schema(record.get("schema"), source)
        name = str(bench.get("name") or bench.get("fullname") or record_label(record))
        entries.append(Entry(name, str(bench.get("fullname") or name), record))
    if not entries:
        raise GateError(f"{source} holds no vlmbench results (no benchmark has extra_info.vlmbench).")
    machine_info, commit_info = data.get("machine_info"), data.get("commit_info")
    return Run(
        source=source,
        entries=entries,
        machine_info=machine_info if isinstance(machine_info, dict) else {},
        commit_info=commit_info if isinstance(commit_info, dict) else {},
        datetime=str(data["datetime"]) if data.get("datetime") else None,
    )


def _reject_constant(name: str) -> float:
    # Python's json reads NaN/Infinity, which are not JSON; treat them as missing values.
    return math.nan


def load_run(path: str | Path) -> Run:
    """Read and validate a saved run; every problem is a :class:`GateError` with one sentence."""
    path = Path(path)
    if not path.exists():
        raise GateError(f"File {str(path)!r} does not exist.")
    if not path.is_file():
        raise GateError(f"{str(path)!r} is not a file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"File {str(path)!r} cannot be read ({exc.__class__.__name__}).") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GateError(f"{str(path)!r} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
    return parse_run(data, repr(str(path)))
