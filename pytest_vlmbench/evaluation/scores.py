"""Classification metrics over a dataset's classes, computed with scikit-learn.

An invalid answer (``None``) counts as wrong: it lowers accuracy and the recall of the
true class, but is never credited to any class's precision. The confusion matrix has an
extra ``invalid`` column so those answers stay visible.

Macro and weighted averages are over the classes with at least one evaluated item
(``labels=present``): a class with no item in the run (under ``--limit``, say) has no recall
to average, so it is left out, and the record names it in ``metrics.classes_without_items``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..record import ClassScores, Confusion, Metrics

INVALID_LABEL = "invalid"
_SENTINEL = "\x00invalid"  # cannot collide with a real class name


def _plain(x: float) -> float:
    value = float(x)
    return 0.0 if math.isnan(value) else value


@dataclass(frozen=True)
class Report:
    """The record's quality parts: overall metrics, one row per class, the confusion matrix."""

    metrics: Metrics
    per_class: Mapping[str, ClassScores]
    """By class, in the dataset's class order."""
    confusion: Confusion


def classification_report(y_true: Sequence[str], y_pred: Sequence[str | None], classes: Sequence[str]) -> Report:
    """The ``metrics``, ``per_class`` and ``confusion`` parts of a record, as plain Python numbers."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(classes)
    pred = [_SENTINEL if p is None else p for p in y_pred]
    true = list(y_true)
    n = len(true)
    seen = set(true)
    present = [c for c in labels if c in seen]
    metrics: dict[str, float] = {"accuracy": _plain(accuracy_score(true, pred)) if n else 0.0}
    for average in ("macro", "weighted"):
        p, r, f = 0.0, 0.0, 0.0  # no class has an item: nothing to average
        if present:
            p, r, f, _ = precision_recall_fscore_support(true, pred, labels=present, average=average, zero_division=0)
        metrics[f"{average}_precision"] = _plain(p)
        metrics[f"{average}_recall"] = _plain(r)
        metrics[f"{average}_f1"] = _plain(f)
    metrics["invalid_rate"] = (sum(p is None for p in y_pred) / n) if n else 0.0
    absent = tuple(c for c in labels if c not in present)

    per_class = {cls: ClassScores(0.0, 0.0, 0.0, 0) for cls in labels}  # no items: nothing scored
    if n:
        p, r, f, s = precision_recall_fscore_support(true, pred, labels=labels, average=None, zero_division=0)
        per_class = {
            cls: ClassScores(_plain(p[i]), _plain(r[i]), _plain(f[i]), int(s[i])) for i, cls in enumerate(labels)
        }
    matrix = confusion_matrix(true, pred, labels=[*labels, _SENTINEL]) if n else None
    confusion = Confusion(
        rows=tuple(labels),
        columns=(*labels, INVALID_LABEL),
        # The last row (true label "invalid") is always zero and is dropped.
        matrix=tuple(tuple(int(v) for v in row) for row in matrix[:-1]) if matrix is not None else (),
    )
    return Report(Metrics(**metrics, classes_without_items=absent), per_class, confusion)
