"""Which items changed their answer between two runs (``vlmbench diff``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..record import Label, Record, label_text
from .baseline import Run
from .metrics import GateError


@dataclass(frozen=True)
class Flip:
    id: str
    label: Label
    before: Label | None
    after: Label | None


@dataclass
class CaseFlips:
    """The items of one case whose prediction changed, grouped by direction."""

    label: str
    n_paired: int = 0
    broke: list[Flip] = field(default_factory=list)
    """Right before, wrong (or invalid) now."""
    fixed: list[Flip] = field(default_factory=list)
    """Wrong (or invalid) before, right now."""
    switched: list[Flip] = field(default_factory=list)
    """Wrong both times, but a different wrong answer."""


def case_flips(before: Record, after: Record, label: str | None = None) -> CaseFlips:
    """Pair two records' predictions on item id and collect the changes."""
    out = CaseFlips(label or after.label)
    now = {p.id: p for p in after.predictions}
    for pred in before.predictions:
        other = now.get(pred.id)
        if other is None:
            continue
        out.n_paired += 1
        truth, old, new = pred.label, pred.prediction, other.prediction
        if old == new:
            continue
        flip = Flip(pred.id, truth, old, new)
        if old == truth:
            out.broke.append(flip)
        elif new == truth:
            out.fixed.append(flip)
        else:
            out.switched.append(flip)
    return out


def run_flips(before: Run, after: Run, select: str | None = None) -> list[CaseFlips]:
    """Flips for every case in both runs, optionally only those whose name or label contains ``select``."""
    out = []
    for entry in after:
        old = before.find(entry.record)
        if old is None:
            continue
        label = entry.record.label
        if select and not any(select in text for text in (entry.name, entry.fullname, label, old.name)):
            continue
        out.append(case_flips(old.record, entry.record, f"{label} ({entry.name})"))
    if select and not out:
        raise GateError(f"No case matched in both runs contains {select!r}; run without ITEM to list them.")
    return out


def _answer(value: Label | None) -> str:
    return "invalid" if value is None else label_text(value)


def render_flips(cases: list[CaseFlips], markdown: bool = False) -> str:
    """Text listing of the flips, each way."""
    lines: list[str] = []
    for case in cases:
        total = len(case.broke) + len(case.fixed) + len(case.switched)
        head = f"{case.label}: {total} of {case.n_paired} paired items changed"
        lines.append(f"### {head}" if markdown else head)
        groups = (
            ("right -> wrong", case.broke),
            ("wrong -> right", case.fixed),
            ("wrong -> other wrong", case.switched),
        )
        for title, flips in groups:
            if not flips:
                continue
            lines.append(f"  {title} ({len(flips)}):" if not markdown else f"**{title}** ({len(flips)}):")
            for f in flips:
                text = f"{f.id}  label={label_text(f.label)}  {_answer(f.before)} -> {_answer(f.after)}"
                lines.append(f"- {text}" if markdown else f"    {text}")
        lines.append("")
    if not cases:
        lines.append("No case is present in both runs.")
    return "\n".join(lines).rstrip() + "\n"
