"""Metrics agree with scikit-learn and are plain Python numbers (plain JSON once written)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from pytest_vlmbench.evaluation.scores import classification_report
from pytest_vlmbench.gate.significance import QUALITY_METRICS, quality_from_predictions
from pytest_vlmbench.record import ClassScores, plain_json

CLASSES = ["a", "b", "c"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from([*CLASSES, None])), min_size=1, max_size=40))
def test_against_sklearn_on_random_labels(pairs: list[tuple[str, str | None]]) -> None:
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    out = classification_report(y_true, y_pred, CLASSES)
    m = out.metrics
    sk_pred = ["<invalid>" if p is None else p for p in y_pred]
    present = [c for c in CLASSES if c in y_true]  # the averages are over the classes with items
    assert m.classes_without_items == tuple(c for c in CLASSES if c not in present)
    assert m.accuracy == pytest.approx(accuracy_score(y_true, sk_pred))
    for avg in ("macro", "weighted"):
        kw = {"labels": present, "average": avg, "zero_division": 0}
        assert getattr(m, f"{avg}_precision") == pytest.approx(precision_score(y_true, sk_pred, **kw))
        assert getattr(m, f"{avg}_recall") == pytest.approx(recall_score(y_true, sk_pred, **kw))
        assert getattr(m, f"{avg}_f1") == pytest.approx(f1_score(y_true, sk_pred, **kw))
    assert m.invalid_rate == pytest.approx(sum(p is None for p in y_pred) / len(y_pred))
    # The gate recomputes the same numbers from the predictions (gate/baseline.py).
    assert quality_from_predictions(y_true, y_pred, CLASSES) == pytest.approx(
        {name: getattr(m, name) for name in QUALITY_METRICS}, abs=1e-12
    )
    matrix = np.array(out.confusion.matrix)
    assert matrix.shape == (3, 4)
    assert matrix.sum() == len(pairs)
    assert matrix[:, 3].sum() == sum(p is None for p in y_pred)
    assert np.trace(matrix[:, :3]) == sum(t == p for t, p in pairs)
    assert [out.per_class[c].support for c in CLASSES] == [y_true.count(c) for c in CLASSES]
    parts = [out.metrics, *out.per_class.values(), out.confusion]
    for part in parts:  # plain Python values already, not numpy scalars
        for value in vars(part).values():
            assert type(value) in (float, int, tuple), (part, value)
    json.dumps(plain_json(parts), allow_nan=False)


def test_invalid_answers_lower_recall_not_precision() -> None:
    out = classification_report(["a", "a", "b", "b"], ["a", None, "b", "b"], ["a", "b"])
    a = out.per_class["a"]
    assert type(a) is ClassScores and (a.precision, a.recall, a.support) == (1.0, 0.5, 2) and a.f1 == pytest.approx(2 / 3)
    assert out.metrics.accuracy == 0.75
    assert out.confusion.columns == ("a", "b", "invalid")
    assert out.confusion.matrix == ((1, 0, 1), (0, 2, 0))


def test_classes_without_items_are_left_out_of_the_macro_averages_and_named() -> None:
    classes = ["a", "b", "c", "d"]
    y_true = ["a", "a", "b", "b"]  # no "c" or "d" in this run (say, under --limit)
    y_pred: list[str | None] = ["a", "c", "b", None]  # one answer names the absent "c"
    m = classification_report(y_true, y_pred, classes).metrics
    assert m.classes_without_items == ("c", "d")
    # recall a 0.5, b 0.5; precision a 1, b 1: averaged over a and b only, not over four classes
    assert m.macro_recall == pytest.approx(0.5) and m.macro_precision == pytest.approx(1.0)
    assert m.macro_f1 == pytest.approx(2 / 3)
    assert m.weighted_recall == pytest.approx(0.5)
    full = classification_report(["a", "b", "c", "d"], ["a", "b", "c", "d"], classes).metrics
    assert full.classes_without_items == () and full.macro_f1 == 1.0
    empty = classification_report([], [], classes).metrics
    assert empty.classes_without_items == tuple(classes) and empty.macro_f1 == 0.0 and empty.accuracy == 0.0
