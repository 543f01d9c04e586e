"""The report's figures: matplotlib, drawn without pyplot (no global state, no display) into inline SVG.

Each function takes the typed rows of :mod:`.data` and returns one ``<svg>`` element as text.
Text stays text (``svg.fonttype: none``): the file is smaller and the labels can be searched
and copied in the browser. Each figure's ids get a prefix of their own (:func:`to_svg`), so
several inline SVGs never clash in one page, and the same data gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..record import Record
from .data import NO_MATPLOTLIB, CaseHistory, ItemScores, ReportError, SummaryRow, SweepLine

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MARKS: dict[str, tuple[str, str, str]] = {
    "regression": ("X", "#c0392b", "regression (gate fails)"),
    "improvement": ("^", "#1e8449", "improvement"),
    "not significant": ("o", "#d68910", "past the threshold, not significant"),
    "undecided": ("o", "#d68910", "past the threshold, too few changed items to decide"),
    "not compared": ("s", "#7f8c8d", "not compared (other hardware or data)"),
}
"""Gate finding status -> (marker, colour, legend text) in the history figures."""

ID_OR_REFERENCE = re.compile(r'(\bid="|url\(#|href="#)([^")]+)')
SVG_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
"""No RDF block per figure: it names URLs (matplotlib's site) and dates, neither of which a report needs."""


def _figure(width: float, height: float) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError(NO_MATPLOTLIB) from None
    return Figure(figsize=(width, height), layout="constrained")


def to_svg(fig: Figure) -> str:
    """The figure as one ``<svg>`` element (no XML prologue), with ids unique in the page.

    matplotlib numbers its groups per figure (``axes_1`` in every figure), so each id and
    each reference to one (``url(#...)``, ``href="#..."``) gets a prefix hashed from the
    figure's own text: unique per figure, and the same for the same figure.
    """
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "vlmbench"}):
        fig.savefig(buffer, format="svg", metadata=SVG_METADATA)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    prefix = "f" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8] + "-"
    return ID_OR_REFERENCE.sub(lambda m: m.group(1) + prefix + m.group(2), text)


def _style(ax: Axes) -> None:
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def sweep_figure(dataset: str, lines: Sequence[SweepLine]) -> str:
    """Accuracy and macro-F1 against the number of classes, one line per model × strategy."""
    fig = _figure(9.0, 3.6)
    axes = fig.subplots(1, 2, sharex=True)
    for ax, metric, name in ((axes[0], "accuracy", "accuracy"), (axes[1], "macro_f1", "macro-F1")):
        for line in lines:
            xs = [p.num_classes for p in line.points]
            ys = [getattr(p, metric) for p in line.points]
            errs = [getattr(p, f"{metric}_std") for p in line.points]
            ax.errorbar(xs, ys, yerr=errs if any(errs) else None, marker="o", capsize=3, label=line.label)
        ax.set_title(f"{name} vs number of classes")
        ax.set_xlabel("classes")
        ax.set_ylabel(name)
        ax.set_ylim(0, 1.02)
        _style(ax)
    counts = sorted({p.num_classes for line in lines for p in line.points})
    axes[0].set_xticks(counts)
    axes[1].legend(fontsize="small", loc="best")
    fig.suptitle(dataset)
    return to_svg(fig)


def confusion_figure(title: str, scores: ItemScores) -> str:
    """The confusion matrix as a heatmap; the last column counts the invalid answers."""
    n = len(scores.classes)
    size = min(12.0, max(4.0, 0.42 * n + 2.5))
    fig = _figure(size + 0.8, size)
    ax = fig.subplots()
    image = ax.imshow(scores.matrix or [[0]], cmap="Blues", aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="items")
    ax.axvline(n - 0.5, color="#c0392b", linewidth=1.5)  # the invalid column apart from the classes
    labelled = n <= 40  # beyond that, tick labels overlap into a black band
    ax.set_xticks(range(n + 1), scores.columns if labelled else [""] * (n + 1), rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(n), scores.classes if labelled else [""] * n, fontsize="small")
    if n <= 12:  # counts readable in each cell
        peak = max((v for row in scores.matrix for v in row), default=0)
        for i, row in enumerate(scores.matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize="x-small",
                        color="white" if value > peak / 2 else "black")  # fmt: skip
    ax.set_xlabel("answer")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion: {title}", fontsize="medium")
    return to_svg(fig)


def f1_figure(title: str, scores: ItemScores) -> str:
    """Per-class F1 as horizontal bars, with each class's item count."""
    n = len(scores.classes)
    fig = _figure(6.0, min(14.0, max(2.5, 0.26 * n + 1.2)))
    ax = fig.subplots()
    positions = list(range(n))
    ax.barh(positions, scores.f1, color="#2e86c1")
    labelled = n <= 60
    ax.set_yticks(positions, [f"{c} ({s})" for c, s in zip(scores.classes, scores.support)] if labelled else [""] * n,
                  fontsize="small")  # fmt: skip
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 (items per class in brackets)")
    ax.set_title(f"per-class F1: {title}", fontsize="medium")
    _style(ax)
    return to_svg(fig)


def cost_figure(rows: Sequence[SummaryRow], priced: bool = False) -> str:
    """Cost against quality, one point per item: US dollars per 1,000 items when ``priced`` (every
    record has a cost), else items/s."""
    fig = _figure(9.0, 4.5)
    ax = fig.subplots()
    markers = itertools.cycle("osD^vP*Xh<>")  # colour and shape: points stay apart on a shared spot
    xs = [_cost_x(row.record, priced) for row in rows]
    for row, x in zip(rows, xs):
        ax.scatter(x, row.record.metrics.accuracy, s=50, marker=next(markers), label=row.record.case_name())
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        ax.set_xscale("log")  # a 7B model and a classifier head on one axis
    ax.set_xlabel("US dollars per 1,000 items (lower is cheaper)" if priced else "items/s (higher is cheaper)")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("cost vs quality, one point per item")
    _style(ax)
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))  # names beside, not on, the points
    return to_svg(fig)


def _cost_x(record: Record, priced: bool) -> float:
    if priced and record.cost is not None:
        return record.cost.usd_per_1k_items
    return record.throughput.items_per_s


def history_figure(metric: str, cases: Sequence[CaseHistory], run_labels: Sequence[str], higher_is_better: bool) -> str:
    """One metric per case along the runs, the gate's findings marked on the run they concern."""
    fig = _figure(9.0, 3.8)
    ax = fig.subplots()
    xs = list(range(len(run_labels)))
    seen: set[str] = set()
    for case in cases:
        steps = case.metrics.get(metric)
        if steps is None:
            continue
        ys = [s.value for s in steps]
        ax.plot(xs, [float("nan") if y is None else y for y in ys], marker=".", label=case.label)
        for x, step in zip(xs, steps):
            mark = MARKS.get(step.status or "")
            if mark is None or step.value is None:
                continue
            shape, colour, text = mark
            label = None if text in seen else text
            seen.add(text)
            hollow = step.status in ("not significant", "undecided")
            ax.scatter([x], [step.value], marker=shape, s=110, zorder=3, label=label, linewidths=1.8,
                       facecolors="none" if hollow else colour, edgecolors=colour)  # fmt: skip
    ax.set_xticks(xs, list(run_labels), rotation=20, ha="right", fontsize="small")
    ax.set_title(f"{metric} ({'higher' if higher_is_better else 'lower'} is better)")
    _style(ax)
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] in seen)  # the cases, then what the marks mean
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize="x-small", loc="center left",
              bbox_to_anchor=(1.0, 0.5))  # fmt: skip
    return to_svg(fig)

