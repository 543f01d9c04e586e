"""What a local path holds, told without loading it: so the planner pairs it only with models that can read it.

- a class folder: images or ``.txt`` files, from its listing (as :func:`.files.load_folder` decides);
- a CSV/TSV/JSON Lines table: its header and first records, typed as pandas and pyarrow
  would type them, then the loaders' own column detection (:func:`.columns.resolve_kinds`);
- a Parquet file: its schema (the ``datasets`` features stored in it when it has them);
- a ``save_to_disk`` folder: the features in its ``dataset_info.json``.

Anything undecidable (an unreadable file, columns detection cannot settle) is ``None``:
the path then meets every model, and loading it says what is wrong.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import Modality
from .columns import Columns, Kind, resolve_kinds
from .files import folder_modality
from .hf import is_saved_dataset
from .tables import TABLE_SUFFIXES, csv_records, jsonl_records

SAMPLE_ROWS = 100
"""How many records of a CSV/JSON Lines file are read to type its columns."""

Sampled = dict[str, Kind | None]
"""Column kinds read from a sample; ``None``: every sampled cell was empty, so the kind is unknown."""


_CACHE: dict[tuple[str, int, Columns], Modality | None] = {}
"""(path, its modification time, columns) -> modality: the planner asks once per model and suite,
and listing a 30k-image folder takes a fraction of a second (as in :func:`.resolve.load_base`,
a path's modification time is part of the key)."""


def path_modality(path: Path, columns: Columns = Columns()) -> Modality | None:
    """The modality of the dataset at ``path`` (with ``columns`` as given by the options), or ``None``."""
    try:
        key = (str(path.resolve()), path.stat().st_mtime_ns, columns)
    except OSError:
        return None
    if key not in _CACHE:
        if len(_CACHE) >= 64:
            _CACHE.clear()
        _CACHE[key] = _path_modality(path, columns)
    return _CACHE[key]


def _path_modality(path: Path, columns: Columns) -> Modality | None:
    try:
        if path.is_dir():
            if is_saved_dataset(path):
                return _modality(saved_kinds(path), columns)
            return folder_modality(path)
        if path.suffix.lower() in TABLE_SUFFIXES:
            return _modality(table_kinds(path), columns)
    except (OSError, ValueError, csv.Error):  # loading will say what is wrong, in one sentence
        return None
    return None


def _modality(kinds: Sampled | None, columns: Columns) -> Modality | None:
    """The modality column detection gives, when it is the same whatever the unknown kinds are."""
    if not kinds:
        return None
    found = set()
    for unknown in ("string", "other"):
        settled: dict[str, Kind] = {c: unknown if k is None else k for c, k in kinds.items()}
        found.add(resolve_kinds(settled, columns, "peek").modality)
    return found.pop() if len(found) == 1 else None


def table_kinds(path: Path) -> Sampled | None:
    builder = TABLE_SUFFIXES[path.suffix.lower()]
    if builder == "parquet":
        return parquet_kinds(path)
    if builder == "csv":
        header, rows = csv_records(path, SAMPLE_ROWS)
        return {c: _cells_kind([r[i] for r in rows if i < len(r)]) for i, c in enumerate(header)}
    if path.suffix.lower() == ".json" and _first_char(path) == "[":
        return None  # one JSON document: typing it means reading all of it
    records = jsonl_records(path, SAMPLE_ROWS)
    names = list(dict.fromkeys(k for r in records for k in r))
    return {c: _values_kind([r.get(c) for r in records]) for c in names}


def _first_char(path: Path) -> str:
    with open(path, "rb") as fh:
        return fh.read(256).lstrip()[:1].decode("ascii", errors="replace")


def _cells_kind(cells: list[str]) -> Kind | None:
    """A CSV column as pandas types it: numbers and booleans are not strings; empty cells are nulls."""
    values = [c.strip() for c in cells if c.strip()]
    if not values:
        return None
    return "other" if all(_is_number(v) or v.lower() in ("true", "false") for v in values) else "string"


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _values_kind(values: list[Any]) -> Kind | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return "string" if all(isinstance(v, str) for v in present) else "other"


def parquet_kinds(path: Path) -> Sampled | None:
    """The schema's kinds: from the ``datasets`` features stored in it, else from the Arrow types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    stored = (schema.metadata or {}).get(b"huggingface")
    if stored:
        features = json.loads(stored).get("info", {}).get("features")
        if isinstance(features, dict):
            return features_kinds(features)
    strings = (pa.types.is_string, pa.types.is_large_string)
    return {f.name: "string" if any(t(f.type) for t in strings) else "other" for f in schema}


def saved_kinds(path: Path) -> Sampled | None:
    """A ``save_to_disk`` folder's features (of its first split, for a ``DatasetDict``)."""
    dict_file = path / "dataset_dict.json"
    if dict_file.is_file():
        splits = json.loads(dict_file.read_text()).get("splits") or []
        if not splits:
            return None
        path = path / str(splits[0])
    features = json.loads((path / "dataset_info.json").read_text()).get("features")
    return features_kinds(features) if isinstance(features, dict) else None


def features_kinds(features: Mapping[str, Any]) -> Sampled:
    """Kinds of ``datasets`` features as serialised (``{"_type": "ClassLabel", ...}``)."""
    return {name: _serialised_kind(f) for name, f in features.items()}


def _serialised_kind(feature: Any) -> Kind:
    if not isinstance(feature, dict):
        return "other"  # a list: a Sequence feature
    kind = feature.get("_type")
    if kind == "ClassLabel":
        return "class_label"
    if kind == "Image":
        return "image"
    if kind == "Value" and feature.get("dtype") in ("string", "large_string"):
        return "string"
    return "other"
