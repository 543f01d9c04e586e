"""The record's cost parts: the GPU's energy (:class:`Energy`) and the money (:class:`Cost`).

Energy is measured (NVML, where a GPU is present); money is worked out from a price the
user gives for the run (:mod:`~pytest_vlmbench.evaluation.pricing`): tokens x a price per
million tokens for API models, seconds x an hourly rate for local hardware. The record
states which, with the numbers used, in ``Cost.basis``, so a reader can check the
arithmetic and redo it at another price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .jsonio import OMIT_IF_NONE, Reader

COST_METHODS = ("tokens", "hourly")


def format_usd(amount: float) -> str:
    """Dollars as people read them: cents from a dollar up, else three significant digits, never an exponent."""
    if amount >= 1 or amount <= 0:
        return f"{amount:,.2f}"
    return f"{amount:.{2 - math.floor(math.log10(amount))}f}"


def format_seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.3f}"


@dataclass(frozen=True)
class Energy:
    """Energy the GPU used during the evaluation (NVML's counter, whole GPU)."""

    joules: float
    source: str
    joules_per_item: float | None = field(default=None, metadata=OMIT_IF_NONE)
    """``joules`` over the scored items; absent when no item was scored (and in older records)."""

    @classmethod
    def from_json(cls, r: Reader) -> Energy:
        return cls(r.num("joules"), r.text("source", ""), r.opt_num("joules_per_item"))


@dataclass(frozen=True)
class Cost:
    """What the evaluation cost in US dollars, and how that figure was reached."""

    method: str
    """``tokens`` (prompt and generated tokens x the price table's USD per million) or
    ``hourly`` (wall seconds x ``--vlmbench-hour-usd``)."""
    usd: float
    """The whole evaluation's cost; for ``hourly`` records of a trained classifier, training included."""
    usd_per_1k_items: float
    """``usd`` per 1,000 scored items (0 when no item was scored)."""
    basis: str
    """The arithmetic in words, e.g. ``1200 prompt tokens x $0.50/M + 40 generated tokens x $1.50/M (price for gpt-3.5-turbo)``."""
    usd_per_m_input: float | None = field(default=None, metadata=OMIT_IF_NONE)
    usd_per_m_output: float | None = field(default=None, metadata=OMIT_IF_NONE)
    usd_per_hour: float | None = field(default=None, metadata=OMIT_IF_NONE)
    seconds: float | None = field(default=None, metadata=OMIT_IF_NONE)
    """``hourly``: the seconds priced: the evaluation's wall time plus the training's."""
    training_usd: float | None = field(default=None, metadata=OMIT_IF_NONE)
    """``hourly``, trained classifiers: the part of ``usd`` that paid for training."""

    @classmethod
    def from_json(cls, r: Reader) -> Cost:
        method = r.text("method")
        if method not in COST_METHODS:
            raise r._fail("method", f"one of {', '.join(COST_METHODS)}")
        return cls(
            method, r.num("usd"), r.num("usd_per_1k_items"), r.text("basis", ""), r.opt_num("usd_per_m_input"),
            r.opt_num("usd_per_m_output"), r.opt_num("usd_per_hour"), r.opt_num("seconds"), r.opt_num("training_usd"),
        )  # fmt: skip
