"""Compare one case (a record) of two runs, metric by metric, against thresholds.

Verdict of a metric that has a threshold:

- worse by more than the threshold: a **regression** -- for a quality metric only when the
  paired test also finds the drop significant (``p <= alpha``); otherwise it is reported as
  *not significant* or *undecided* (too few changed items) and passes;
- better by more than the threshold (and significant, for quality): an **improvement**;
- anything else: ok.

Cost metrics are single numbers per run, so they are gated on the threshold alone. They
are not compared at all when the two runs used different batch sizes (the matching key
ignores batch size, see :mod:`.baseline`), because speed and memory depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Literal

from ..record import Label, Record
from ..tasks import Task, task_named
from .baseline import hardware
from .metrics import METRICS, MetricSpec, fmt, fmt_p, p_text
from .multiplicity import Hypothesis
from .significance import DEFAULT_ALPHA, Direction, TestResult, mcnemar, paired_bootstrap
from .thresholds import Threshold

Status = Literal["regression", "improvement", "not significant", "undecided", "ok", "info", "missing"]


@dataclass(frozen=True)
class Finding:
    """One metric of one case, baseline against current."""

    metric: MetricSpec
    baseline: float | None
    current: float | None
    status: Status
    threshold: Threshold | None = None
    test: TestResult | None = None
    alpha: float = DEFAULT_ALPHA
    adjusted: float | None = None
    """The p-value after the run's correction (:mod:`.multiplicity`), once applied."""
    correction: str | None = None

    @property
    def delta(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    def change_text(self) -> str:
        """``-0.041`` for absolute thresholds, ``-15.5%`` for relative ones."""
        delta = self.delta
        if delta is None:
            return "n/a"
        if self.threshold is not None and self.threshold.relative:
            if self.baseline == 0:
                return "n/a%" if delta else "+0.0%"
            assert self.baseline is not None
            return f"{100 * delta / abs(self.baseline):+.1f}%"
        return fmt(delta, signed=True)

    def head(self) -> str:
        """The line up to its p-value, without the closing parenthesis: ``accuracy 0.912 -> 0.871 (-0.041 > 0.02``."""
        change = self.change_text()
        if self.threshold is not None and self.status in ("regression", "improvement", "not significant", "undecided"):
            change += f" > {self.threshold.text()}"
        return f"{self.metric.name} {fmt(self.baseline)} -> {fmt(self.current)} ({change}"

    @property
    def limit(self) -> float | None:
        """The threshold as an absolute change (a relative one times the baseline value)."""
        if self.threshold is None:
            return None
        if not self.threshold.relative:
            return self.threshold.limit
        return None if self.baseline is None else self.threshold.limit * abs(self.baseline)

    def line(self) -> str:
        """``accuracy 0.912 -> 0.871 (-0.041 > 0.02, p=0.003)``."""
        name = self.metric.name
        if self.status == "missing":
            return f"{name}: not recorded in {'the baseline' if self.baseline is None else 'this run'}"
        head, _, first = self.head().partition(" (")
        parts = [first]
        if self.test is not None and self.status != "ok" and self.delta:
            if self.test.p_value is None:
                parts.append(self.test.reason or "undecided")
            else:
                significant = self.status != "not significant"
                parts.append(p_text(self.test.p_value, self.alpha, significant, self.adjusted, self.correction))
        return f"{head} ({', '.join(parts)})"

    def as_hypothesis(self) -> Hypothesis:
        """This finding (a gated quality metric) as a member of the run's family (:mod:`.multiplicity`)."""
        test = self.test
        candidate = self.status in ("regression", "not significant", "undecided")
        return Hypothesis(
            self.metric.name, self.head(), candidate, test.p_value if test and candidate else None, self.alpha,
            reason=test.reason if test else None, n=test.n_pairs if test else 0, changed=test.n_changed if test else 0,
            baseline=self.baseline, limit=self.limit, se=test.se if test else None,
        )  # fmt: skip


@dataclass
class CaseComparison:
    """All findings for one case matched between two runs."""

    label: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things said about the pair as a whole (batch size differs, items not paired ...)."""
    problem: str | None = None
    """Why the case could not be compared at all (dataset changed, other hardware)."""
    problem_kind: Literal["hardware", "dataset"] | None = None

    def with_status(self, *statuses: Status) -> list[Finding]:
        return [f for f in self.findings if f.status in statuses]

    @property
    def regressions(self) -> list[Finding]:
        return self.with_status("regression")

    @property
    def improvements(self) -> list[Finding]:
        return self.with_status("improvement")


@dataclass(frozen=True)
class Pairs:
    """The items both runs answered, in the baseline's order."""

    labels: list[Label]
    baseline: list[Label | None]
    current: list[Label | None]
    n_baseline: int
    n_current: int


def pair_predictions(baseline: Record, current: Record) -> Pairs | None:
    """Pair the two records' predictions on item id; ``None`` when either has none."""
    if not baseline.predictions or not current.predictions:
        return None
    by_id = {p.id: p for p in current.predictions}
    labels: list[Label] = []
    b: list[Label | None] = []
    c: list[Label | None] = []
    for pred in baseline.predictions:
        other = by_id.get(pred.id)
        if other is not None:
            labels.append(pred.label)
            b.append(pred.prediction)
            c.append(other.prediction)
    return Pairs(labels, b, c, len(baseline.predictions), len(current.predictions))


def significance(
    spec: MetricSpec, pairs: Pairs | None, task: Task, classes: Sequence[str], alpha: float, direction: Direction = None
) -> TestResult | None:
    """The paired test for a quality metric (one-sided towards ``direction``), ``None`` for cost metrics.

    The side is given, not read off the recorded values: when only some items pair up, the
    paired items could have moved the other way, and must then not prove a regression.
    """
    if not spec.quality:
        return None
    if pairs is None or not pairs.labels:
        reason = "no per-item predictions to pair" if pairs is None else "no items in common"
        return TestResult("none", 0, 0, None, reason)
    if spec.test == "mcnemar":
        if spec.name == "invalid_rate":  # "good" is a valid answer
            good_b, good_c = [p is not None for p in pairs.baseline], [p is not None for p in pairs.current]
        else:
            good_b = [p == t for p, t in zip(pairs.baseline, pairs.labels)]
            good_c = [p == t for p, t in zip(pairs.current, pairs.labels)]
        return mcnemar(good_b, good_c, alpha, direction)
    return paired_bootstrap(
        spec.name, pairs.labels, pairs.baseline, pairs.current, classes,
        task=task, higher_is_better=spec.higher_is_better, alpha=alpha, direction=direction,
    )  # fmt: skip


def judge(
    spec: MetricSpec,
    baseline: float | None,
    current: float | None,
    threshold: Threshold | None,
    test: Callable[[Direction], TestResult | None],
    alpha: float,
) -> Finding:
    """The verdict for one metric (see the module docstring).

    ``test(direction)`` runs the significance test; it is called only when its result
    matters (a change past the threshold, or a display-only metric): a bootstrap is not free.
    """
    if baseline is None or current is None:
        return Finding(spec, baseline, current, "missing", threshold, None, alpha)
    worse = spec.worsening(baseline, current)
    if threshold is None:
        side: Direction = "worse" if worse > 0 else "better" if worse < 0 else None
        return Finding(spec, baseline, current, "info", None, test(side), alpha)
    for change, verdict in ((worse, "regression"), (-worse, "improvement")):
        if threshold.exceeded(baseline, change):
            result = test("worse" if verdict == "regression" else "better")
            status: Status = verdict  # type: ignore[assignment]
            if result is not None and not result.significant(alpha):
                status = "undecided" if result.p_value is None else "not significant"
                if verdict == "improvement":
                    status = "ok"  # an unproven improvement is not worth a line
            return Finding(spec, baseline, current, status, threshold, result, alpha)
    return Finding(spec, baseline, current, "ok", threshold, None, alpha)


def dataset_change(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str | None:
    """What differs between two dataset fingerprints, or ``None`` when the data is the same.

    A fingerprint is a mapping with a ``sha256`` summary (``datasets.fingerprint``). The name
    and source are not compared: a local path differs between machines while the data is the
    same. An absent fingerprint is never a change.
    """
    if not before or not after:
        return None
    if before.get("sha256") and before.get("sha256") == after.get("sha256"):
        return None
    keys = [k for k in dict.fromkeys([*before, *after]) if k not in ("name", "source", "sha256")]
    differing = [k for k in keys if before.get(k) != after.get(k)]
    if not differing:
        return None
    parts = [
        f"{k} {before.get(k)} -> {after.get(k)}" if isinstance(before.get(k), (int, float, type(None))) else f"{k} differs"
        for k in differing
    ]
    return ", ".join(parts)


def compare_records(
    baseline: Record,
    current: Record,
    thresholds: Mapping[str, Threshold],
    *,
    alpha: float = DEFAULT_ALPHA,
    show: Iterable[str] = (),
    always_test: bool = False,
    evidence: bool = False,
    label: str | None = None,
    baseline_machine: Mapping[str, Any] | None = None,
    current_machine: Mapping[str, Any] | None = None,
) -> CaseComparison:
    """Compare two records of the same case; thresholded metrics first, then ``show`` ones.

    ``always_test`` runs the significance test for every quality metric shown, not only
    for changes past a threshold (the ``vlmbench compare`` table marks them all).
    ``evidence`` runs it, towards "worse", for every gated quality metric: the gate's family
    and detectable drops need each one's changed items (:mod:`.multiplicity`, :mod:`.power`).
    """
    case = CaseComparison(label or current.label)
    hw_base, hw_cur = hardware(baseline, baseline_machine), hardware(current, current_machine)
    if hw_base.differs(hw_cur):
        case.problem = (
            f"the baseline was measured on {hw_base} but this run on {hw_cur}; "
            f"keep one baseline per GPU type (see docs/ci.md)"
        )
        case.problem_kind = "hardware"
        return case
    changed = dataset_change(baseline.dataset_fingerprint, current.dataset_fingerprint)
    if changed is not None:
        case.problem = f"the dataset changed ({changed}), so results are not comparable"
        case.problem_kind = "dataset"
        return case
    if baseline.task != current.task:
        case.problem = f"the task changed ({baseline.task} -> {current.task}), so results are not comparable"
        case.problem_kind = "dataset"
        return case
    if baseline.classes != current.classes:
        case.problem = "the class list changed, so results are not comparable"
        case.problem_kind = "dataset"
        return case

    batch_base, batch_cur = baseline.config.batch_size, current.config.batch_size
    compare_cost = batch_base == batch_cur
    if not compare_cost:
        case.notes.append(f"batch size {batch_base} -> {batch_cur}: speed, memory and energy not compared")

    pairs = pair_predictions(baseline, current)
    if pairs is not None and pairs.labels and (len(pairs.labels) < max(pairs.n_baseline, pairs.n_current)):
        case.notes.append(
            f"only {len(pairs.labels)} of {pairs.n_baseline} baseline and {pairs.n_current} current items pair up by id"
        )
    classes = list(current.classes)
    names = list(dict.fromkeys([*thresholds, *show]))
    for name in names:
        spec = METRICS[name]
        if not spec.quality and not compare_cost:
            continue
        base_value, cur_value = spec.value(baseline), spec.value(current)
        if base_value is None and cur_value is None:
            continue  # e.g. energy on CPU: nothing to say
        test = partial(significance, spec, pairs, task_named(current.task), classes, alpha)
        finding = judge(spec, base_value, cur_value, thresholds.get(name), test, alpha)
        if always_test and finding.test is None and finding.delta:
            side: Direction = "worse" if spec.worsening(finding.baseline or 0.0, finding.current or 0.0) > 0 else "better"
            finding = replace(finding, test=test(side))
        elif evidence and finding.test is None and spec.quality and name in thresholds:
            finding = replace(finding, test=test("worse"))
        case.findings.append(finding)
    return case
