"""What the HTML report shows, as typed rows: the pivots of one or more saved runs.

Everything here reads :class:`~pytest_vlmbench.record.Record` objects of
:class:`~pytest_vlmbench.gate.baseline.Run` objects (the gate's loader reads the files), and
the gate's own comparison gives the verdicts, so the report and ``vlmbench compare`` never
disagree. No plotting and no HTML here: :mod:`.figures` draws, :mod:`.html` writes the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..gate.baseline import Run
from ..gate.compare import CaseComparison, compare_records
from ..gate.metrics import DEFAULT_DISPLAY, METRICS
from ..gate.significance import DEFAULT_ALPHA
from ..gate.thresholds import Threshold
from ..gate.multiplicity import DEFAULT_CORRECTION
from ..gate.verdict import Verdict, VerdictStatus, judge_record, resolve_verdicts
from ..record import Record
from ..session.pivot import Cell, by_class_count
from ..tasks.metrics import classification_scores


class ReportError(ValueError):
    """The report cannot be made (no runs, matplotlib missing); the message is one sentence for the user."""


NO_MATPLOTLIB = (
    "The HTML report draws its figures with matplotlib, which is not installed; "
    "install it with pip install 'pytest-vlmbench[report]'."
)


@dataclass(frozen=True)
class SummaryRow:
    """One item (record) of one run: the summary table's row."""

    run: str
    """The run's label (``1: a1b2c3d4``)."""
    record: Record
    verdict: VerdictStatus | None = None
    """The gate's verdict against the run before it; ``None`` for the first run."""
    verdict_lines: tuple[str, ...] = ()
    """The gate's lines behind the verdict (regressions, improvements, notes)."""


@dataclass(frozen=True)
class SweepPoint:
    """One class count of a model × strategy line: mean and sample std over seeds."""

    num_classes: int
    accuracy: float
    macro_f1: float
    accuracy_std: float = 0.0
    macro_f1_std: float = 0.0
    seeds: int = 1


@dataclass(frozen=True)
class SweepLine:
    """Accuracy and macro-F1 against the number of classes, for one dataset, model and strategy."""

    dataset: str
    model: str
    strategy: str
    points: tuple[SweepPoint, ...]

    @property
    def label(self) -> str:
        return f"{self.model} {self.strategy}"


@dataclass(frozen=True)
class HistoryStep:
    """One metric of one case in one run, and the gate's finding against the run before it."""

    value: float | None
    status: str | None = None
    """The gate's finding status (``regression``, ``improvement``, ``not significant``,
    ``undecided``, ``ok``, ``info``, ``missing``), ``not compared`` when the gate refused the
    pair (other hardware, changed data), ``None`` for the first run or a run without the case."""
    line: str = ""
    """The gate's one-line account of the change (``accuracy 0.912 -> 0.871 (-0.041 > 0, p=0.003)``)."""


@dataclass(frozen=True)
class CaseHistory:
    """One case (matching key) along the runs: each shown metric per run."""

    label: str
    metrics: Mapping[str, tuple[HistoryStep, ...]]


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, in the order it shows it."""

    title: str
    runs: Sequence[Run]
    run_labels: tuple[str, ...]
    summary: tuple[SummaryRow, ...]
    sweeps: tuple[SweepLine, ...]
    history: tuple[CaseHistory, ...]
    history_metrics: tuple[str, ...]
    produced_by: str
    """How the report was made, in words (no link): the command and the files."""
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA

    @property
    def latest(self) -> Run:
        return self.runs[-1]


def run_labels(runs: Sequence[Run]) -> tuple[str, ...]:
    """``1: a1b2c3d4``, ``2: bench.json``: numbered, so two runs of one commit stay apart."""
    return tuple(f"{i + 1}: {run.label}" for i, run in enumerate(runs))


def summary_rows(
    runs: Sequence[Run],
    labels: Sequence[str],
    thresholds: Mapping[str, Threshold],
    alpha: float,
    verdicts: Mapping[str, Verdict] | None = None,
) -> tuple[SummaryRow, ...]:
    """Every item of every run; from the second run on, with the gate's verdict against the run before.

    ``verdicts`` (by node id) are the ones the gate gave the last run's items during a pytest
    run, with each item's own thresholds (a ``vlmbench_gate`` marker); they are shown as given.
    The others are judged here, each run's items against the run before as one family under
    the gate's default correction (:mod:`~pytest_vlmbench.gate.multiplicity`).
    """
    rows = []
    for i, run in enumerate(runs):
        if i == 0:
            rows += [SummaryRow(labels[i], entry.record) for entry in run]
            continue
        given = [(verdicts or {}).get(entry.fullname) if i == len(runs) - 1 else None for entry in run]
        judged = resolve_verdicts([judge_record(e.record, runs[i - 1], thresholds, alpha, nodeid=e.fullname)
                                   for e, g in zip(run, given) if g is None], DEFAULT_CORRECTION)  # fmt: skip
        fresh = iter(judged)
        for entry, verdict in zip(run, given):
            verdict = verdict or next(fresh)
            lines = (*verdict.regressions, *verdict.improvements, *verdict.notes)
            rows.append(SummaryRow(labels[i], entry.record, verdict.status, lines))
    return tuple(rows)


def sweep_lines(records: Sequence[Record]) -> tuple[SweepLine, ...]:
    """Accuracy and macro-F1 per class count, one line per dataset × model × strategy.

    Grouped as the terminal's pivot groups them (:func:`~..session.pivot.by_class_count`:
    ``config.num_classes``, else the record's class list); several seeds of one count give
    their mean and sample std.
    """
    lines = []
    for (model, dataset, strategy), by_count in by_class_count(records).items():
        points = []
        for count in sorted(by_count):
            acc = Cell(tuple(r.metrics.accuracy for r in by_count[count]))
            f1 = Cell(tuple(r.metrics.macro_f1 for r in by_count[count]))
            points.append(SweepPoint(count, acc.mean, f1.mean, acc.std or 0.0, f1.std or 0.0, len(acc.values)))
        lines.append(SweepLine(dataset, model, strategy, tuple(points)))
    return tuple(lines)


@dataclass(frozen=True)
class ItemScores:
    """One item's confusion matrix (true class × answer, the last column the invalid answers) and per-class F1."""

    classes: tuple[str, ...]
    columns: tuple[str, ...]
    """The classes, then ``invalid``."""
    matrix: tuple[tuple[int, ...], ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]


def item_scores(record: Record) -> ItemScores:
    """Counted from the predictions with the metrics' own definitions (:mod:`pytest_vlmbench.tasks.metrics`),
    as the gate recomputes every metric from them (what the record stores is checked against them on
    load): F1 per class with ``zero_division=0``, an invalid answer credited to no class. NER tag
    sequences have no confusion matrix: their items count for no class."""
    classes = tuple(record.classes) or tuple(sorted({p.label for p in record.predictions if isinstance(p.label, str)}))
    pairs = [(p.label, p.prediction if isinstance(p.prediction, str) else None) for p in record.predictions if isinstance(p.label, str)]
    scores = classification_scores([label for label, _ in pairs], [answer for _, answer in pairs], classes)
    matrix = scores.confusion.matrix or tuple((0,) * (len(classes) + 1) for _ in classes)  # no items: all zero
    rows = [scores.per_class[c] for c in classes]
    return ItemScores(classes, scores.confusion.columns, matrix, tuple(r.f1 for r in rows), tuple(r.support for r in rows))


def history(
    runs: Sequence[Run], metrics: Sequence[str], thresholds: Mapping[str, Threshold], alpha: float
) -> tuple[CaseHistory, ...]:
    """Each case (in first-seen order) with each metric along the runs and the gate's finding per step.

    Step ``i`` is the gate's comparison of run ``i`` with run ``i - 1`` as its baseline, with the
    given thresholds: the verdict each night would have had.
    """
    keys: dict[str, Record] = {}
    for run in runs:
        for entry in run:
            keys.setdefault(entry.record.match_key(), entry.record)
    cases = []
    for key, first in keys.items():
        records = [run.by_key[key].record if key in run.by_key else None for run in runs]
        comparisons: list[CaseComparison | None] = [None]
        for i in range(1, len(runs)):
            prev, cur = records[i - 1], records[i]
            comparisons.append(
                None if prev is None or cur is None else compare_records(
                    prev, cur, thresholds, alpha=alpha, show=metrics, label=first.case_name(),
                    baseline_machine=runs[i - 1].machine_info, current_machine=runs[i].machine_info,
                )
            )  # fmt: skip
        by_metric = {}
        for name in metrics:
            spec = METRICS[name]
            steps = []
            for record, comparison in zip(records, comparisons):
                value = spec.value(record) if record is not None else None
                if comparison is not None and comparison.problem:
                    steps.append(HistoryStep(value, "not compared", comparison.problem))
                    continue
                finding = next((f for f in comparison.findings if f.metric.name == name), None) if comparison else None
                steps.append(HistoryStep(value, finding.status if finding else None, finding.line() if finding else ""))
            if any(step.value is not None for step in steps):
                by_metric[name] = tuple(steps)
        cases.append(CaseHistory(first.case_name(), by_metric))
    return tuple(cases)


def history_metrics(thresholds: Mapping[str, Threshold]) -> tuple[str, ...]:
    """The metrics followed along the runs: ``vlmbench compare``'s standard set, then the gated ones."""
    return tuple(dict.fromkeys([*DEFAULT_DISPLAY, *thresholds]))


def build_data(
    runs: Sequence[Run],
    *,
    thresholds: Mapping[str, Threshold] | None = None,
    alpha: float = DEFAULT_ALPHA,
    title: str = "pytest-vlmbench report",
    produced_by: str = "",
    verdicts: Mapping[str, Verdict] | None = None,
) -> ReportData:
    """All the report's pivots for ``runs`` (oldest first); the per-item figures are of the last run."""
    if not runs:
        raise ReportError("The report needs at least one run; give one or more saved run files.")
    thresholds = dict(thresholds or {})
    labels = run_labels(runs)
    shown = history_metrics(thresholds)
    return ReportData(
        title=title,
        runs=list(runs),
        run_labels=labels,
        summary=summary_rows(runs, labels, thresholds, alpha, verdicts),
        sweeps=sweep_lines([entry.record for entry in runs[-1]]),
        history=history(runs, shown, thresholds, alpha) if len(runs) > 1 else (),
        history_metrics=shown,
        produced_by=produced_by,
        thresholds=thresholds,
        alpha=alpha,
    )
