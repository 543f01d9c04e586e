"""The terminal table: one row per evaluated item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

COLUMNS = ("item", "n", "acc", "macroF1", "wF1", "invalid", "items/s", "peak MB")


def peak_memory_mb(record: dict[str, Any]) -> float | None:
    """torch's peak on CUDA (what the model needed), the process's peak RSS otherwise."""
    memory = record.get("memory", {})
    value = memory.get("torch_peak_mb", memory.get("peak_rss_mb"))
    return None if value is None else float(value)


def _row(record: dict[str, Any]) -> tuple[str, ...]:
    metrics = record["metrics"]
    peak = peak_memory_mb(record)
    name = f"{record['model']}-{record['dataset']}-{record['strategy']}"
    return (
        name,
        str(record["n_items"]),
        f"{metrics['accuracy']:.3f}",
        f"{metrics['macro_f1']:.3f}",
        f"{metrics['weighted_f1']:.3f}",
        f"{metrics['invalid_rate']:.3f}",
        f"{record['throughput']['items_per_s']:.1f}",
        "-" if peak is None else f"{peak:.0f}",
    )


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned first column, right-aligned numbers."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: Sequence[str]) -> str:
        cells = [str(row[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(cells)

    return [fmt(header), "  ".join("-" * w for w in widths), *(fmt(r) for r in rows)]


def summary_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    return format_table(COLUMNS, [_row(r) for r in records])
