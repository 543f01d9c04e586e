"""The class-count sweep as the benchmark's own table: models x strategies by number of classes.

A sweep (``--num-classes 10,25,50,100``) gives one item, so one summary row, per count;
the table a paper shows has a row per model and strategy and a column per class count.
:func:`class_count_pivots` builds it from the records (a pure function, no terminal), one
table per metric of :data:`PIVOT_METRICS`: accuracy, then macro-F1 below it. With several
seeds a cell is the mean ± sample standard deviation over them.

It appears only when some (model, dataset, strategy) was run with two or more class
counts; a run with one class count and several seeds has its spread in the "spread over
seeds" table instead (:func:`~.summary.seed_spread`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from ..record import Record
from .summary import format_table

PIVOT_METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
"""(``Metrics`` field, title) of each table, in the order printed."""

RowKey = tuple[str, str, str]
"""(model, dataset, strategy)."""


@dataclass(frozen=True)
class Cell:
    """One model x strategy at one class count: the metric of each of its records (one per seed)."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        """Sample standard deviation; ``None`` for a single value."""
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    def text(self) -> str:
        """``0.734``, or ``0.734 ± 0.012`` over several seeds."""
        return f"{self.mean:.3f}" if self.std is None else f"{self.mean:.3f} ± {self.std:.3f}"


@dataclass(frozen=True)
class ClassCountPivot:
    """One metric: a row per (model, dataset, strategy), a column per class count."""

    metric: str
    """The ``Metrics`` field in the cells (``accuracy``, ``macro_f1``)."""
    title: str
    class_counts: tuple[int, ...]
    """Ascending."""
    rows: tuple[tuple[RowKey, tuple[Cell | None, ...]], ...]
    """Each row's key and its cells, one per class count (``None``: that count was not run)."""
    seeds: tuple[int, ...]
    """The seeds the records were run with, ascending."""

    def lines(self) -> list[str]:
        """The table: model, [dataset,] strategy, then one column per class count."""
        with_dataset = len({key[1] for key, _ in self.rows}) > 1
        labels = ("model", "dataset", "strategy") if with_dataset else ("model", "strategy")
        header = (*labels, *(f"{n} cls" for n in self.class_counts))
        body = [
            ((key[0], key[1], key[2]) if with_dataset else (key[0], key[2]))
            + tuple(c.text() if c is not None else "-" for c in cells)
            for key, cells in self.rows
        ]
        over = f" (mean ± std over seeds {','.join(str(s) for s in self.seeds)})" if len(self.seeds) > 1 else ""
        return [f"{self.title} by number of classes{over}:", *format_table(header, body, left=len(labels))]


def class_count(record: Record) -> int:
    """The record's number of classes (``config.num_classes``, else its class list)."""
    return record.config.num_classes if record.config.num_classes is not None else len(record.classes)


def by_class_count(records: Sequence[Record]) -> dict[RowKey, dict[int, list[Record]]]:
    """Records by (model, dataset, strategy), then by class count (a list: one record per seed).

    Keys keep the order in which the run first reached them; the terminal pivot and the
    HTML report's sweep figure both group this way.
    """
    groups: dict[RowKey, dict[int, list[Record]]] = {}
    for record in records:
        groups.setdefault((record.model, record.dataset, record.strategy), {}).setdefault(class_count(record), []).append(record)
    return groups


def class_count_pivots(records: Sequence[Record], metrics: Sequence[tuple[str, str]] = PIVOT_METRICS) -> list[ClassCountPivot]:
    """One pivot per metric when some (model, dataset, strategy) has two or more class counts; else none.

    Rows keep the order in which the run first reached them; every record of the run is in
    the table, so a case run at a single count shows as a row with its other cells ``-``.
    """
    groups = by_class_count(records)
    if not any(len(by_count) > 1 for by_count in groups.values()):
        return []
    counts = tuple(sorted({n for by_count in groups.values() for n in by_count}))
    seeds = tuple(sorted({r.config.seed for r in records}))
    out = []
    for metric, title in metrics:
        rows = tuple(
            (key, tuple(_cell(by_count.get(n, []), metric) for n in counts)) for key, by_count in groups.items()
        )  # fmt: skip
        out.append(ClassCountPivot(metric, title, counts, rows, seeds))
    return out


def _cell(records: Sequence[Record], metric: str) -> Cell | None:
    return Cell(tuple(float(getattr(r.metrics, metric)) for r in records)) if records else None


def pivot_lines(records: Sequence[Record]) -> list[str]:
    """The pivots for the terminal summary, each after a blank line; none without a sweep."""
    lines: list[str] = []
    for pivot in class_count_pivots(records):
        lines += ["", *pivot.lines()]
    return lines
