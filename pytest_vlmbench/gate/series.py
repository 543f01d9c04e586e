"""Several saved runs side by side (``vlmbench compare``): one row per case and metric.

Each run after the first is compared with the run before it, so a row reads as the history
of a metric over consecutive commits. The gate (``--fail-on``) looks at one pair only: the
last run against the one before it, or against the first with ``against="first"``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ..record import Record
from .baseline import Run
from .compare import CaseComparison, Finding, Status, compare_records
from .metrics import METRICS, fmt, fmt_p
from .multiplicity import Correction, Hypothesis
from .power import adjust_family, detectable_text
from .significance import DEFAULT_ALPHA
from .thresholds import Threshold

Format = Literal["terminal", "markdown", "csv", "json"]
FORMATS = ("terminal", "markdown", "csv", "json")

LEGEND = "! regression past --fail-on   * significant change (p <= alpha)   ? too few changed items to decide"


@dataclass
class CaseHistory:
    """One case (matching key) across the runs."""

    label: str
    records: list[Record | None]
    """The case's record in each run, ``None`` where a run lacks it."""
    steps: list[CaseComparison | None] = field(default_factory=list)
    """``steps[i]``: run ``i`` against run ``i - 1`` (``steps[0]`` is always ``None``)."""
    gate: CaseComparison | None = None
    """The gated pair's comparison, when thresholds were given."""


@dataclass
class Series:
    runs: list[Run]
    cases: list[CaseHistory]
    metrics: list[str]
    alpha: float
    gated: tuple[int, int] | None = None
    """Indices (baseline, current) of the gated pair."""
    correction: Correction = "none"
    family: dict[str, list[Hypothesis]] = field(default_factory=dict)
    """The gated pair's quality tests by case label, adjusted as one family, with their detectable drops."""

    @property
    def regressions(self) -> list[tuple[CaseHistory, Finding]]:
        return [(c, f) for c in self.cases if c.gate for f in c.gate.regressions]

    @property
    def problems(self) -> list[tuple[CaseHistory, str]]:
        return [(c, c.gate.problem) for c in self.cases if c.gate and c.gate.problem]


def _unique_labels(records: Sequence[Record]) -> dict[str, str]:
    """Key -> label; cases sharing ``model dataset strategy`` get their differing config appended."""
    by_label: dict[str, list[Record]] = {}
    for record in records:
        by_label.setdefault(record.label, []).append(record)
    out = {}
    for label, group in by_label.items():
        configs = [{k: json.dumps(v, sort_keys=True) for k, v in r.config.key_json().items()} for r in group]
        varying = sorted({k for c in configs for k in c if len({d.get(k) for d in configs}) > 1})
        for record, config in zip(group, configs):
            extra = " ".join(f"{k}={config.get(k)}" for k in varying)
            out[record.match_key()] = f"{label} [{extra}]" if extra else label
    return out


def compare_series(
    runs: Sequence[Run],
    thresholds: Mapping[str, Threshold] | None = None,
    *,
    metrics: Sequence[str] = (),
    alpha: float = DEFAULT_ALPHA,
    against: Literal["previous", "first"] = "previous",
    correction: Correction = "none",
) -> Series:
    """Match cases across ``runs`` (oldest first) and compare consecutive pairs; the gated pair's
    quality tests are adjusted as one family under ``correction`` (:mod:`.multiplicity`)."""
    thresholds = dict(thresholds or {})
    shown = list(dict.fromkeys([*metrics, *thresholds]))
    order: dict[str, Record] = {}
    for run in runs:
        for entry in run:
            order.setdefault(entry.record.match_key(), entry.record)
    labels = _unique_labels(list(order.values()))
    gated = (0 if against == "first" else len(runs) - 2, len(runs) - 1) if thresholds and len(runs) > 1 else None
    cases = []
    for key in order:
        records = [run.by_key[key].record if key in run.by_key else None for run in runs]
        case = CaseHistory(labels[key], records, [None])
        for i in range(1, len(runs)):
            prev, cur = records[i - 1], records[i]
            step = None
            if prev is not None and cur is not None:
                step = compare_records(
                    prev, cur, thresholds if gated == (i - 1, i) else {}, alpha=alpha, show=shown,
                    always_test=True, label=case.label,
                    baseline_machine=runs[i - 1].machine_info, current_machine=runs[i].machine_info,
                )  # fmt: skip
            case.steps.append(step)
        if gated is not None:
            base, cur = records[gated[0]], records[gated[1]]
            if gated[0] == gated[1] - 1:
                case.gate = case.steps[gated[1]]
            elif base is not None and cur is not None:
                case.gate = compare_records(
                    base, cur, thresholds, alpha=alpha, label=case.label,
                    baseline_machine=runs[gated[0]].machine_info, current_machine=runs[gated[1]].machine_info,
                )  # fmt: skip
        cases.append(case)
    series = Series(list(runs), cases, shown, alpha, gated, correction)
    correct_family(series)
    return series


def correct_family(series: Series) -> None:
    """Adjust the gated pair's quality tests of every case as one family: a regression whose
    adjusted p is over alpha becomes *not significant*; each keeps its adjusted p for its line."""
    gated = [(case.label, case.gate) for case in series.cases if case.gate is not None and case.gate.problem is None]
    groups = [[f.as_hypothesis() for f in gate.findings if f.metric.quality and f.threshold is not None] for _, gate in gated]
    for (label, gate), tests in zip(gated, adjust_family(groups, series.correction)):
        series.family[label] = tests
        by_metric = {h.metric: h for h in tests}
        for i, finding in enumerate(gate.findings):
            h = by_metric.get(finding.metric.name)
            if h is not None and h.candidate and h.p_value is not None:
                status: Status = "regression" if h.regressed else "not significant"
                gate.findings[i] = replace(finding, status=status, adjusted=h.adjusted, correction=series.correction)


def detectable_notes(series: Series) -> list[str]:
    """``case: accuracy detectable >= 0.023 (n=..., ... changed)`` for each gated quality test."""
    out: list[str] = []
    for label, tests in series.family.items():
        out.extend(f"{label}: {detectable_text(h)}" for h in tests)
    return out


def _mark(finding: Finding | None, alpha: float) -> str:
    if finding is None:
        return ""
    if finding.status == "regression":
        return "!"
    test = finding.test
    if test is None or not finding.delta:
        return ""
    if test.p_value is None:
        return "?"
    return "*" if test.p_value <= alpha else ""


def rows(series: Series) -> list[dict[str, Any]]:
    """Long-form rows: one per case and metric, with each run's value, delta, p and mark."""
    out = []
    for case in series.cases:
        for name in series.metrics:
            spec = METRICS[name]
            row: dict[str, Any] = {"case": case.label, "metric": name, "higher_is_better": spec.higher_is_better, "runs": []}
            for i, record in enumerate(case.records):
                step = case.steps[i]
                finding = next((f for f in step.findings if f.metric.name == name), None) if step else None
                gate = case.gate if series.gated and i == series.gated[1] else None
                gate_finding = next((f for f in gate.findings if f.metric.name == name), None) if gate else None
                row["runs"].append(
                    {
                        "value": spec.value(record) if record is not None else None,
                        "delta": finding.delta if finding else None,
                        "p": finding.test.p_value if finding and finding.test else None,
                        "status": shown.status if (shown := gate_finding or finding) else None,
                        "mark": _mark(gate_finding, series.alpha) or _mark(finding, series.alpha),
                    }
                )
            if any(r["value"] is not None for r in row["runs"]):
                out.append(row)
    return out


def _cell(run: Mapping[str, Any], first: bool) -> str:
    if run["value"] is None:
        return "-"
    text = fmt(run["value"])
    if not first and run["delta"] is not None:
        text += f" ({fmt(run['delta'], signed=True)}){run['mark']}"
    return text


def _notes(series: Series) -> list[str]:
    lines = []
    for case in series.cases:
        for i, step in enumerate(case.steps):
            if step is None:
                continue
            where = f"{case.label}, {series.runs[i - 1].label} -> {series.runs[i].label}"
            if step.problem:
                lines.append(f"{where}: {step.problem}")
            lines.extend(f"{where}: {note}" for note in step.notes)
        missing = [series.runs[i].label for i, r in enumerate(case.records) if r is None]
        if missing:
            lines.append(f"{case.label}: not in {', '.join(missing)}")
    return lines


def render(series: Series, fmt_name: Format = "terminal") -> str:
    """The comparison as an aligned text table, Markdown, CSV or JSON."""
    table = rows(series)
    headers = ["case", "metric", *(run.label for run in series.runs)]
    if fmt_name == "json":
        doc = {
            "runs": [{"label": r.label, "source": r.source, "commit": r.commit_info.get("id"), "datetime": r.datetime} for r in series.runs],
            "alpha": series.alpha,
            "correction": series.correction,
            "rows": table,
            "regressions": [f"{c.label}: {f.line()}" for c, f in series.regressions],
            "notes": _notes(series),
            "tests": {label: [h.to_json() for h in tests] for label, tests in series.family.items()},
        }
        return json.dumps(doc, indent=2, allow_nan=False, default=str)
    if fmt_name == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        extra = [f"{run.label} {col}" for run in series.runs[1:] for col in ("delta", "p", "status")]
        writer.writerow(["case", "metric", "higher_is_better", *(run.label for run in series.runs), *extra])
        for row in table:
            values = ["" if r["value"] is None else r["value"] for r in row["runs"]]
            details = [
                "" if r[col] is None else r[col] for r in row["runs"][1:] for col in ("delta", "p", "status")
            ]
            writer.writerow([row["case"], row["metric"], row["higher_is_better"], *values, *details])
        return buffer.getvalue()
    body = [[row["case"], row["metric"], *(_cell(r, i == 0) for i, r in enumerate(row["runs"]))] for row in table]
    notes = _notes(series)
    if series.family:
        notes += [f"gate: correction {series.correction} over {sum(map(len, series.family.values()))} tests; "
                  "drops detectable with 80% power at its worst-case level:", *detectable_notes(series)]  # fmt: skip
    if fmt_name == "markdown":
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in body]
        lines += ["", f"Marks: {LEGEND} (alpha {series.alpha:g})."]
        lines += [f"- {note}" for note in notes]
        if series.regressions:
            lines += ["", "**Regressions**", *(f"- {c.label}: {f.line()}" for c, f in series.regressions)]
        return "\n".join(lines) + "\n"
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [headers, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", f"{LEGEND} (alpha {series.alpha:g})", *notes]
    if series.regressions:
        lines += ["", "Regressions:", *(f"  {c.label}: {f.line()}" for c, f in series.regressions)]
    return "\n".join(lines) + "\n"


__all__ = ["FORMATS", "LEGEND", "CaseHistory", "Series", "compare_series", "render", "rows"]
