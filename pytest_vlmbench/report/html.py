"""The report page: one self-contained HTML file (inline SVG, inline CSS and script, no links, no fetches).

It opens from disk in any browser and can be attached to a CI run as is. The summary table
sorts on a click of its header; nothing else is scripted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from ..gate.metrics import fmt
from ..gate.metrics import METRICS
from ..record import Record
from ..session.summary import cost_basis_lines, optional_columns
from .data import ReportData, SummaryRow, SweepLine, item_scores
from .environment import environment, model_rows
from .figures import MARKS, confusion_figure, cost_figure, f1_figure, history_figure, sweep_figure

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 1.5em 3em; color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: right; vertical-align: top; }
th { background: #f4f6f7; } td.text, th.text { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th:hover { background: #e5e8e8; }
th[aria-sort=ascending]::after { content: " \\25B2"; } th[aria-sort=descending]::after { content: " \\25BC"; }
.regressed, .regression, .below-floor { background: #fadbd8; } .improved, .improvement { background: #d5f5e3; }
.undecided, .not-significant { background: #fdebd0; } .not-compared { background: #eaeded; }
figure.plot { margin: 1em 0; } figure.plot svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 90%; }
.pair { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
.note { color: #555; } code { background: #f4f6f7; padding: 0 .2em; }
"""

SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("thead th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead th").forEach(function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[column];
        var value = cell.getAttribute("data-sort");
        return value === null ? cell.textContent : parseFloat(value);
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

STATUS_SYMBOL = {"regression": "!", "improvement": "+", "not significant": "~", "undecided": "?", "not compared": "x"}
"""The history table's mark after a value, as ``vlmbench compare`` marks its cells."""


def _css_class(status: str | None) -> str:
    return (status or "").replace(" ", "-")


def _cell(value: object, *, sort: float | None = None, text: bool = False, css: str = "", title: str = "") -> str:
    attrs = ""
    classes = " ".join(c for c in ("text" if text else "", css) if c)
    if classes:
        attrs += f' class="{classes}"'
    if sort is not None:
        attrs += f' data-sort="{sort!r}"'
    if title:
        attrs += f' title="{escape(title)}"'
    return f"<td{attrs}>{escape(str(value))}</td>"


def table(headers: Sequence[str], rows: Iterable[str], *, table_id: str = "", sortable: bool = False, text_columns: int = 1) -> str:
    """A table from pre-rendered ``<tr>`` rows; the first ``text_columns`` headers are left-aligned."""
    left = ' class="text"'
    head = "".join(f"<th{left if i < text_columns else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    attrs = (f' id="{table_id}"' if table_id else "") + (' class="sortable"' if sortable else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure(svg: str, caption: str, kind: str) -> str:
    return f'<figure class="plot" data-kind="{kind}">{svg}<figcaption>{escape(caption)}</figcaption></figure>'


def summary_section(data: ReportData) -> str:
    several = len(data.runs) > 1
    extra = optional_columns([row.record for row in data.summary])  # entity F1, J/item, USD: the terminal's columns
    headers = [*(["run"] if several else []), "item", "model", "dataset", "strategy", "classes", "n", "accuracy",
               "macro-F1", "weighted-F1", "invalid", "items/s", "peak MB", *(c.name for c in extra),
               *(["gate"] if several else [])]  # fmt: skip
    rows = []
    for row in data.summary:
        r = row.record
        m = r.metrics
        cells = [_cell(row.run, text=True)] if several else []
        cells += [_cell(r.case_name(), text=True), _cell(r.model, text=True), _cell(r.dataset, text=True),
                  _cell(r.strategy, text=True), _cell(len(r.classes), sort=len(r.classes)), _cell(r.n_items, sort=r.n_items)]  # fmt: skip
        for value in (m.accuracy, m.macro_f1, m.weighted_f1, m.invalid_rate):
            cells.append(_cell(f"{value:.3f}", sort=value))
        cells.append(_cell(f"{r.throughput.items_per_s:.1f}", sort=r.throughput.items_per_s))
        cells.append(_cell(f"{r.memory.peak_mb:.0f}", sort=r.memory.peak_mb))
        for column in extra:
            given = column.value(r)
            # "-" (no value) sorts below every number, not as text among them.
            cells.append(_cell("-", sort=-1e300) if given is None else _cell(column.text(given), sort=given))
        if several:
            cells.append(_cell(row.verdict or "first run", text=True, css=_css_class(row.verdict), title="\n".join(row.verdict_lines)))
        rows.append(f"<tr>{''.join(cells)}</tr>")
    gate = ""
    if several:
        gate = (f'<p class="note">Gate: each run against the run before it, thresholds '
                f"{_thresholds(data)}, alpha {data.alpha:g}; hover a verdict for the gate's lines.</p>")  # fmt: skip
    return (f"<section id=\"summary\"><h2>Summary</h2><p class=\"note\">Every item of every run; click a column to sort.</p>"
            f"{table(headers, rows, table_id='summary-table', sortable=True, text_columns=5 if several else 4)}{gate}</section>")  # fmt: skip


def _thresholds(data: ReportData) -> str:
    return ", ".join(f"{name}:{t.text()}" for name, t in data.thresholds.items()) or "none (report only)"


def sweep_section(data: ReportData) -> str:
    by_dataset: dict[str, list[SweepLine]] = {}
    for line in data.sweeps:
        by_dataset.setdefault(line.dataset, []).append(line)
    figures = [
        figure(sweep_figure(dataset, lines), f"{dataset}: one line per model and strategy, points per class count "
               "(mean over seeds, bars: standard deviation).", "sweep")
        for dataset, lines in by_dataset.items()
    ]  # fmt: skip
    return f'<section id="sweep"><h2>Accuracy and macro-F1 vs number of classes</h2>{"".join(figures)}</section>'


def cost_section(rows: Sequence[SummaryRow]) -> str:
    priced = bool(rows) and all(row.record.cost is not None for row in rows)
    if priced:
        caption = ("US dollars per 1,000 items against accuracy, one point per item of the last run (up and left is "
                   "better); how each cost was worked out is listed below.")  # fmt: skip
    else:
        caption = ("Items per second against accuracy, one point per item of the last run (up and right is better). "
                   + ("Some items have no price, so the cost axis is speed; " if any(r.record.cost for r in rows) else "")
                   + "give --vlmbench-price or --vlmbench-hour-usd to draw US dollars instead.")  # fmt: skip
    basis = cost_basis_lines([row.record for row in rows])
    listed = "".join(f"<li>{escape(line)}</li>" for line in basis)
    return (f'<section id="cost"><h2>Cost vs quality</h2>{figure(cost_figure(rows, priced), caption, "cost")}'
            + (f'<ul class="note" id="cost-basis">{listed}</ul>' if listed else "") + "</section>")


def history_section(data: ReportData) -> str:
    figures = []
    for metric in data.history_metrics:
        if not any(metric in case.metrics for case in data.history):
            continue
        spec = METRICS[metric]
        svg = history_figure(metric, data.history, data.run_labels, spec.higher_is_better)
        figures.append(figure(svg, f"{metric} per case along the runs; marks are the gate's findings for that run "
                              "against the run before it.", "history"))  # fmt: skip
    rows = []
    for case in data.history:
        for metric, steps in case.metrics.items():
            cells = [_cell(case.label, text=True), _cell(metric, text=True)]
            for step in steps:
                text = "-" if step.value is None else fmt(step.value) + STATUS_SYMBOL.get(step.status or "", "")
                cells.append(_cell(text, css=_css_class(step.status) if step.status in STATUS_SYMBOL else "", title=step.line))
            rows.append(f"<tr>{''.join(cells)}</tr>")
    legend = "; ".join(f"{STATUS_SYMBOL[s]} {MARKS[s][2]}" for s in STATUS_SYMBOL)
    return (f'<section id="history"><h2>Along the runs</h2><p class="note">Runs in the order given: '
            f"{escape(', '.join(data.run_labels))}. Marks: {escape(legend)}.</p>{''.join(figures)}"
            f"{table(['case', 'metric', *data.run_labels], rows, table_id='history-table', text_columns=2)}</section>")  # fmt: skip


def items_section(records: Sequence[Record]) -> str:
    parts = []
    for record in records:
        scores = item_scores(record)
        name = record.case_name()
        parts.append(
            f"<article><h3>{escape(name)}</h3><div class=\"pair\">"
            + figure(confusion_figure(name, scores), "Rows: true class; columns: answer, the last one invalid answers.", "confusion")
            + figure(f1_figure(name, scores), "F1 per class, counted from the predictions.", "f1")
            + "</div></article>"
        )  # fmt: skip
    return f'<section id="items"><h2>Per item (last run)</h2>{"".join(parts)}</section>'


def environment_section(data: ReportData) -> str:
    parts = []
    for label, run in zip(data.run_labels, data.runs):
        rows = [f"<tr>{_cell(k, text=True)}{_cell(v, text=True)}</tr>" for k, v in environment(run)]
        parts.append(f"<h3>Run {escape(label)} <span class=\"note\">({escape(run.source)})</span></h3>"
                     + table(["fact", "value"], rows, text_columns=2))  # fmt: skip
    models = model_rows([entry.record for entry in data.latest])
    headers = list(models[0]) if models else []
    model_table = table(headers, [f"<tr>{''.join(_cell(v, text=True) for v in m.values())}</tr>" for m in models],
                        text_columns=len(headers))  # fmt: skip
    return f'<section id="environment"><h2>Environment</h2>{"".join(parts)}<h3>Models (last run)</h3>{model_table}</section>'


def render_page(data: ReportData) -> str:
    """The whole page as one string."""
    latest = [row for row in data.summary if row.run == data.run_labels[-1]]
    sections = [summary_section(data), sweep_section(data), cost_section(latest)]
    if data.history:
        sections.append(history_section(data))
    sections += [items_section([row.record for row in latest]), environment_section(data)]
    produced = f'<p class="note" id="produced">{escape(data.produced_by)}</p>' if data.produced_by else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(data.title)}</title><style>{STYLE}</style></head>\n<body><header><h1>{escape(data.title)}</h1>"
        f"{produced}</header>\n" + "\n".join(sections) + f"\n<script>{SORT_SCRIPT}</script></body></html>\n"
    )
