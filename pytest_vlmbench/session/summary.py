"""The terminal tables: one row per record, the unreadable items, the spread over seeds (a class-count
sweep's models x class counts table is :mod:`~.pivot`)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..record import Record
from ..record.cost import format_usd

COLUMNS = ("item", "n", "acc", "macroF1", "wF1", "invalid", "items/s", "peak MB")


@dataclass(frozen=True)
class OptionalColumn:
    """A column shown only when some record has its value; the HTML report shows the same ones."""

    name: str
    value: Callable[[Record], float | None]
    text: Callable[[float], str]

    def cell(self, record: Record) -> str | None:
        value = self.value(record)
        return None if value is None else self.text(value)


OPTIONAL_COLUMNS: tuple[OptionalColumn, ...] = (
    # NER records: acc/macroF1 there are sentence-level views; the study's figure is entity-level F1.
    OptionalColumn("entityF1", lambda r: r.ner.micro.f1 if r.ner else None, lambda v: f"{v:.3f}"),
    OptionalColumn("J/item", lambda r: r.energy.joules_per_item if r.energy else None, lambda v: f"{v:.2f}"),
    OptionalColumn("USD/1k items", lambda r: r.cost.usd_per_1k_items if r.cost else None, format_usd),
)
"""Columns shown only when some record has the value (NER; energy: NVML on a GPU; cost: a price given), "-" elsewhere."""


def optional_columns(records: Sequence[Record]) -> tuple[OptionalColumn, ...]:
    """The optional columns some record of ``records`` has a value for."""
    return tuple(c for c in OPTIONAL_COLUMNS if any(c.value(r) is not None for r in records))


def _row(record: Record) -> tuple[str, ...]:
    metrics = record.metrics
    return (
        record.case_name(),
        str(record.n_items),
        f"{metrics.accuracy:.3f}",
        f"{metrics.macro_f1:.3f}",
        f"{metrics.weighted_f1:.3f}",
        f"{metrics.invalid_rate:.3f}",
        f"{record.throughput.items_per_s:.1f}",
        f"{record.memory.peak_mb:.0f}",
    )


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """The first ``left`` columns (names) left-aligned, the numbers right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = [str(c).ljust(w) if i < left else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells)

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def summary_lines(records: Sequence[Record]) -> list[str]:
    """The results table, then a line per record with unreadable items or classes without items."""
    header, rows = list(COLUMNS), [list(_row(r)) for r in records]
    for column in optional_columns(records):
        header.append(column.name)
        for row, record in zip(rows, records):
            row.append(column.cell(record) or "-")
    return format_table(header, rows) + error_lines(records) + cost_basis_lines(records)


def cost_basis_lines(records: Sequence[Record]) -> list[str]:
    """How each priced record's cost was worked out, so the USD column can be checked."""
    return [f"{r.case_name()}: ${format_usd(r.cost.usd)} = {r.cost.basis}" for r in records if r.cost is not None]


def error_lines(records: Sequence[Record], show: int = 5, show_classes: int = 10) -> list[str]:
    """Per record, a line for its unreadable inputs (corrupt or missing images: left out of its
    metrics), and one for its classes without items (left out of its macro averages)."""
    lines = []
    for record in records:
        errors = record.errors
        if errors:
            ids = ", ".join(e.id for e in errors[:show]) + (" ..." if len(errors) > show else "")
            lines.append(f"{record.case_name()}: {len(errors)} unreadable item(s) left out of the metrics: {ids}")
        absent = record.metrics.classes_without_items
        if absent:
            names = ", ".join(absent[:show_classes]) + (" ..." if len(absent) > show_classes else "")
            counted = "1 class had no items in this run and is" if len(absent) == 1 else f"{len(absent)} classes had no items in this run and are"
            lines.append(f"{record.case_name()}: {counted} left out of the macro averages: {names}")
    return lines


SPREAD_METRICS = ("accuracy", "macro_f1", "weighted_f1", "invalid_rate")
"""The :class:`~pytest_vlmbench.record.Metrics` fields whose spread over seeds is reported."""


@dataclass(frozen=True)
class MeanStd:
    mean: float
    std: float
    """Sample standard deviation."""


@dataclass(frozen=True)
class SeedSpread:
    """One case evaluated with several seeds: mean and sample std of :data:`SPREAD_METRICS`."""

    case: str
    """The case's name without the seed (``model-dataset-strategy``)."""
    seeds: tuple[int, ...]
    metrics: Mapping[str, MeanStd]

    def to_json(self) -> dict[str, Any]:
        """``{"case", "seeds", "metrics": {name: {"mean", "std"}}}``: the top-level block's ``seed_spread`` entries."""
        return {
            "case": self.case,
            "seeds": list(self.seeds),
            "metrics": {name: {"mean": v.mean, "std": v.std} for name, v in self.metrics.items()},
        }


def seed_spread(records: Sequence[Record]) -> list[SeedSpread]:
    """Mean and sample standard deviation of the quality metrics over seeds, per case.

    Only cases evaluated with two or more seeds appear.
    """
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.case_name(with_seed=False), []).append(record)
    out = []
    for case, group in groups.items():
        seeds = tuple(sorted({r.config.seed for r in group}))
        if len(seeds) < 2:
            continue
        metrics = {}
        for name in SPREAD_METRICS:
            values = [float(getattr(r.metrics, name)) for r in group]
            metrics[name] = MeanStd(statistics.fmean(values), statistics.stdev(values))
        out.append(SeedSpread(case, seeds, metrics))
    return out


def spread_lines(spread: Sequence[SeedSpread]) -> list[str]:
    """The spread as a table: one row per case."""
    header = ("case", "seeds", *(f"{m} (mean ± std)" for m in SPREAD_METRICS))
    rows = [
        (
            s.case,
            ",".join(str(x) for x in s.seeds),
            *(f"{s.metrics[m].mean:.3f} ± {s.metrics[m].std:.3f}" for m in SPREAD_METRICS),
        )
        for s in spread
    ]
    return format_table(header, rows)
