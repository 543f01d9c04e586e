"""Every quality metric has one definition (:mod:`pytest_vlmbench.tasks.metrics`), checked against the references.

scikit-learn (classes) and seqeval (entities, strict IOB2) are the reference implementations:
on random runs -- invalid answers, answers naming no class, classes without items, more than
eight classes (where numpy's summation order matters), empty runs -- the record's numbers agree
with them to 1e-12, and the resampled sums the gate's bootstrap uses give the numbers of the
run with each item repeated as often as its weight says.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench.record import ClassScores, plain_json
from pytest_vlmbench.tasks.metrics import (
    ENTITY_METRICS,
    QUALITY_METRICS,
    class_counts,
    classification_scores,
    entity_counts,
    ner_scores,
)

POOL = [f"c{i}" for i in range(11)]
TYPES = ["PER", "LOC", "ORG", "MISC", "DATE", "TIME", "MONEY", "LAW", "EVENT"]  # nine types: more than eight
TAGS = ["O", "O", "O", *(f"{p}-{t}" for t in TYPES for p in "BI")]


def near(expected: float) -> Any:
    """``expected`` to 1e-12, absolute or relative: what "the same number" means between two implementations."""
    return pytest.approx(expected, abs=1e-12, rel=1e-12)


@st.composite
def classification_runs(draw: st.DrawFn) -> tuple[list[str], list[str], list[str | None]]:
    """Classes, labels (some classes without items) and answers (``None``: invalid; ``stranger``: names no class)."""
    classes = POOL[: draw(st.integers(1, len(POOL)))]
    used = draw(st.lists(st.sampled_from(classes), min_size=1, unique=True))
    labels = draw(st.lists(st.sampled_from(used), max_size=50))
    answers = draw(st.lists(st.sampled_from([*classes, None, "stranger"]), min_size=len(labels), max_size=len(labels)))
    return classes, labels, answers


def _sklearn(labels: list[str], answers: list[str | None], classes: list[str]) -> dict[str, Any]:
    """The record's classification numbers as scikit-learn computes them."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    invalid = "\x00invalid"
    pred = [invalid if a is None else a for a in answers]
    present = [c for c in classes if c in labels]
    out: dict[str, Any] = {"accuracy": accuracy_score(labels, pred), "invalid_rate": answers.count(None) / len(labels)}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(labels, pred, labels=present, average=avg, zero_division=0)
        out |= {f"{avg}_precision": p, f"{avg}_recall": r, f"{avg}_f1": f}
    out["per_class"] = precision_recall_fscore_support(labels, pred, labels=classes, average=None, zero_division=0)
    out["confusion"] = confusion_matrix(labels, pred, labels=[*classes, invalid])[:-1].tolist()
    return out


@settings(max_examples=150, deadline=None)
@given(classification_runs())
def test_classification_scores_agree_with_sklearn(run: tuple[list[str], list[str], list[str | None]]) -> None:
    classes, labels, answers = run
    scores = classification_scores(labels, answers, classes)
    m = scores.metrics
    assert m.classes_without_items == tuple(c for c in classes if c not in labels)
    assert list(scores.per_class) == classes and scores.confusion.columns == (*classes, "invalid")
    if not labels:  # nothing scored: every number is 0, and the matrix is empty
        assert all(getattr(m, name) == 0.0 for name in QUALITY_METRICS) and scores.confusion.matrix == ()
        assert all(row == ClassScores(0.0, 0.0, 0.0, 0) for row in scores.per_class.values())
        return
    expected = _sklearn(labels, answers, classes)
    for name in QUALITY_METRICS:
        assert getattr(m, name) == near(expected[name]), name
    p, r, f, s = expected["per_class"]
    for i, c in enumerate(classes):
        row = scores.per_class[c]
        assert (row.precision, row.recall, row.f1, row.support) == (
            near(p[i]), near(r[i]), near(f[i]), s[i])
    assert [list(row) for row in scores.confusion.matrix] == expected["confusion"]
    parts = [m, *scores.per_class.values(), scores.confusion]
    for part in parts:  # plain Python values already, not numpy scalars
        for value in vars(part).values():
            assert type(value) in (float, int, tuple), (part, value)
    json.dumps(plain_json(parts), allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(classification_runs(), st.data())
def test_resampled_sums_give_the_metrics_of_the_resampled_run(run: tuple[list[str], list[str], list[str | None]], data: st.DataObject) -> None:
    """What the bootstrap computes for a resample (item ``i`` drawn ``w[i]`` times) is the metric of that run."""
    classes, labels, answers = run
    rows = [data.draw(st.lists(st.integers(0, 3), min_size=len(labels), max_size=len(labels))) for _ in range(3)]
    totals = class_counts(labels, answers, classes).total(np.array(rows, dtype=float).reshape(3, len(labels)))
    for row, weights in enumerate(rows):
        again = [(t, a) for t, a, w in zip(labels, answers, weights) for _ in range(w)]
        metrics = classification_scores([t for t, _ in again], [a for _, a in again], classes).metrics
        for name in QUALITY_METRICS:
            assert totals.value(name)[row] == pytest.approx(getattr(metrics, name), abs=1e-15), name


def test_invalid_answers_lower_recall_not_precision() -> None:
    out = classification_scores(["a", "a", "b", "b"], ["a", None, "b", "b"], ["a", "b"])
    a = out.per_class["a"]
    assert type(a) is ClassScores and (a.precision, a.recall, a.support) == (1.0, 0.5, 2) and a.f1 == pytest.approx(2 / 3)
    assert out.metrics.accuracy == 0.75 and out.metrics.invalid_rate == 0.25
    assert out.confusion.columns == ("a", "b", "invalid")
    assert out.confusion.matrix == ((1, 0, 1), (0, 2, 0))


def test_classes_without_items_are_left_out_of_the_macro_averages_and_named() -> None:
    classes = ["a", "b", "c", "d"]
    y_true = ["a", "a", "b", "b"]  # no "c" or "d" in this run (say, under --limit)
    y_pred: list[str | None] = ["a", "c", "b", None]  # one answer names the absent "c"
    m = classification_scores(y_true, y_pred, classes).metrics
    assert m.classes_without_items == ("c", "d")
    # recall a 0.5, b 0.5; precision a 1, b 1: averaged over a and b only, not over four classes
    assert m.macro_recall == pytest.approx(0.5) and m.macro_precision == pytest.approx(1.0)
    assert m.macro_f1 == pytest.approx(2 / 3)
    assert m.weighted_recall == pytest.approx(0.5)
    full = classification_scores(["a", "b", "c", "d"], ["a", "b", "c", "d"], classes).metrics
    assert full.classes_without_items == () and full.macro_f1 == 1.0


@st.composite
def ner_runs(draw: st.DrawFn) -> tuple[list[tuple[str, ...]], list[tuple[str, ...] | None]]:
    """Gold tag sequences (stray ``I-`` tags included) and predictions: tags, ``None`` (unparseable) or misaligned."""
    gold = draw(st.lists(st.lists(st.sampled_from(TAGS), min_size=1, max_size=9).map(tuple), max_size=14))
    predictions: list[tuple[str, ...] | None] = []
    for tags in gold:
        kind = draw(st.sampled_from(["tags", "tags", "tags", "copy", "none", "misaligned"]))
        if kind == "none":
            predictions.append(None)
        elif kind == "copy":
            predictions.append(tags)
        else:
            size = len(tags) if kind == "tags" else len(tags) + 1
            predictions.append(tuple(draw(st.lists(st.sampled_from(TAGS), min_size=size, max_size=size))))
    return gold, predictions


@pytest.mark.filterwarnings("ignore:Mean of empty slice", "ignore:invalid value encountered")  # seqeval's NaN, below
@settings(max_examples=150, deadline=None)
@given(ner_runs())
def test_ner_scores_agree_with_seqeval(run: tuple[list[tuple[str, ...]], list[tuple[str, ...] | None]]) -> None:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    gold, predictions = run
    scores = ner_scores(gold, predictions, unplaced=2)
    ner, m = scores.ner, scores.metrics
    assert ner is not None and ner.unplaced_entities == 2 and scores.confusion.matrix == ()
    n = len(gold)
    aligned = [list(p) if p is not None and len(p) == len(g) else ["O"] * len(g) for g, p in zip(gold, predictions)]
    tokens = sum(map(len, gold))
    right = sum(a == b for g, p in zip(gold, aligned) for a, b in zip(g, p))
    assert ner.token_accuracy == (right / tokens if tokens else 0.0)
    assert ner.unparseable_rate == m.invalid_rate == (predictions.count(None) / n if n else 0.0)
    assert m.accuracy == (sum(p == g for g, p in zip(gold, predictions)) / n if n else 0.0)
    report = classification_report([list(g) for g in gold], aligned, mode="strict", scheme=IOB2, output_dict=True, zero_division=0) if n else {}
    averages = {"micro avg", "macro avg", "weighted avg"}
    assert list(ner.per_type) == sorted(set(report) - averages) == list(scores.per_class)
    for kind, row in ner.per_type.items():
        ref = report[kind]
        assert (row.precision, row.recall, row.f1, row.support) == (
            near(ref["precision"]), near(ref["recall"]), near(ref["f1-score"]), ref["support"])
        assert scores.per_class[kind] == ClassScores(row.precision, row.recall, row.f1, row.support)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    assert (ner.micro.precision, ner.micro.recall, ner.micro.f1, ner.micro.support) == (
        near(micro["precision"]), near(micro["recall"]), near(micro["f1-score"]), micro["support"])
    for avg in ("macro", "weighted"):
        ref = report.get(f"{avg} avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            value = ref[theirs]
            # seqeval's macro average over no entity type at all is NaN; ours is 0, as for classes.
            assert getattr(m, f"{avg}_{ours}") == (0.0 if math.isnan(value) else near(value))


@settings(max_examples=60, deadline=None)
@given(ner_runs(), st.data())
def test_resampled_ner_sums_give_the_metrics_of_the_resampled_run(
    run: tuple[list[tuple[str, ...]], list[tuple[str, ...] | None]], data: st.DataObject
) -> None:
    gold, predictions = run
    weights = data.draw(st.lists(st.integers(0, 3), min_size=len(gold), max_size=len(gold)))
    types = sorted({t[2:] for g in gold for t in g if t != "O"} | {t[2:] for p in predictions for t in p or () if t != "O"})
    totals = entity_counts(gold, predictions, types).total(np.array([weights], dtype=float).reshape(1, len(gold)))
    again = [(g, p) for g, p, w in zip(gold, predictions, weights) for _ in range(w)]
    scores = ner_scores([g for g, _ in again], [p for _, p in again])
    assert scores.ner is not None
    for name in QUALITY_METRICS:
        assert totals.value(name)[0] == pytest.approx(getattr(scores.metrics, name), abs=1e-15), name
    expected = {"entity_precision": scores.ner.micro.precision, "entity_recall": scores.ner.micro.recall,
                "entity_f1": scores.ner.micro.f1, "token_accuracy": scores.ner.token_accuracy}  # fmt: skip
    for name in ENTITY_METRICS:
        assert totals.value(name)[0] == pytest.approx(expected[name], abs=1e-15), name


def test_ner_labels_must_be_tag_sequences_and_metric_names_known() -> None:
    with pytest.raises(TypeError, match="sequences of tags"):
        ner_scores(["B-PER O"], ["B-PER O"])  # a joined string would be read letter by letter
    with pytest.raises(ValueError, match="Unknown quality metric 'macro_f2'"):
        class_counts(["a"], ["a"], ["a"]).total().value("macro_f2")
