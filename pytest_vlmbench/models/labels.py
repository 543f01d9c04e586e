"""Matching a classifier's own label names to a dataset's class names.

A fine-tuned head knows its classes through ``config.id2label``. When those are the
dataset's names (compared case-insensitively, ignoring ``_``/``-``/spaces) nothing is
needed; otherwise ``--label-map MODEL_LABEL=CLASS,...`` says which is which. A head
label that maps to no dataset class is never predicted: its score is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


class ModelInputError(ValueError):
    """The model cannot serve this dataset as configured (e.g. a ``--label-map`` naming no class of
    it); the message is one sentence saying what to change. The session reports it as the
    item's failure and goes on."""


class LabelMismatch(ModelInputError):
    """The model's labels (as ``--label-map`` maps them) do not match the dataset's classes."""


def _key(label: str) -> str:
    return re.sub(r"[\s_\-]+", " ", label).strip().lower()


def _listed(values: Sequence[str]) -> str:
    return ", ".join(repr(v) for v in values)


def map_labels(
    id2label: Mapping[int, str], classes: Sequence[str], label_map: Mapping[str, str] | None = None, model: str = "model"
) -> dict[int, str]:
    """``head index -> dataset class`` for every head label that names (or is mapped to) a class.

    Raises :class:`LabelMismatch` (one sentence) when ``label_map`` maps to something that is
    not a class, or from a label the model does not have, or when no label ends up on a class.
    """
    by_key = {_key(c): c for c in classes}
    labels = sorted(set(id2label.values()), key=str)
    bad = {source: target for source, target in (label_map or {}).items() if _key(target) not in by_key}
    if bad:
        raise LabelMismatch(
            f"--label-map targets {list(bad.values())} are not classes of the dataset, whose classes are "
            f"{_listed(classes)}; map {', '.join(bad)} to one of those."
        )
    for source, target in (label_map or {}).items():
        if _key(source) not in {_key(str(v)) for v in labels}:
            raise LabelMismatch(
                f"--label-map {source}={target} maps {source!r}, which is not a label of {model}; "
                f"its labels are {_listed(labels)}."
            )
    explicit = {_key(k): v for k, v in (label_map or {}).items()}
    out: dict[int, str] = {}
    for index, label in id2label.items():
        target = explicit.get(_key(label), label)
        cls = by_key.get(_key(target))
        if cls is not None:
            out[int(index)] = cls
    if not out:
        raise LabelMismatch(
            f"{model}'s labels {labels} match none of the dataset's classes {list(classes)}; "
            f"pass --label-map MODEL_LABEL=CLASS,MODEL_LABEL=CLASS or fine-tune the head on these classes."
        )
    return out
