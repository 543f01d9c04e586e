"""Plain JSON in and out for the typed record: conversion to JSON types, and a reader whose
errors name the field that is wrong (``'throughput.items_per_s' should be a number``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any


class RecordError(ValueError):
    """A record that cannot be read; the message is one user-facing sentence."""


OMIT_IF_NONE = {"omit_if_none": True}
"""Field metadata: leave the key out of the JSON when the value is ``None``."""
FLATTEN = {"flatten": True}
"""Field metadata: a mapping whose keys are written beside the dataclass's own keys."""


def plain_json(value: Any) -> Any:
    """Convert to plain JSON types: numpy/torch scalars to Python, NaN/inf to None, tuples to lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return dump_dataclass(value)
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalar
        return plain_json(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def dump_dataclass(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None and f.metadata.get("omit_if_none"):
            continue
        if f.metadata.get("flatten"):
            out.update(plain_json(value))
        else:
            out[f.name] = plain_json(value)
    return out


class Reader:
    """Typed access to one JSON object, with errors that name the field's path."""

    def __init__(self, data: Any, where: str, path: str = "") -> None:
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: {path or 'the record'} is {type(data).__name__}, not a JSON object.")
        self.data: Mapping[str, Any] = data
        self.where = where
        self.path = path

    def _name(self, key: str) -> str:
        return f"'{self.path}.{key}'" if self.path else f"'{key}'"

    def _fail(self, key: str, want: str) -> RecordError:
        if key not in self.data:
            return RecordError(f"{self.where}: {self._name(key)} is missing.")
        return RecordError(f"{self.where}: {self._name(key)} should be {want}, not {self.data[key]!r:.60}.")

    def obj(self, key: str) -> Reader:
        if key not in self.data:
            raise self._fail(key, "an object")
        return Reader(self.data[key], self.where, f"{self.path}.{key}" if self.path else key)

    def opt_obj(self, key: str) -> Reader | None:
        return None if self.data.get(key) is None else self.obj(key)

    def num(self, key: str) -> float:
        value = self.data.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, "a number")
        return float(value)

    def opt_num(self, key: str) -> float | None:
        return None if self.data.get(key) is None else self.num(key)

    def whole(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "a whole number")
        return value

    def opt_whole(self, key: str) -> int | None:
        return None if self.data.get(key) is None else self.whole(key)

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.text(key)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key, {})
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._fail(key, "an object")
        return dict(value)

    def array(self, key: str) -> list[Any]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        if not all(isinstance(v, str) for v in values):
            raise self._fail(key, "a list of strings")
        return tuple(values)
