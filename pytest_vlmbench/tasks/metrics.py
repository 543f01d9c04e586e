"""Every quality metric, defined once: for the record, the gate's recomputation and significance tests, and the report.

A metric is a function of counts summed over items. Each item contributes, per class (NER: per
entity type), its true positives, its predictions and its gold instances (the support), and once
each: whether it is right, whether its answer was invalid, and (NER) its tokens tagged right out
of its tokens. :class:`Counts` holds those per-item counts; :meth:`Counts.total` sums them over
every item, or, given a matrix of per-item weights, over many bootstrap resamples at once; and
:class:`Totals` turns the sums into any metric, vectorised over a leading resample axis.

The definitions, with scikit-learn (classes) and seqeval (entities, strict IOB2) as the reference
implementations that the tests compare with on random inputs:

- precision = tp / predicted, recall = tp / support, F1 their harmonic mean; each 0 where its
  denominator is 0 (the references' ``zero_division=0``);
- macro average: the plain mean over the classes that count; weighted: weighted by support;
  micro: precision, recall and F1 of the counts summed over the classes. An average over no
  class is 0. Which classes count is the task's :class:`Averaging`: classification counts the
  classes with at least one item (scikit-learn's ``labels=present``: a class without items under
  ``--limit`` has no recall to average, and the record names it in ``classes_without_items``);
  NER the entity types found in the gold or the predicted tags (seqeval);
- accuracy: items right / items; invalid rate: invalid answers (``None``) / items. An invalid
  answer is wrong and credited to no class's precision; the confusion matrix counts it in an
  extra ``invalid`` column.
- NER: an item is a sentence, right when every tag is; an unparseable (``None``) or misaligned
  prediction is all ``O`` (no entity); token accuracy: tokens tagged right / tokens.

Records hold the references' exact numbers: F1 is computed as each reference computes it
(scikit-learn ``2 tp / (predicted + support)``, seqeval ``2 P R / (P + R)``: the same number up to
the last bit), and a single run's averages reduce over the counted classes only, as they do. Over
a resample axis the classes that count differ from row to row, so the averages are masked instead,
which can differ from the single-run value in the last bits of a float (a rounding difference only).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .spans import spans
from ..record import ClassScores, Confusion, Metrics
from ..record.ner import NerScores, TypeScores

INVALID_LABEL = "invalid"
"""The confusion matrix's last column: answers that named no class."""

QUALITY_METRICS = (
    "accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall",
    "weighted_f1", "invalid_rate",
)  # fmt: skip
"""The record's quality metrics, in :class:`~pytest_vlmbench.record.Metrics` order."""

AVERAGED = tuple(f"{avg}_{kind}" for avg in ("macro", "weighted") for kind in ("precision", "recall", "f1"))
"""The averaged metrics: what a paired bootstrap tests (accuracy and the invalid rate get McNemar's test)."""

ENTITY_METRICS = ("entity_precision", "entity_recall", "entity_f1", "token_accuracy")
"""NER's own metrics (the record's ``ner`` section): micro over all entities, and token accuracy."""


@dataclass(frozen=True)
class Averaging:
    """How a task averages its per-class scores and computes F1: as its reference library does."""

    reference: str
    with_predicted: bool
    """Averages also count the classes that were only predicted (seqeval's entity types), not only
    those with gold items (scikit-learn's ``labels=present``)."""
    f1_from_rates: bool
    """F1 as ``2 P R / (P + R)`` (seqeval) instead of ``2 tp / (predicted + support)`` (scikit-learn)."""


BY_CLASS = Averaging("scikit-learn", with_predicted=False, f1_from_rates=False)
BY_ENTITY_TYPE = Averaging("seqeval", with_predicted=True, f1_from_rates=True)


@dataclass(frozen=True)
class Scores:
    """The record's quality parts for one run, as its task scores them."""

    metrics: Metrics
    per_class: Mapping[str, ClassScores]
    """By class in the dataset's order (NER: by entity type, sorted)."""
    confusion: Confusion
    """Counts of (true class, answer); empty for NER, whose answers are tag sequences."""
    ner: NerScores | None = None
    """The record's ``ner`` section (entity-level scores); NER only."""


def divide(numerator: Any, denominator: Any) -> Any:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0 (``zero_division=0``)."""
    import numpy as np

    return np.where(denominator == 0, 0.0, numerator / np.where(denominator == 0, 1.0, denominator))


def prf(tp: Any, predicted: Any, support: Any, f1_from_rates: bool = False) -> tuple[Any, Any, Any]:
    """Precision, recall and F1 from counts (arrays of any shape, e.g. ``[resamples, classes]``)."""
    precision = divide(tp, predicted)
    recall = divide(tp, support)
    if f1_from_rates:  # seqeval's order of operations, so that a record holds its exact value
        return precision, recall, divide(2.0 * precision * recall, precision + recall)
    return precision, recall, divide(2.0 * tp, support + predicted)  # scikit-learn's


def average(values: Any, weights: Any, counted: Any) -> Any:
    """The ``weights``-weighted mean over the last axis of ``values``, over the ``counted`` classes; 0 where none weighs.

    For one run (1-D) the classes that do not count are dropped before summing, which is what
    the reference libraries do and so gives their exact value; over resamples they are masked.
    """
    import numpy as np

    if values.ndim == 1:
        values, weights = values[counted], weights[counted]
    else:
        weights = np.where(counted, weights, 0.0)
    total = weights.sum(axis=-1)
    return np.where(total > 0, (values * weights).sum(axis=-1) / np.where(total > 0, total, 1.0), 0.0)


# Columns of the per-item counts after the three per-class blocks (tp, predicted, support).
_ITEMS, _RIGHT, _INVALID, _TOKENS_RIGHT, _TOKENS = range(5)


@dataclass(frozen=True)
class Totals:
    """Counts summed over items (or over each resample: a leading axis), and every metric from them."""

    sums: Any
    """``[..., 3K + 5]``: tp, predicted and support per class, then items, right, invalid, tokens right, tokens."""
    k: int
    averaging: Averaging

    def _extra(self, column: int) -> Any:
        return self.sums[..., 3 * self.k + column]

    @property
    def tp(self) -> Any:
        return self.sums[..., : self.k]

    @property
    def predicted(self) -> Any:
        return self.sums[..., self.k : 2 * self.k]

    @property
    def support(self) -> Any:
        return self.sums[..., 2 * self.k : 3 * self.k]

    def per_class(self) -> tuple[Any, Any, Any]:
        """Precision, recall and F1 of each class (``[..., K]``)."""
        return prf(self.tp, self.predicted, self.support, self.averaging.f1_from_rates)

    def counted(self) -> Any:
        """The classes the averages are over (``[..., K]``, boolean)."""
        return (self.support > 0) | (self.predicted > 0) if self.averaging.with_predicted else self.support > 0

    def value(self, metric: str) -> Any:
        """``metric`` (a :data:`QUALITY_METRICS` or :data:`ENTITY_METRICS` name, or ``micro_*``), shaped as the leading axes."""
        import numpy as np

        if metric == "accuracy":
            return divide(self._extra(_RIGHT), self._extra(_ITEMS))
        if metric == "invalid_rate":
            return divide(self._extra(_INVALID), self._extra(_ITEMS))
        if metric == "token_accuracy":
            return divide(self._extra(_TOKENS_RIGHT), self._extra(_TOKENS))
        how, _, kind = metric.partition("_")
        which = ("precision", "recall", "f1").index(kind) if kind in ("precision", "recall", "f1") else -1
        if how in ("micro", "entity") and which >= 0:  # NER's entity scores are micro over the types
            tp, predicted, support = (x.sum(axis=-1) for x in (self.tp, self.predicted, self.support))
            return prf(tp, predicted, support, self.averaging.f1_from_rates)[which]
        if how in ("macro", "weighted") and which >= 0:
            weights = np.ones_like(self.support) if how == "macro" else self.support
            return average(self.per_class()[which], weights, self.counted())
        raise ValueError(f"Unknown quality metric {metric!r}; known: {', '.join((*QUALITY_METRICS, *ENTITY_METRICS))}.")


@dataclass(frozen=True)
class Counts:
    """One run's per-item counts, from which every quality metric follows by summing over items."""

    names: tuple[str, ...]
    """The classes (NER: the entity types) the per-class counts are of."""
    matrix: Any
    """A sparse ``[items, 3K + 5]`` matrix; see :attr:`Totals.sums`."""
    averaging: Averaging

    @property
    def n(self) -> int:
        return int(self.matrix.shape[0])

    def total(self, weights: Any = None) -> Totals:
        """The counts summed over the items, or, for ``weights`` ``[resamples, items]``, per resample.

        The counts are whole numbers, so every sum is exact whatever the order of additions.
        """
        import numpy as np

        sums = self.matrix.sum(axis=0) if weights is None else weights @ self.matrix
        return Totals(np.asarray(sums, dtype=float), len(self.names), self.averaging)


def _counts(names: Sequence[str], averaging: Averaging, n: int, entries: Sequence[tuple[int, int, float]]) -> Counts:
    """:class:`Counts` from ``(item, column, count)`` entries; ``column`` as in :attr:`Totals.sums`."""
    import numpy as np
    from scipy import sparse

    rows = np.array([e[0] for e in entries], dtype=np.int64)
    columns = np.array([e[1] for e in entries], dtype=np.int64)
    values = np.array([e[2] for e in entries], dtype=float)
    matrix = sparse.csr_array((values, (rows, columns)), shape=(n, 3 * len(names) + 5))
    return Counts(tuple(names), matrix, averaging)


def class_counts(labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> Counts:
    """Per-item counts of a classification run; ``None`` is an invalid answer.

    A label or an answer that is not one of ``classes`` counts for no class (an unknown answer
    is wrong but not invalid).
    """
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    base = 3 * k
    entries: list[tuple[int, int, float]] = []
    for i, (label, answer) in enumerate(zip(labels, predictions)):
        t = index.get(label)
        p = None if answer is None else index.get(answer)
        if t is not None:
            entries.append((i, 2 * k + t, 1.0))
            if t == p:
                entries.append((i, t, 1.0))
        if p is not None:
            entries.append((i, k + p, 1.0))
        entries.append((i, base + _ITEMS, 1.0))
        if answer == label:
            entries.append((i, base + _RIGHT, 1.0))
        if answer is None:
            entries.append((i, base + _INVALID, 1.0))
    return _counts(classes, BY_CLASS, len(labels), entries)


def tag_rows(
    labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str] | None]
) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tags per sentence; an unparseable (``None``) or misaligned prediction is all ``O``."""
    if any(isinstance(x, str) for x in labels) or any(isinstance(x, str) for x in predictions):
        raise TypeError("NER labels and predictions are sequences of tags, not strings.")  # a str would be read as one tag per letter
    gold = [list(tags) for tags in labels]
    pred = [list(p) if p is not None and len(p) == len(g) else ["O"] * len(g) for g, p in zip(gold, predictions)]
    return gold, pred


def entity_counts(
    labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str] | None], types: Sequence[str] | None = None
) -> Counts:
    """Per-sentence counts of a NER run: entities (strict IOB2, as seqeval reads them) right, predicted and gold per type.

    ``types``: the entity types to count, sorted (default: those in the gold or predicted tags).
    """
    gold, pred = tag_rows(labels, predictions)
    found = []
    for g, p in zip(gold, pred):
        gs, ps = set(spans(g)), set(spans(p))
        found.append(tuple(Counter(s.kind for s in x) for x in (gs & ps, ps, gs)))
    names = sorted({kind for counters in found for c in counters for kind in c}) if types is None else list(types)
    index = {t: i for i, t in enumerate(names)}
    k = len(names)
    base = 3 * k
    entries: list[tuple[int, int, float]] = []
    for i, (counters, g, p, label, answer) in enumerate(zip(found, gold, pred, labels, predictions)):
        for block, counter in enumerate(counters):
            entries.extend((i, block * k + index[kind], float(n)) for kind, n in counter.items())
        entries.append((i, base + _ITEMS, 1.0))
        if answer is not None and tuple(answer) == tuple(label):
            entries.append((i, base + _RIGHT, 1.0))
        if answer is None:
            entries.append((i, base + _INVALID, 1.0))
        entries.append((i, base + _TOKENS_RIGHT, float(sum(a == b for a, b in zip(g, p)))))
        entries.append((i, base + _TOKENS, float(len(g))))
    return _counts(names, BY_ENTITY_TYPE, len(gold), entries)


def paired_entity_counts(
    labels: Sequence[Sequence[str]], baseline: Sequence[Sequence[str] | None], current: Sequence[Sequence[str] | None]
) -> tuple[Counts, Counts]:
    """Two runs' NER counts over the same entity types: those either run or the gold tags hold."""
    first = entity_counts(labels, baseline), entity_counts(labels, current)
    types = sorted({*first[0].names, *first[1].names})
    return entity_counts(labels, baseline, types), entity_counts(labels, current, types)


def classes_without_items(labels: Sequence[str], classes: Sequence[str]) -> tuple[str, ...]:
    """The classes, in order, that no item of ``labels`` belongs to: left out of the averages."""
    present = set(labels)
    return tuple(c for c in classes if c not in present)


def _metrics(totals: Totals, absent: tuple[str, ...] = ()) -> Metrics:
    return Metrics(**{name: float(totals.value(name)) for name in QUALITY_METRICS}, classes_without_items=absent)


def confusion(labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> Confusion:
    """Counts of (true class, answer), the last column the invalid answers (``None``).

    An item whose label, or whose (not invalid) answer, is not one of ``classes`` is left out,
    as scikit-learn's ``confusion_matrix`` leaves it out. With no items the matrix is empty.
    """
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    matrix = [[0] * (k + 1) for _ in classes]
    for label, answer in zip(labels, predictions):
        t, p = index.get(label), k if answer is None else index.get(answer)
        if t is not None and p is not None:
            matrix[t][p] += 1
    return Confusion(tuple(classes), (*classes, INVALID_LABEL), tuple(map(tuple, matrix)) if labels else ())


def classification_scores(labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> Scores:
    """The record's ``metrics``, ``per_class`` (in the order of ``classes``) and ``confusion`` of a classification run."""
    totals = class_counts(labels, predictions, classes).total()
    precision, recall, f1 = totals.per_class()
    per_class = {
        c: ClassScores(float(precision[i]), float(recall[i]), float(f1[i]), int(totals.support[i])) for i, c in enumerate(classes)
    }
    return Scores(_metrics(totals, classes_without_items(labels, classes)), per_class, confusion(labels, predictions, classes))


def ner_scores(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str] | None], unplaced: int = 0) -> Scores:
    """The record's ``ner`` section (entity scores, by type sorted) and its sentence-level ``metrics`` and ``per_class``.

    ``metrics.accuracy`` is the share of sentences with every tag right (what ``correct`` says per
    item), the macro/weighted averages are over entity types, ``invalid_rate`` is the unparseable
    rate; ``per_class`` holds the per-type entity scores. ``unplaced``: answered entities that
    could not be put on the tokens.
    """
    counts = entity_counts(labels, predictions)
    totals = counts.total()
    precision, recall, f1 = totals.per_class()
    rows = {t: (float(precision[i]), float(recall[i]), float(f1[i]), int(totals.support[i])) for i, t in enumerate(counts.names)}
    micro_p, micro_r, micro_f = (float(totals.value(f"micro_{m}")) for m in ("precision", "recall", "f1"))
    micro = TypeScores(micro_p, micro_r, micro_f, int(totals.support.sum()))
    ner = NerScores(
        micro=micro, token_accuracy=float(totals.value("token_accuracy")), unparseable_rate=float(totals.value("invalid_rate")),
        unplaced_entities=unplaced, per_type={t: TypeScores(*row) for t, row in rows.items()},
    )  # fmt: skip
    per_class = {t: ClassScores(*row) for t, row in rows.items()}
    return Scores(_metrics(totals), per_class, Confusion((), (), ()), ner)


def legacy_macro(metric: str, labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> float:
    """A macro average as records written before ``classes_without_items`` existed computed it:
    over every class, a class without items counting with its (zero) recall and F1."""
    import numpy as np

    totals = class_counts(labels, predictions, classes).total()
    values = totals.per_class()[("precision", "recall", "f1").index(metric.partition("_")[2])]
    return float(average(values, np.ones_like(values), np.ones(len(classes), dtype=bool)))
