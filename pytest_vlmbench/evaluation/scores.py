"""Classification metrics over a dataset's classes, computed with scikit-learn.

An invalid answer (``None``) counts as wrong: it lowers accuracy and the recall of the
true class, but is never credited to any class's precision. The confusion matrix has an
extra ``invalid`` column so those answers stay visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

INVALID_LABEL = "invalid"
_SENTINEL = "\x00invalid"  # cannot collide with a real class name


def _plain(x: float) -> float:
    value = float(x)
    return 0.0 if math.isnan(value) else value


def classification_report(
    y_true: Sequence[str], y_pred: Sequence[str | None], classes: Sequence[str]
) -> dict[str, Any]:
    """``metrics``, ``per_class`` and ``confusion`` blocks as plain JSON values."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(classes)
    pred = [_SENTINEL if p is None else p for p in y_pred]
    true = list(y_true)
    n = len(true)
    metrics: dict[str, float] = {"accuracy": _plain(accuracy_score(true, pred)) if n else 0.0}
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(true, pred, labels=labels, average=average, zero_division=0)
        metrics[f"{average}_precision"] = _plain(p)
        metrics[f"{average}_recall"] = _plain(r)
        metrics[f"{average}_f1"] = _plain(f)
    metrics["invalid_rate"] = (sum(p is None for p in y_pred) / n) if n else 0.0

    p, r, f, s = precision_recall_fscore_support(true, pred, labels=labels, average=None, zero_division=0)
    per_class = {
        cls: {"precision": _plain(p[i]), "recall": _plain(r[i]), "f1": _plain(f[i]), "support": int(s[i])}
        for i, cls in enumerate(labels)
    }
    matrix = confusion_matrix(true, pred, labels=[*labels, _SENTINEL]) if n else None
    confusion = {
        "rows": labels,
        "columns": [*labels, INVALID_LABEL],
        # The last row (true label "invalid") is always zero and is dropped.
        "matrix": [[int(v) for v in row] for row in matrix[:-1]] if matrix is not None else [],
    }
    return {"metrics": metrics, "per_class": per_class, "confusion": confusion}
