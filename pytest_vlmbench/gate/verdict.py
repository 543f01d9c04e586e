"""The gate's verdict on one evaluated item, the run's family of verdicts, and the gate's terminal report.

:func:`judge_record` compares a fresh record with its baseline record (and with the floors,
baseline or not) and says, in a :class:`Verdict`, what happened and which lines fail the item
when it finishes. The plugin (:mod:`pytest_vlmbench.plugin.gate`) calls it after each
evaluation; verdicts travel on the test reports to the xdist controller as plain JSON
(:meth:`Verdict.to_json`). When the run ends, :func:`resolve_verdicts` adjusts every item's
p-values as one family (:mod:`.multiplicity`) and gives the final verdicts, which
:func:`gate_report_lines` turns into the ``vlmbench gate`` section.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast, get_args

from ..record import Record
from .baseline import Run
from .compare import compare_records
from .flips import case_flips
from .metrics import GateError, fmt
from .multiplicity import Correction, Hypothesis
from .power import adjust_family, detectable_text
from .thresholds import Floor, Threshold

VerdictStatus = Literal["ok", "missing", "not compared", "regressed", "below floor", "improved", "undecided", "not significant"]
"""``missing``: no baseline record; ``not compared``: other hardware or changed data;
otherwise the most serious finding (regressed > below floor > improved > undecided > not significant > ok)."""

FIRST_FLIPS = 5
"""Item ids a regression's failure text names (``vlmbench diff`` lists them all)."""


@dataclass(frozen=True)
class Verdict:
    """What the gate concluded about one item's record."""

    nodeid: str
    label: str
    """The case: ``model dataset strategy``."""
    status: VerdictStatus
    fail: tuple[str, ...] = ()
    """Why the item failed when it finished, one line each; empty: it passed then."""
    regressions: tuple[str, ...] = ()
    improvements: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Said about the case without failing it (not significant, undecided, not compared ...)."""
    hypotheses: tuple[Hypothesis, ...] = ()
    """The gated quality metrics, with their raw p-values (adjusted once resolved)."""
    fixed: tuple[str, ...] = ()
    """Regression lines no correction touches: cost metrics past their thresholds."""
    floors: tuple[str, ...] = ()
    """Metrics beyond their ``--vlmbench-min`` bound."""
    context: tuple[str, ...] = ()
    """Notes about the pair as a whole (batch sizes differ, items not paired, a floor not recorded ...)."""
    flips: str = ""
    """How many items flipped each way, the first ids, and the ``vlmbench diff`` command."""
    late: tuple[str, ...] = ()
    """Regressions found when the run ended, after the correction: the item had passed when it finished."""
    alone: bool = False
    """Out of the run's family (a ``correction="none"`` marker): judged at its own alpha."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, as it rides on a test report."""
        data: dict[str, Any] = {"nodeid": self.nodeid, "label": self.label, "status": self.status, "flips": self.flips,
                                "alone": self.alone}  # fmt: skip
        for key in ("fail", "regressions", "improvements", "notes", "fixed", "floors", "context", "late"):
            data[key] = list(getattr(self, key))
        data["hypotheses"] = [h.to_json() for h in self.hypotheses]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """Read back :meth:`to_json`'s output; :class:`GateError` for anything else."""
        status = data.get("status")
        if status not in get_args(VerdictStatus):
            raise GateError(f"A gate verdict has the unknown status {status!r}.")

        def lines(key: str) -> tuple[str, ...]:
            return tuple(str(line) for line in data.get(key) or ())

        return cls(
            str(data.get("nodeid", "")), str(data.get("label", "")), cast(VerdictStatus, status),
            lines("fail"), lines("regressions"), lines("improvements"), lines("notes"),
            tuple(Hypothesis.from_json(h) for h in data.get("hypotheses") or ()),
            lines("fixed"), lines("floors"), lines("context"), str(data.get("flips") or ""), lines("late"),
            bool(data.get("alone")),
        )  # fmt: skip

    def settled(self) -> Verdict:
        """Status, regressions and notes from the parts (the fixed lines, floors and hypotheses)."""
        quality = tuple(h.line() for h in self.hypotheses if h.regressed)
        unproven = tuple(h.line() for h in self.hypotheses if h.candidate and not h.regressed)
        regressions = (*self.fixed, *quality)
        status: VerdictStatus
        if self.status in ("missing", "not compared"):
            status = "regressed" if regressions else "below floor" if self.floors else self.status
        elif regressions:
            status = "regressed"
        elif self.floors:
            status = "below floor"
        elif self.improvements:
            status = "improved"
        elif any(h.candidate and h.p_value is None for h in self.hypotheses):
            status = "undecided"
        elif unproven:
            status = "not significant"
        else:
            status = "ok"
        return replace(self, status=status, regressions=regressions, notes=(*self.context, *unproven))


def check_floors(record: Record, floors: Mapping[str, Floor]) -> tuple[list[str], list[str]]:
    """``(failing lines, notes)``: metrics beyond their bound; bounds on metrics the record lacks."""
    failing, notes = [], []
    for floor in floors.values():
        value = floor.metric.value(record)
        if value is None:
            notes.append(f"{floor.metric.name} is not recorded, so --vlmbench-min {floor} was not checked")
        elif floor.breached(value):
            failing.append(floor.line(value))
    return failing, notes


def flips_text(baseline: Record, current: Record, source: str, run_file: str | None, name: str) -> str:
    """``12 items right -> wrong (first: a, b, ...), 3 wrong -> right; all: vlmbench diff BASE RUN 'name'``."""
    flips = case_flips(baseline, current)
    if not flips.broke and not flips.fixed:
        return ""
    first = ", ".join(f.id for f in flips.broke[:FIRST_FLIPS]) + (", ..." if len(flips.broke) > FIRST_FLIPS else "")
    text = f"{len(flips.broke)} items right -> wrong" + (f" (first: {first})" if first else "")
    text += f", {len(flips.fixed)} wrong -> right"
    if run_file:
        return text + f"; all of them: vlmbench diff {shlex.quote(source)} {shlex.quote(run_file)} {shlex.quote(name)}"
    return text + "; save the run (--vlmbench-json PATH) to list them all with vlmbench diff"


def judge_record(
    record: Record,
    baseline: Run | None,
    thresholds: Mapping[str, Threshold],
    alpha: float,
    *,
    nodeid: str,
    require_baseline: bool = False,
    floors: Mapping[str, Floor] | None = None,
    sure: float | None = None,
    run_file: str | None = None,
) -> Verdict:
    """Compare ``record`` with its match in ``baseline`` under ``thresholds`` and ``alpha``, and with ``floors``.

    No match: ``missing``, failing only with ``require_baseline``. Other hardware fails (the
    baseline is wrong for every item); a changed dataset is like a missing baseline. ``sure``:
    the raw p at or below which a quality regression fails the item at once whatever the
    correction decides later (:func:`.multiplicity.sure_alpha`); ``None``: no correction, the
    raw p decides. ``run_file``: where this run is saved, for the ``vlmbench diff`` command.
    """
    label = record.label
    below, floor_notes = check_floors(record, floors or {})
    entry = baseline.find(record) if baseline is not None else None
    if baseline is None or entry is None:
        fail = tuple(below)
        if baseline is not None and require_baseline:
            fail = (f"no baseline record for {label} (with this config) in {baseline.source}", *fail)
        status: VerdictStatus = "below floor" if below else "missing"
        return Verdict(nodeid, label, status, fail, floors=tuple(below), notes=tuple(floor_notes), context=tuple(floor_notes))
    case = compare_records(
        entry.record, record, thresholds, alpha=alpha, label=label, baseline_machine=baseline.machine_info, evidence=True
    )
    if case.problem is not None:
        failing = case.problem_kind == "hardware" or require_baseline
        fail = ((f"not compared with the baseline: {case.problem}",) if failing else ()) + tuple(below)
        notes = (case.problem, *floor_notes)
        return Verdict(nodeid, label, "not compared", fail, floors=tuple(below), notes=notes, context=notes)
    hypotheses = tuple(f.as_hypothesis() for f in case.findings if f.metric.quality and f.threshold is not None)
    hypotheses = tuple(replace(h, sure=h.regressed and (sure is None or (h.p_value or 1.0) <= sure)) for h in hypotheses)
    fixed = tuple(f.line() for f in case.regressions if not f.metric.quality)
    context = (*case.notes, *floor_notes, *(f.line() for f in case.with_status("missing")))  # outside the family
    flips = flips_text(entry.record, record, baseline.source.strip("'\""), run_file, nodeid.rpartition("::")[2])
    verdict = Verdict(
        nodeid, label, "ok", hypotheses=hypotheses, fixed=fixed, floors=tuple(below), context=context, flips=flips,
        improvements=tuple(f.line() for f in case.improvements),
    ).settled()  # fmt: skip
    sure_lines = tuple(h.line() for h in hypotheses if h.sure)
    if sure is not None:  # say why it fails before the correction has the whole run
        sure_lines = tuple(f"{line[:-1]} <= {sure:.2g}: significant after the correction, whatever the other items show)"
                           for line in sure_lines)  # fmt: skip
    flipped = (flips,) if sure_lines and flips else ()
    return replace(verdict, fail=(*fixed, *sure_lines, *below, *flipped))


def resolve_verdicts(verdicts: Sequence[Verdict], correction: Correction) -> list[Verdict]:
    """The final verdicts: every compared item's hypotheses adjusted as one family under ``correction``.

    A regression of an item that passed when it finished (its raw p was not small enough to be
    sure) is listed in :attr:`Verdict.late`, with the flips.
    """
    compared = [i for i, v in enumerate(verdicts) if v.hypotheses]
    adjusted = adjust_family([verdicts[i].hypotheses for i in compared], correction)
    out = list(verdicts)
    for i, hypotheses in zip(compared, adjusted):
        verdict = replace(verdicts[i], hypotheses=tuple(hypotheses)).settled()
        late = () if verdict.fail else tuple(h.line() for h in hypotheses if h.regressed and not h.sure)
        out[i] = replace(verdict, late=(*late, verdict.flips) if late and verdict.flips else late)
    return out


def detectable_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """Per compared item and gated quality metric: ``detectable >= 0.023``, and a flag where the
    threshold is below it (one sentence; the item is still gated)."""
    lines = []
    for v in verdicts:
        for h in v.hypotheses:
            lines.append(f"{v.nodeid}: {detectable_text(h)}")
            if h.limit and (h.detectable is None or h.limit < h.detectable):
                lines.append(
                    f"    its threshold {h.metric}:{fmt(h.limit)} is below what this comparison can detect: "
                    "a smaller drop passes unseen."
                )
    return lines


def gate_report_lines(
    baseline: Run | None, origin: str, verdicts: Sequence[Verdict], correction: Correction = "none"
) -> list[str]:
    """The gate's terminal section (of resolved verdicts); a line starting with ``==`` is the section title."""
    lines = ["== vlmbench gate =="]
    if baseline is not None:
        about = [f"commit {baseline.label}"] if baseline.commit_info.get("id") else []
        about += [baseline.datetime] if baseline.datetime else []
        lines.append(f"baseline: {baseline.source} ({', '.join([*about, f'from {origin}'])})")
        family = sum(len(v.hypotheses) for v in verdicts)
        how = {"holm": "Holm (family-wise error)", "bh": "Benjamini-Hochberg (false discovery rate)"}.get(correction)
        lines.append(f"correction: {how} over {family} test{'s' if family != 1 else ''}" if how else "correction: none (each item at its own alpha)")
    else:
        lines.append("no baseline: floors (--vlmbench-min) only")
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    lines.append(f"{len(verdicts)} compared: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    for v in verdicts:
        if v.late:
            lines.append(f"REGRESSED after the correction (the item had passed) {v.nodeid}:")
            lines.extend(f"    {text}" for text in v.late)
    for title, key in (("REGRESSED", "regressions"), ("BELOW FLOOR", "floors"), ("improved", "improvements")):
        for v in verdicts:
            texts: tuple[str, ...] = tuple(t for t in getattr(v, key) if t not in v.late)
            if texts:
                lines.append(f"{title} {v.nodeid}:")
                lines.extend(f"    {text}" for text in texts)
    for v in verdicts:
        if v.status == "missing" and baseline is not None:
            lines.append(f"no baseline {v.nodeid}: {v.label} is not in the baseline" + (" (failed)" if v.fail else ""))
        if v.notes:
            title = "not compared" if v.status == "not compared" else "note"
            lines.append(f"{title} {v.nodeid}:")
            lines.extend(f"    {text}" for text in v.notes)
    detectable = detectable_lines(verdicts)
    if detectable:
        lines += ["detectable drops (80% power, at the correction's worst-case level):", *(f"  {d}" for d in detectable)]
    return lines
