"""Saved runs: loading pytest-benchmark JSON files and matching their vlmbench records.

Accepted files: anything pytest-benchmark writes (``--benchmark-json``, ``--benchmark-save``,
``--benchmark-autosave``) and the plugin's own ``--vlmbench-json``. A benchmark entry whose
``extra_info`` has no ``vlmbench`` record is not ours and is ignored.

Each record is read with :meth:`Record.from_json <pytest_vlmbench.record.Record.from_json>`;
its one-sentence :class:`~pytest_vlmbench.record.RecordError` becomes a :class:`GateError`.

Matching key -- what must be equal for two records to be "the same case": the record's
:meth:`~pytest_vlmbench.record.Record.match_key`, i.e. model, dataset, strategy and the
whole ``config`` except :attr:`RecordConfig.NOT_IN_KEY <pytest_vlmbench.record.RecordConfig.NOT_IN_KEY>`:

- ``versions``: library versions are what a nightly gate exists to catch changing;
- ``batch_size``: it changes speed and memory, not which answer an item gets. Quality is
  compared across batch sizes; cost metrics are not (see :mod:`.compare`).

Everything else in ``config`` (seed, permutations, prompt template, max_new_tokens, limit,
``num_classes``, ``per_class``, and keys added later) is part of the key. Node ids are not:
renaming a test or reordering parameters does not lose its baseline.

Each record's quality metrics are recomputed from its ``predictions`` and ``classes`` when it
is read (:func:`check_metrics`): a saved number that its predictions do not give (a
hand-edited or corrupt file) refuses the file, since the gate would otherwise compare with
a value no run produced. A record written before ``metrics.classes_without_items`` existed,
whose macro averages count classes without items as 0, is accepted when its values match
that older definition, and is read with the macro averages of today's definition, so that
both sides of a comparison mean the same thing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..journal import read_journal
from ..record import Label, Record, RecordError, check_schema
from ..tasks import task_named
from ..tasks.metrics import QUALITY_METRICS, legacy_macro
from .metrics import GateError

TOLERANCE = 1e-9
"""How far a saved metric may be from the value its predictions give (float rounding only)."""


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


def hardware(record: Record, machine_info: Mapping[str, Any] | None = None) -> Hardware:
    """The hardware a record was measured on.

    pytest-benchmark's machine id ignores the GPU, so the GPU name is the record's
    :attr:`~pytest_vlmbench.record.Record.gpu_name` (``memory.gpu_name``, written by the cost
    meter on CUDA, or ``model_info.gpu_name``) and, failing that, ``machine_info``'s
    ``gpu_name``/``gpu``.
    """
    gpu = record.gpu_name or (machine_info or {}).get("gpu_name") or (machine_info or {}).get("gpu")
    kind = record.device.split(":")[0] or None
    return Hardware(kind, str(gpu) if gpu and kind != "cpu" else None)


@dataclass(frozen=True)
class SavedRecord:
    """One benchmark entry of a saved run that carries a vlmbench record."""

    name: str
    """The test's name (``test_x[model-dataset-strategy]``)."""
    fullname: str
    """Its node id."""
    record: Record


@dataclass(frozen=True)
class Run:
    """A saved run: its vlmbench records and where they came from."""

    source: str
    """The file path (or storage name) it was read from."""
    entries: list[SavedRecord]
    machine_info: dict[str, Any] = field(default_factory=dict)
    commit_info: dict[str, Any] = field(default_factory=dict)
    datetime: str | None = None
    by_key: dict[str, SavedRecord] = field(default_factory=dict, compare=False, repr=False)
    """Entries by :meth:`Record.match_key <pytest_vlmbench.record.Record.match_key>`."""

    def __post_init__(self) -> None:
        for entry in self.entries:  # a later entry with the same key wins
            self.by_key[entry.record.match_key()] = entry

    @property
    def label(self) -> str:
        """Commit id (short) when recorded, else the file name."""
        commit = str(self.commit_info.get("id") or "")
        if commit:
            short = commit[:8] if all(c in "0123456789abcdef" for c in commit.lower()) else commit
            return short + ("+" if self.commit_info.get("dirty") else "")
        return Path(self.source.strip("'\"")).name  # the source is quoted for messages

    def find(self, record: Record) -> SavedRecord | None:
        """The entry matching ``record``'s key, if this run has one."""
        return self.by_key.get(record.match_key())

    def __iter__(self) -> Iterator[SavedRecord]:
        return iter(self.entries)

    def hardware(self, entry: SavedRecord) -> Hardware:
        return hardware(entry.record, self.machine_info)


def _pair(have: float, want: float) -> tuple[str, str]:
    """The two numbers, with as many digits as it takes to tell them apart."""
    for digits in (6, 9, 12, 17):
        a, b = f"{have:.{digits}g}", f"{want:.{digits}g}"
        if a != b:
            break
    return a, b


def check_metrics(record: Record, where: str) -> Record:
    """``record`` when its quality metrics are the ones its predictions give, else :class:`GateError`.

    ``where`` names the file and the case in the message. A record of an older version
    (macro averages over every class, no ``classes_without_items``) comes back with today's
    macro averages; see the module docstring.
    """
    redo = "the file was edited or is corrupt, so re-create it"
    predictions = record.predictions
    if len(predictions) != record.n_items:
        if not predictions:
            raise GateError(f"{where}: it has no predictions for its {record.n_items} items, so its metrics cannot be checked; {redo}.")
        raise GateError(f"{where}: n_items is {record.n_items} but it holds {len(predictions)} predictions; {redo}.")
    labels, answers = [p.label for p in predictions], [p.prediction for p in predictions]
    values = task_named(record.task).score(labels, answers, record.classes).metrics  # as the run scored them
    absent = values.classes_without_items
    saved = record.metrics
    older = bool(absent) and not saved.classes_without_items  # possibly written before the field existed
    for name in QUALITY_METRICS:
        have, want = float(getattr(saved, name)), float(getattr(values, name))
        if abs(have - want) <= TOLERANCE:
            continue
        if older and name.startswith("macro_") and abs(have - _legacy_macro(name, labels, answers, record.classes)) <= TOLERANCE:
            continue
        shown, given = _pair(have, want)
        raise GateError(f"{where}: metrics.{name} is {shown} but its predictions give {given}; {redo}.")
    if saved.classes_without_items and saved.classes_without_items != absent:
        raise GateError(
            f"{where}: metrics.classes_without_items is {list(saved.classes_without_items)} but its predictions "
            f"give {list(absent)}; {redo}."
        )
    if older:
        return replace(record, metrics=values)
    return record


def _legacy_macro(metric: str, labels: Sequence[Label], answers: Sequence[Label | None], classes: Sequence[str]) -> float:
    """:func:`~pytest_vlmbench.tasks.metrics.legacy_macro` of a classification record (the only kind with classes without items)."""
    return legacy_macro(metric, [str(x) for x in labels], [None if a is None else str(a) for a in answers], classes)


def parse_run(data: Any, source: str) -> Run:
    """Validate a decoded JSON document and return its vlmbench records as a :class:`Run`."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise GateError(f"{source} is not a pytest-benchmark JSON file (it has no 'benchmarks' list).")
    meta = data.get("vlmbench")
    entries = []
    try:
        if isinstance(meta, dict) and "schema" in meta:
            check_schema(meta["schema"], source)
        for bench in data["benchmarks"]:
            extra = bench.get("extra_info") if isinstance(bench, dict) else None
            raw = extra.get("vlmbench") if isinstance(extra, dict) else None
            if not isinstance(raw, dict):
                continue
            check_schema(raw.get("schema"), source)  # said once for the file, not per entry
            given = str(bench.get("name") or bench.get("fullname") or "")
            record = Record.from_json(raw, f"{source} ({given})" if given else source)
            record = check_metrics(record, f"{source} ({record.label})")
            name = given or record.label
            entries.append(SavedRecord(name, str(bench.get("fullname") or name), record))
    except RecordError as exc:
        raise GateError(str(exc)) from None
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
    if path.suffix == ".jsonl":  # the journal of a run, finished or killed
        try:
            document = read_journal(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise GateError(f"File {str(path)!r} cannot be read ({exc.__class__.__name__}).") from None
        except ValueError as exc:  # not a journal, or a damaged one: its sentence says which
            raise GateError(str(exc)) from None
        return parse_run(document, repr(str(path)))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"File {str(path)!r} cannot be read ({exc.__class__.__name__}).") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise GateError(f"{str(path)!r} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).") from None
    return parse_run(data, repr(str(path)))
