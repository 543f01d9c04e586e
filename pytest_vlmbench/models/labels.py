"""Matching a classifier's own label names to a dataset's class names.

A fine-tuned head knows its classes through ``config.id2label``. When those are the
dataset's names (compared case-insensitively, ignoring ``_``/``-``/spaces) nothing is
needed; otherwise ``--label-map MODEL_LABEL=CLASS,...`` says which is which. A head
label that maps to no dataset class is never predicted: its score is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


class LabelMismatch(ValueError):
    """None of the model's labels is a dataset class; the message says how to map them."""


def _key(label: str) -> str:
    return re.sub(r"[\s_\-]+", " ", label).strip().lower()


def map_labels(
    id2label: Mapping[int, str], classes: Sequence[str], label_map: Mapping[str, str] | None = None, model: str = "model"
) -> dict[int, str]:
    """``head index -> dataset class`` for every head label that names (or is mapped to) a class."""
    by_key = {_key(c): c for c in classes}
    explicit = {_key(k): v for k, v in (label_map or {}).items()}
    unknown = [v for v in explicit.values() if _key(v) not in by_key]
    if unknown:
        raise LabelMismatch(f"--label-map maps to {unknown}, which are not classes of the dataset {list(classes)}.")
    out: dict[int, str] = {}
    for index, label in id2label.items():
        target = explicit.get(_key(label), label)
        cls = by_key.get(_key(target))
        if cls is not None:
            out[int(index)] = cls
    if not out:
        raise LabelMismatch(
            f"{model}'s labels {sorted(set(id2label.values()))} match none of the dataset's classes {list(classes)}; "
            f"pass --label-map MODEL_LABEL=CLASS,... (or fine-tune the head on these classes)."
        )
    return out
