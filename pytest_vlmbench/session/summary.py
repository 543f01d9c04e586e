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


def case_name(record: dict[str, Any], with_seed: bool = True) -> str:
    """The record's case, named as its item id names it."""
    dataset = record["dataset"]
    if record.get("options", {}).get("num_classes"):  # a --num-classes point
        dataset += f"-{len(record['classes'])}cls"
    name = f"{record['model']}-{dataset}-{record['strategy']}"
    if with_seed and len(record.get("options", {}).get("seeds", ())) > 1:
        name += f"-seed{record['config'].get('seed', 0)}"
    return name


def _row(record: dict[str, Any]) -> tuple[str, ...]:
    metrics = record["metrics"]
    peak = peak_memory_mb(record)
    return (
        case_name(record),
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
    return format_table(COLUMNS, [_row(r) for r in records]) + error_lines(records)


def error_lines(records: Sequence[dict[str, Any]], show: int = 5) -> list[str]:
    """One line per item with unreadable inputs (corrupt or missing images): left out of its metrics."""
    lines = []
    for record in records:
        errors = record.get("errors") or []
        if errors:
            ids = ", ".join(str(e["id"]) for e in errors[:show]) + (" ..." if len(errors) > show else "")
            lines.append(f"{_row(record)[0]}: {len(errors)} unreadable item(s) left out of the metrics: {ids}")
    return lines


SPREAD_METRICS = ("accuracy", "macro_f1", "weighted_f1", "invalid_rate")


def seed_spread(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample standard deviation of the quality metrics over seeds, per case.

    Only cases evaluated with two or more seeds appear.
    """
    import statistics

    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault(case_name(record, with_seed=False), []).append(record)
    out = []
    for key, group in groups.items():
        seeds = sorted({r["config"].get("seed", 0) for r in group})
        if len(seeds) < 2:
            continue
        out.append(
            {
                "case": key,
                "seeds": seeds,
                "metrics": {
                    m: {
                        "mean": statistics.fmean(r["metrics"][m] for r in group),
                        "std": statistics.stdev(r["metrics"][m] for r in group),
                    }
                    for m in SPREAD_METRICS
                },
            }
        )
    return out


def spread_lines(spread: Sequence[dict[str, Any]]) -> list[str]:
    header = ("case", "seeds", *(f"{m} (mean ± std)" for m in SPREAD_METRICS))
    rows = [
        (
            s["case"],
            ",".join(str(x) for x in s["seeds"]),
            *(f"{s['metrics'][m]['mean']:.3f} ± {s['metrics'][m]['std']:.3f}" for m in SPREAD_METRICS),
        )
        for s in spread
    ]
    return format_table(header, rows)
