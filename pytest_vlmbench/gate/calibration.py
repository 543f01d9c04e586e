"""Thresholds and alpha from A/A runs (``vlmbench calibrate``, issue #20).

Batch size, engine, hardware and plain reruns change some answers of a model that did not
change. A gate whose thresholds sit inside that noise fails nights on which nothing
happened, so the thresholds are read off runs that *should* agree: the same suite at batch
1, 8 and 16, with prefix sharing on and off, on another engine, rerun. For every case
(matched by :meth:`Record.match_key <pytest_vlmbench.record.Record.match_key>`, which
leaves out the batch size, as the gate does) this module measures how far those runs
disagree -- the share of items whose answer flips, each metric's spread, the largest
worsening between any two of them and the gate's own paired test on every ordered pair --
and suggests the smallest threshold and the largest alpha under which none of the A/A
pairs would fail the gate. The method is in docs/gate.md ("Calibrating thresholds").

A plain library: no pytest, no torch. The significance test is the gate's
(:func:`.compare.significance`), not a copy, so a suggestion means what the gate will do.
"""

from __future__ import annotations

import configparser
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations, permutations
from pathlib import Path

from ..record import Record
from ..tasks import task_named
from .baseline import Run
from .compare import dataset_change, pair_predictions, significance
from .metrics import METRICS, GateError, fmt_p, get_metric
from .series import _unique_labels
from .significance import DEFAULT_ALPHA
from .thresholds import parse_alpha, parse_layer

DEFAULT_METRICS = ("accuracy", "macro_f1", "invalid_rate")
THRESHOLD_GRID = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
"""Suggested thresholds are rounded *up* to one of these, so a snippet reads like one a person wrote."""
ALPHA_GRID = (0.05, 0.01, 0.005, 0.001, 0.0005, 0.0001)
"""Suggested alphas, largest first: the default 0.05 and the usual stricter levels."""
TEST_ALPHA = DEFAULT_ALPHA
"""The alpha the A/A tests run at. It only decides when a test is *undecided* (too few changed
items); at every smaller alpha of :data:`ALPHA_GRID` more changed items are needed, so a pair
undecided here cannot fail the gate at any suggested alpha."""


@dataclass(frozen=True)
class MetricCalibration:
    """One metric of one case across its A/A runs."""

    metric: str
    values: tuple[float, ...]
    """The metric in each run that has the case (in the order the runs were given)."""
    spread: float
    """``max - min`` of :attr:`values`."""
    std: float
    """Sample standard deviation of :attr:`values`."""
    worst: float
    """The largest worsening, in the metric's direction, from any run to any other (ordered pairs)."""
    threshold: float | None
    """The smallest :data:`THRESHOLD_GRID` value not below :attr:`worst`; ``None`` when even 0.5 is."""
    p_min: float | None
    """The smallest one-sided ("worse") p-value of the gate's paired test over the ordered pairs;
    ``None`` when no pair had a p-value (nothing paired, or too few changed items at :data:`TEST_ALPHA`)."""


@dataclass(frozen=True)
class CaseCalibration:
    """One case (matching key) across the runs that have it."""

    label: str
    runs: tuple[str, ...]
    """Labels of the runs that have the case."""
    n: int = 0
    """Items present in every one of those runs' predictions."""
    flip_mean: float = 0.0
    """Mean over run pairs of the share of the ``n`` items whose prediction differs."""
    flip_max: float = 0.0
    metrics: tuple[MetricCalibration, ...] = ()
    problem: str | None = None
    """Why the case is not calibrated (one sentence); then the numbers above are empty."""

    @property
    def calibrated(self) -> bool:
        return self.problem is None

    @property
    def p_min(self) -> float | None:
        """The smallest A/A p-value over the metrics."""
        ps = [m.p_min for m in self.metrics if m.p_min is not None]
        return min(ps) if ps else None

    @property
    def alpha(self) -> float | None:
        """The largest :data:`ALPHA_GRID` value strictly below :attr:`p_min` (0.05 when there is no
        p-value); ``None`` when even 0.0001 is not below it: the runs disagree systematically."""
        return suggest_alpha(self.p_min)


@dataclass(frozen=True)
class Suggestion:
    """The run-wide suggestion: what one ini section can hold for the whole suite."""

    thresholds: dict[str, float | None]
    """Per metric the largest case threshold (``None``: some case needs more than 0.5)."""
    alpha: float
    """The smallest case alpha; a systematic case counts as the grid's smallest (its thresholds,
    which its A/A worsening does not exceed, are what keeps it passing)."""
    systematic: list[CaseCalibration]
    """Cases whose A/A runs differ significantly even at alpha 0.0001."""

    @property
    def fail_on(self) -> list[str]:
        """The thresholds as ``vlmbench_fail_on`` lines; ``METRIC:off`` where no grid value holds the A/A runs."""
        return [f"{name}:{'off' if t is None else f'{t:g}'}" for name, t in self.thresholds.items()]


def suggest(cases: Sequence[CaseCalibration]) -> Suggestion:
    """Per metric the largest case threshold, and the smallest case alpha, over the calibrated cases:
    one setting for a whole suite must hold every case's A/A runs."""
    done = [c for c in cases if c.calibrated]
    thresholds: dict[str, float | None] = {}
    for name in dict.fromkeys(m.metric for c in done for m in c.metrics):
        found = [m.threshold for c in done for m in c.metrics if m.metric == name]
        limits = [t for t in found if t is not None]
        thresholds[name] = max(limits) if len(limits) == len(found) else None
    alpha = min((c.alpha if c.alpha is not None else ALPHA_GRID[-1] for c in done), default=ALPHA_GRID[0])
    return Suggestion(thresholds, alpha, [c for c in done if c.alpha is None])


def suggest_threshold(worst: float) -> float | None:
    """The smallest grid value ``>= worst``, compared exactly as the gate compares (a threshold is
    exceeded when the worsening is ``>`` it), so the A/A runs stay inside it."""
    return next((t for t in THRESHOLD_GRID if worst <= t), None)


def suggest_alpha(p_min: float | None) -> float | None:
    """The largest grid alpha strictly below ``p_min`` (the gate fails at ``p <= alpha``)."""
    if p_min is None:
        return ALPHA_GRID[0]
    return next((a for a in ALPHA_GRID if a < p_min), None)


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(get_metric(m, "the metric list").name for m in metrics))
    if not names:
        raise GateError("Give at least one metric to calibrate, such as accuracy.")
    cost = [n for n in names if not METRICS[n].quality]
    if cost:
        raise GateError(
            f"{cost[0]} is a cost metric, which A/A runs at other batch sizes or on other engines do not share, "
            f"so calibrate suggests thresholds for quality metrics only (accuracy, macro_f1, invalid_rate, ...)."
        )
    return names


def _mismatch(records: Sequence[tuple[str, Record]]) -> str | None:
    """Why the records are not runs of the same data and task (see :func:`.compare.dataset_change`)."""
    (first_label, first), *rest = records
    for label, record in rest:
        where = f"{first_label} and {label}"
        changed = dataset_change(first.dataset_fingerprint, record.dataset_fingerprint)
        if changed is not None:
            return f"the dataset differs between {where} ({changed}), so these are not A/A runs."
        if record.task != first.task:
            return f"the task differs between {where} ({first.task}, {record.task}), so these are not A/A runs."
        if record.classes != first.classes:
            return f"the class list differs between {where}, so these are not A/A runs."
    return None


def _metric(name: str, records: Sequence[Record]) -> MetricCalibration | None:
    spec = METRICS[name]
    present = [(r, v) for r in records if (v := spec.value(r)) is not None]
    if len(present) < 2:
        return None  # e.g. an NER metric of a classification case: nothing to say
    values = tuple(v for _, v in present)
    worst, p_min = 0.0, None
    for (base, base_value), (cur, cur_value) in permutations(present, 2):
        worst = max(worst, spec.worsening(base_value, cur_value))
        test = significance(spec, pair_predictions(base, cur), task_named(cur.task), list(cur.classes), TEST_ALPHA, "worse")
        if test is not None and test.p_value is not None:
            p_min = test.p_value if p_min is None else min(p_min, test.p_value)
    return MetricCalibration(
        name, values, max(values) - min(values), statistics.stdev(values), worst, suggest_threshold(worst), p_min
    )


def _case(label: str, present: Sequence[tuple[str, Record]], metrics: Sequence[str]) -> CaseCalibration:
    runs = tuple(run_label for run_label, _ in present)
    if len(present) < 2:
        only = f"only in {runs[0]}" if runs else "in no run"
        return CaseCalibration(label, runs, problem=f"it is {only}, and calibrating needs it in at least two runs.")
    problem = _mismatch(present)
    if problem is not None:
        return CaseCalibration(label, runs, problem=problem)
    records = [r for _, r in present]
    answers = [{p.id: p.prediction for p in r.predictions} for r in records]
    common = set(answers[0]).intersection(*answers[1:])
    if not common:
        return CaseCalibration(label, runs, problem="its runs have no item in common (or no per-item predictions), so nothing can be paired.")
    flips = [sum(a[i] != b[i] for i in common) / len(common) for a, b in combinations(answers, 2)]
    found = (_metric(name, records) for name in metrics)
    return CaseCalibration(
        label, runs, len(common), statistics.fmean(flips), max(flips), tuple(m for m in found if m is not None)
    )


def run_labels(runs: Sequence[Run]) -> list[str]:
    """Each run's label: its short commit id, but A/A runs often share a commit, so then the file
    names, and when those repeat too, numbered."""
    labels = [run.label for run in runs]
    if len(set(labels)) < len(labels):
        labels = [Path(run.source.strip("'\"")).name for run in runs]
    if len(set(labels)) < len(labels):
        labels = [f"{i + 1}:{label}" for i, label in enumerate(labels)]
    return labels


def calibrate(runs: Sequence[Run], metrics: Sequence[str] = DEFAULT_METRICS) -> list[CaseCalibration]:
    """Calibrate every case of ``runs`` (A/A runs: the same suite, which should agree).

    :class:`GateError` (one sentence) for fewer than two runs, an unknown or cost metric, or
    runs that share no case.
    """
    if len(runs) < 2:
        raise GateError("Give at least two runs to calibrate: A/A runs of the same suite (another batch size, engine, or a rerun).")
    names = _check_metrics(metrics)
    order: dict[str, Record] = {}
    for run in runs:
        for entry in run:
            order.setdefault(entry.record.match_key(), entry.record)
    labels, names_of_runs = _unique_labels(list(order.values())), run_labels(runs)
    cases = [
        _case(labels[key], [(lb, run.by_key[key].record) for lb, run in zip(names_of_runs, runs) if key in run.by_key], names)
        for key in order
    ]
    if not any(len(c.runs) >= 2 for c in cases):
        raise GateError(f"The {len(runs)} runs have no case in common (model, dataset, strategy and config), so there is nothing to calibrate.")
    return cases


def fmt_spread(value: float) -> str:
    """Four decimals, as the threshold grid needs (0.001 steps), and a tiny non-zero spread stays visible."""
    return f"{value:.4f}" if value == 0 or value >= 5e-5 else f"{value:.1e}"


def case_line(case: CaseCalibration) -> str:
    """One case's numbers and suggestion on one line (the snippet's comments, the CLI's notes)."""
    if case.problem is not None:
        return f"{case.label}: not calibrated: {case.problem}"
    parts = [f"n={case.n}", f"flips {100 * case.flip_mean:.2f}% mean, {100 * case.flip_max:.2f}% max"]
    for m in case.metrics:
        limit = "none up to 0.5" if m.threshold is None else f"{m.threshold:g}"
        parts.append(f"{m.metric} spread {fmt_spread(m.spread)} -> {limit}")
    p = "no p" if case.p_min is None else f"min p {fmt_p(case.p_min)}"
    alpha = "systematic: no alpha down to 0.0001 keeps it passing" if case.alpha is None else f"alpha {case.alpha:g}"
    return f"{case.label}: {', '.join(parts)}, {p} -> {alpha}"


def write_snippet(calibration: Sequence[CaseCalibration], path: str | Path, runs: Sequence[str] = ()) -> None:
    """Write the run-wide suggestion (:func:`suggest`) as a ``[pytest]`` ini section, preceded by its
    evidence in ``#`` comments: the command (``runs``: the files given) and one line per case.

    Paste it into pytest.ini/tox.ini, or give it to the gate to read (:func:`read_snippet`).
    :class:`GateError` when no case was calibrated: an empty ``vlmbench_fail_on`` would silently
    mean the gate's default instead. ``OSError`` when ``path`` cannot be written.
    """
    suggestion = suggest(calibration)
    if not suggestion.thresholds:
        raise GateError("No case was calibrated, so there are no thresholds to write; the table says why for each case.")
    lines = [
        "# Thresholds from A/A runs (runs that should agree), written by:",
        f"# vlmbench calibrate {' '.join(runs)}".rstrip(),
        "# Per case: items in all runs, answers that flip between two runs, each metric's spread -> threshold, alpha.",
        *(f"# {case_line(c)}" for c in calibration),
    ]
    for name, t in suggestion.thresholds.items():
        if t is None:
            lines.append(f"# {name}: no threshold up to 0.5 keeps the A/A runs inside, so it is off; find out why they differ.")
    if suggestion.systematic:
        lines.append("# Systematic (another batch size or engine moves answers one way): "
                     + "; ".join(c.label for c in suggestion.systematic))  # fmt: skip
    lines += ["[pytest]", "vlmbench_fail_on =", *(f"    {line}" for line in suggestion.fail_on)]
    lines.append(f"vlmbench_alpha = {suggestion.alpha:g}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_snippet(path: str | Path) -> tuple[list[str], float | None]:
    """The ``vlmbench_fail_on`` lines and ``vlmbench_alpha`` of a snippet's ``[pytest]`` section.

    Every problem is one :class:`GateError` sentence naming the file: missing, unreadable, not an
    ini file, no ``[pytest]`` section or neither key, a threshold or alpha the gate would refuse.
    """
    where = repr(str(path))
    path = Path(path)
    if not path.is_file():
        raise GateError(f"Calibration file {where} {'is not a file' if path.exists() else 'does not exist'}.")
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise GateError(f"Calibration file {where} cannot be read ({exc.__class__.__name__}).") from None
    except configparser.Error as exc:
        first = str(exc).splitlines()[0].rstrip(".")
        raise GateError(f"Calibration file {where} is not an ini file ({first}).") from None
    if not parser.has_section("pytest"):
        raise GateError(f"Calibration file {where} has no [pytest] section; write it with vlmbench calibrate --write.")
    section = parser["pytest"]
    if "vlmbench_fail_on" not in section and "vlmbench_alpha" not in section:
        raise GateError(f"Calibration file {where} sets neither vlmbench_fail_on nor vlmbench_alpha in its [pytest] section.")
    fail_on = [line.strip() for line in section.get("vlmbench_fail_on", "").splitlines() if line.strip()]
    parse_layer(fail_on, f"{where} vlmbench_fail_on")  # refuse now what the gate would refuse later
    raw = section.get("vlmbench_alpha")
    alpha = parse_alpha(raw, f"{where} vlmbench_alpha") if raw is not None else None
    return fail_on, alpha
