"""The gate's verdict on one evaluated item, and the gate's terminal report.

:func:`judge_record` compares a fresh record with its baseline record and says, in a
:class:`Verdict`, what happened and which lines (if any) fail the item. The plugin
(:mod:`pytest_vlmbench.plugin.gate`) calls it after each evaluation; verdicts travel on
the test reports to the xdist controller as plain JSON (:meth:`Verdict.to_json`), where
:func:`gate_report_lines` turns them into the ``vlmbench gate`` section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

from ..record import Record
from .baseline import Run
from .compare import compare_records
from .metrics import GateError
from .thresholds import Threshold

VerdictStatus = Literal["ok", "missing", "not compared", "regressed", "improved", "undecided", "not significant"]
"""``missing``: no baseline record; ``not compared``: other hardware or changed data;
otherwise the most serious finding (regressed > improved > undecided > not significant > ok)."""

_BY_SEVERITY: tuple[tuple[VerdictStatus, str], ...] = (
    ("regressed", "regression"),
    ("improved", "improvement"),
    ("undecided", "undecided"),
    ("not significant", "not significant"),
)
"""Verdict status, and the finding status that gives it, most serious first."""


@dataclass(frozen=True)
class Verdict:
    """What the gate concluded about one item's record."""

    nodeid: str
    label: str
    """The case: ``model dataset strategy``."""
    status: VerdictStatus
    fail: tuple[str, ...] = ()
    """Why the item fails, one line each; empty: it passes."""
    regressions: tuple[str, ...] = ()
    improvements: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    """Said about the case without failing it (not significant, undecided, not compared ...)."""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, as it rides on a test report."""
        return {
            "nodeid": self.nodeid, "label": self.label, "status": self.status, "fail": list(self.fail),
            "regressions": list(self.regressions), "improvements": list(self.improvements), "notes": list(self.notes),
        }  # fmt: skip

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
        )  # fmt: skip


def judge_record(
    record: Record,
    baseline: Run,
    thresholds: Mapping[str, Threshold],
    alpha: float,
    *,
    nodeid: str,
    require_baseline: bool = False,
) -> Verdict:
    """Compare ``record`` with its match in ``baseline`` under ``thresholds`` and ``alpha``.

    No match: ``missing``, failing only with ``require_baseline``. Other hardware fails (the
    baseline is wrong for every item); a changed dataset is like a missing baseline.
    """
    label = record.label
    entry = baseline.find(record)
    if entry is None:
        fail = (f"no baseline record for {label} (with this config) in {baseline.source}",) if require_baseline else ()
        return Verdict(nodeid, label, "missing", fail)
    case = compare_records(
        entry.record, record, thresholds, alpha=alpha, label=label, baseline_machine=baseline.machine_info
    )
    if case.problem is not None:
        failing = case.problem_kind == "hardware" or require_baseline
        fail = (f"not compared with the baseline: {case.problem}",) if failing else ()
        return Verdict(nodeid, label, "not compared", fail, notes=(case.problem,))
    regressions = tuple(f.line() for f in case.regressions)
    statuses = {f.status for f in case.findings}
    status: VerdictStatus = next((verdict for verdict, finding in _BY_SEVERITY if finding in statuses), "ok")
    return Verdict(
        nodeid, label, status, fail=regressions, regressions=regressions,
        improvements=tuple(f.line() for f in case.improvements),
        notes=(*case.notes, *(f.line() for f in case.with_status("not significant", "undecided", "missing"))),
    )  # fmt: skip


def gate_report_lines(baseline: Run, origin: str, verdicts: Sequence[Verdict]) -> list[str]:
    """The gate's terminal section; a line starting with ``==`` is the section title."""
    about = [f"commit {baseline.label}"] if baseline.commit_info.get("id") else []
    about += [baseline.datetime] if baseline.datetime else []
    lines = ["== vlmbench gate ==", f"baseline: {baseline.source} ({', '.join([*about, f'from {origin}'])})"]
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    lines.append(f"{len(verdicts)} compared: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    for title, key in (("REGRESSED", "regressions"), ("improved", "improvements")):
        for v in verdicts:
            texts: tuple[str, ...] = getattr(v, key)
            if texts:
                lines.append(f"{title} {v.nodeid}:")
                lines.extend(f"    {text}" for text in texts)
    for v in verdicts:
        if v.status == "missing":
            lines.append(f"no baseline {v.nodeid}: {v.label} is not in the baseline" + (" (failed)" if v.fail else ""))
        elif v.notes:
            title = "not compared" if v.status == "not compared" else "note"
            lines.append(f"{title} {v.nodeid}:")
            lines.extend(f"    {text}" for text in v.notes)
    return lines
