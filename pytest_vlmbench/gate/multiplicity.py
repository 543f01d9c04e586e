"""Many items, one gate: the run's compared items tested as one family.

A nightly run compares every item with its baseline, each at ``alpha``. With 144 items and no
real change anywhere, about 7 would still fail at alpha 0.05. The gate therefore adjusts the
items' p-values for their number before it decides:

- ``holm`` (the default): Holm's step-down adjustment. The chance that *any* item of a run
  without a real change fails stays at most ``alpha`` (family-wise error), and it rejects
  everything Bonferroni (``p <= alpha / m``) does, and more.
- ``bh``: Benjamini-Hochberg's step-up adjustment. The expected share of false alarms among
  the failing items stays at most ``alpha`` (false discovery rate): more power when many
  items really regress, for a few false alarms among them.
- ``none``: each item at ``alpha`` on its own (the gate before this issue).

The family (``m``) is every gated quality metric of every item compared with a baseline:
a metric that stayed within its threshold was never tested and counts with p = 1, as does
one with too few changed items to decide. Cost metrics have no p-value (one number per run)
and are not in the family; improvements are reported with their own p (they never fail).

Inside pytest an item must pass or fail when it finishes, before the other items' p-values
exist. An item whose raw p is at most ``alpha / m_max`` (``m_max``: the family's size if every
collected item is compared) fails under Holm and Benjamini-Hochberg whatever the other
p-values turn out to be (:func:`sure_alpha`), so it fails at once. The others are decided
when the run ends (:func:`pytest_vlmbench.gate.verdict.resolve_verdicts`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from .metrics import GateError, p_text

Correction = Literal["holm", "bh", "none"]
CORRECTIONS: tuple[Correction, ...] = get_args(Correction)
DEFAULT_CORRECTION: Correction = "holm"


def parse_correction(value: Any, where: str) -> Correction:
    """``holm``, ``bh`` or ``none``, or :class:`GateError` saying which are known."""
    text = str(value).strip().lower()
    if text not in CORRECTIONS:
        raise GateError(f"{where} must be one of {', '.join(CORRECTIONS)}, got {value!r}.")
    return text  # narrowed to Correction by the membership test


def adjust(p_values: Sequence[float], method: Correction) -> list[float]:
    """The adjusted p-values, in the order given: an item fails when its adjusted p is at most alpha.

    Holm: with the p-values sorted, the ``j``-th smallest (from 0) is multiplied by ``m - j``, and
    each adjusted value is the running maximum (so the order is kept). Benjamini-Hochberg:
    the ``j``-th smallest times ``m / (j + 1)``, then the running minimum from the largest down.
    Both are capped at 1.
    """
    m = len(p_values)
    if method == "none" or m == 0:
        return [min(1.0, float(p)) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "holm":
        running = 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * p_values[i]))
            adjusted[i] = running
    else:
        running = 1.0
        for rank in range(m - 1, -1, -1):
            i = order[rank]
            running = min(running, m / (rank + 1) * p_values[i])
            adjusted[i] = min(1.0, running)
    return adjusted


def sure_alpha(alpha: float, m_max: int, method: Correction) -> float:
    """The raw p at or below which an item fails under ``method`` whatever the other items' p-values
    are, in a family of at most ``m_max``: the smallest p of any family is tested at ``alpha / m``
    by both Holm and Benjamini-Hochberg, and every p up to it passes its step. With the family's
    actual size it is also the level the detectable drop is computed at (:mod:`.power`)."""
    return alpha if method == "none" else alpha / max(1, m_max)


@dataclass(frozen=True)
class Hypothesis:
    """One gated quality metric of one compared item: "it got worse by more than its threshold".

    Plain data, so that it rides on a test report as JSON (the family is adjusted on the xdist
    controller, from every worker's items).
    """

    metric: str
    head: str
    """The finding's line up to its p-value: ``accuracy 0.912 -> 0.871 (-0.041 > 0``."""
    candidate: bool
    """Worse by more than the threshold: a regression when its p survives the correction."""
    p_value: float | None
    """Raw one-sided p towards "worse"; ``None`` when not tested (within the threshold) or undecidable."""
    alpha: float
    reason: str | None = None
    """Why a candidate has no p-value (too few changed items)."""
    n: int = 0
    """Items paired between the runs."""
    changed: int = 0
    """Items whose outcome for this metric changed (right/wrong, valid/invalid, or the prediction)."""
    baseline: float | None = None
    limit: float | None = None
    """The threshold as an absolute drop (a relative one times the baseline value)."""
    se: float | None = None
    """The paired bootstrap's standard error of the change (bootstrapped metrics)."""
    adjusted: float | None = None
    """The p-value after the correction (set by :func:`.power.adjust_family`)."""
    correction: Correction | None = None
    detectable: float | None = None
    """The smallest drop found with 80% power at the family's worst-case level (:mod:`.power`)."""
    sure: bool = False
    """Failed its item at once (raw p at most :func:`sure_alpha`)."""

    @property
    def p_for_family(self) -> float:
        """Untested and undecidable hypotheses count in the family with p = 1."""
        return 1.0 if self.p_value is None or not self.candidate else self.p_value

    @property
    def regressed(self) -> bool:
        """A regression after the correction (before it, on the raw p)."""
        p = self.adjusted if self.adjusted is not None else self.p_value
        return self.candidate and p is not None and p <= self.alpha

    def line(self) -> str:
        """The finding's line: ``accuracy 0.912 -> 0.871 (-0.041 > 0, p=0.003, holm 0.041)``."""
        if not self.candidate:
            return f"{self.head})"
        if self.p_value is None:
            return f"{self.head}, {self.reason or 'undecided'})"
        return f"{self.head}, {p_text(self.p_value, self.alpha, self.regressed, self.adjusted, self.correction)})"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Hypothesis:
        try:
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise GateError(f"A gate verdict holds an unreadable hypothesis: {exc}.") from None
