"""NER metrics with seqeval (strict IOB2), plus the sentence-level view the record's ``metrics`` hold.

A prediction is a tag sequence joined by spaces (like the label), or ``None`` for an
unparseable answer, which is scored as all ``O``: no entity predicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..record import ClassScores, Metrics
from ..record.ner import NerScores, TypeScores


def tag_rows(labels: Sequence[str], predictions: Sequence[str | None]) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag lists per sentence; an unparseable (``None``) or misaligned prediction is all ``O``."""
    gold = [label.split(" ") for label in labels]
    pred = []
    for g, p in zip(gold, predictions):
        tags = p.split(" ") if p is not None else []
        pred.append(tags if len(tags) == len(g) else ["O"] * len(g))
    return gold, pred


def _report(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """seqeval's entity report in strict IOB2 mode, as a dict (per type, micro/macro/weighted avg)."""
    try:
        from seqeval.metrics import classification_report
        from seqeval.scheme import IOB2
    except ImportError:
        raise ImportError("NER scores are computed with seqeval; run `pip install 'pytest-vlmbench[ner]'`.") from None
    if not gold:
        return {}
    report: dict[str, Any] = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    return report


def _row(d: dict[str, Any] | None) -> TypeScores:
    if d is None:
        return TypeScores(0.0, 0.0, 0.0, 0)
    return TypeScores(float(d["precision"]), float(d["recall"]), float(d["f1-score"]), int(d["support"]))


AVERAGES = ("micro avg", "macro avg", "weighted avg", "samples avg")


def ner_scores(labels: Sequence[str], predictions: Sequence[str | None], unplaced: int = 0) -> NerScores:
    """The record's ``ner`` section from gold and predicted tag sequences (seqeval, ``mode="strict"``, IOB2)."""
    gold, pred = tag_rows(labels, predictions)
    n_tokens = sum(len(g) for g in gold)
    token_accuracy = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p)) / n_tokens if n_tokens else 0.0
    report = _report(gold, pred)
    return NerScores(
        micro=_row(report.get("micro avg")), token_accuracy=token_accuracy,
        unparseable_rate=sum(p is None for p in predictions) / len(predictions) if predictions else 0.0,
        unplaced_entities=unplaced, per_type={k: _row(v) for k, v in sorted(report.items()) if k not in AVERAGES},
    )  # fmt: skip


def sentence_metrics(labels: Sequence[str], predictions: Sequence[str | None]) -> tuple[Metrics, dict[str, ClassScores]]:
    """The record's ``metrics`` and ``per_class`` for a NER run.

    ``accuracy`` is the share of sentences with every tag right (what ``correct`` says per
    item); the macro/weighted averages are seqeval's over entity types; ``invalid_rate`` is
    the unparseable rate; ``per_class`` the per-type entity scores.
    """
    gold, pred = tag_rows(labels, predictions)
    report = _report(gold, pred)
    n = len(labels)
    values: dict[str, float] = {"accuracy": sum(p == g for p, g in zip(predictions, labels)) / n if n else 0.0}
    for average in ("macro", "weighted"):
        row = _row(report.get(f"{average} avg"))
        values |= {f"{average}_precision": row.precision, f"{average}_recall": row.recall, f"{average}_f1": row.f1}
    values["invalid_rate"] = sum(p is None for p in predictions) / n if n else 0.0
    rows = {k: _row(v) for k, v in sorted(report.items()) if k not in AVERAGES}
    per_class = {k: ClassScores(r.precision, r.recall, r.f1, r.support) for k, r in rows.items()}
    return Metrics(
        values["accuracy"], values["macro_precision"], values["macro_recall"], values["macro_f1"],
        values["weighted_precision"], values["weighted_recall"], values["weighted_f1"], values["invalid_rate"],
    ), per_class  # fmt: skip
