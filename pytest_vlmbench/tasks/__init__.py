"""What is evaluated: the task, declared once and carried by the dataset, the strategy and the record.

A :class:`Task` says what an item's gold answer is (one class name, or one tag per token),
which classes a label uses, how items are grouped for a stratified split, how a run is
scored (its metrics and its record sections) and how two runs are paired for the gate.
Nothing else in the package decides anything from the shape of a label or the names of the
classes: it asks ``dataset.task``, ``strategy.task`` or ``record.task``.

Two tasks ship: :data:`CLASSIFICATION` and :data:`NER` (named-entity recognition, IOB2 tags).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..record import Label
from .metrics import AVERAGED, ENTITY_METRICS, Counts, Scores, class_counts, classification_scores, ner_scores, paired_entity_counts

__all__ = ["CLASSIFICATION", "NER", "Label", "Scores", "Task", "task_named"]


Scorer = Callable[[Sequence[Label], Sequence["Label | None"], Sequence[str], int], Scores]
"""``(labels, predictions, classes, unplaced entities) -> Scores``."""

PairedCounts = Callable[[Sequence[Label], Sequence["Label | None"], Sequence["Label | None"], Sequence[str]], "tuple[Counts, Counts]"]
"""``(labels, baseline predictions, current predictions, classes) -> per-item counts of each run``, over the same columns."""


@dataclass(frozen=True)
class Task:
    """One kind of evaluation; registered in :data:`TASKS` by name."""

    name: Literal["classification", "ner"]
    """What ``Record.task`` says."""
    label: Literal["class", "tags"]
    """An item's gold answer: one class name (``str``), or one tag per token (``tuple[str, ...]``)."""
    description: str
    scorer: Scorer = field(repr=False)
    """Scores a run: the record's ``metrics``, ``per_class``, ``confusion`` and task sections."""
    paired_counts: PairedCounts = field(repr=False)
    """Each run's per-item counts (:class:`~.metrics.Counts`) over the same classes or entity types: what the
    gate's paired bootstrap resamples (items, or NER sentences) and recomputes its metrics from."""
    bootstrapped: tuple[str, ...] = AVERAGED
    """The metrics the gate tests with the paired bootstrap (the others: McNemar's test on right/wrong)."""
    unit: str = "item"
    """What one evaluated item is, in sentences to the user (``item``, ``sentence``)."""

    @property
    def tagged(self) -> bool:
        """Labels and predictions are tag sequences (one per token)."""
        return self.label == "tags"

    def classes_of(self, label: Label) -> tuple[str, ...]:
        """The classes a label uses: itself, or (NER) the tags of its tokens."""
        return (label,) if isinstance(label, str) else tuple(label)

    def stratum(self, label: Label) -> str:
        """The group an item is sampled in for a stratified split: its class; NER sentences form one group
        (a sentence's tag sequence is nearly unique, so grouping by it would hold nothing out)."""
        return label if isinstance(label, str) else "sentences"

    def score(self, labels: Sequence[Label], predictions: Sequence[Label | None], classes: Sequence[str], unplaced: int = 0) -> Scores:
        """The record's quality parts; ``unplaced``: answered entities that could not be put on tokens (NER)."""
        return self.scorer(labels, predictions, classes, unplaced)


def _classification_scores(labels: Sequence[Label], predictions: Sequence[Label | None], classes: Sequence[str], unplaced: int) -> Scores:
    return classification_scores([str(x) for x in labels], [None if p is None else str(p) for p in predictions], classes)


def _ner_scores(labels: Sequence[Label], predictions: Sequence[Label | None], classes: Sequence[str], unplaced: int) -> Scores:
    return ner_scores([tuple(x) for x in labels], [None if p is None else tuple(p) for p in predictions], unplaced)


def _paired_classes(labels: Sequence[Label], baseline: Sequence[Label | None], current: Sequence[Label | None], classes: Sequence[str]) -> tuple[Counts, Counts]:
    def answers(run: Sequence[Label | None]) -> list[str | None]:
        return [None if p is None else str(p) for p in run]

    gold = [str(x) for x in labels]
    return class_counts(gold, answers(baseline), classes), class_counts(gold, answers(current), classes)


def _paired_entities(labels: Sequence[Label], baseline: Sequence[Label | None], current: Sequence[Label | None], classes: Sequence[str]) -> tuple[Counts, Counts]:
    def tags(run: Sequence[Label | None]) -> list[tuple[str, ...] | None]:
        return [None if p is None else tuple(p) for p in run]

    return paired_entity_counts([tuple(x) for x in labels], tags(baseline), tags(current))


CLASSIFICATION = Task(
    "classification", "class", "one class per item, from a fixed list of classes", _classification_scores, _paired_classes
)
NER = Task(
    "ner", "tags", "named-entity recognition: one IOB2 tag per token of a sentence", _ner_scores, _paired_entities,
    bootstrapped=(*ENTITY_METRICS, *AVERAGED), unit="sentence",
)  # fmt: skip

_BY_NAME: dict[str, Task] = {t.name: t for t in (CLASSIFICATION, NER)}  # the names record.TASKS lists (a test checks both agree)


def task_named(name: str) -> Task:
    """The task ``Record.task`` names (``classification``, ``ner``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"Unknown task {name!r}; the tasks are {', '.join(_BY_NAME)}.") from None
