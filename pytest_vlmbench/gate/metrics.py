"""The metrics a gate can watch: flat names, where each lives in a record, and its direction.

Quality metrics are computed from the per-item predictions, so a change between two runs
can be tested for significance on the paired items. Cost metrics (speed, memory, energy)
have no per-item pairing -- one number per run -- and are gated on their threshold alone.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..record import Record

Test = Literal["mcnemar", "bootstrap", "none"]

Getter = Callable[[Record], float | None]
"""Reads one metric from a record; ``None`` when the record does not have it."""


@dataclass(frozen=True)
class MetricSpec:
    """One gateable metric."""

    name: str
    """Flat name used in thresholds, e.g. ``accuracy`` or ``latency_p50_ms``."""
    higher_is_better: bool
    """Direction: True for accuracy and throughput, False for latency, memory, energy."""
    test: Test
    """Significance test on paired predictions: ``mcnemar``, ``bootstrap``, or ``none`` (cost)."""
    getter: Getter
    """Reads the value from a record; ``None`` when the record does not have it."""
    description: str

    @property
    def quality(self) -> bool:
        return self.test != "none"

    def value(self, record: Record) -> float | None:
        """The metric's value in ``record``, or ``None`` when absent or not a finite number."""
        raw = self.getter(record)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return None
        value = float(raw)
        return value if math.isfinite(value) else None

    def worsening(self, baseline: float, current: float) -> float:
        """How much worse ``current`` is than ``baseline``, in the metric's units (negative: better)."""
        return baseline - current if self.higher_is_better else current - baseline


def _quality(name: str, test: Test, description: str, higher: bool = True) -> MetricSpec:
    return MetricSpec(name, higher, test, lambda r: float(getattr(r.metrics, name)), description)


def _cost(name: str, getter: Getter, description: str, higher: bool = False) -> MetricSpec:
    return MetricSpec(name, higher, "none", getter, description)


def _latency(q: str) -> Getter:
    return lambda r: float(getattr(r.throughput.batch_latency_ms, q))


def _memory(key: str) -> Getter:
    return lambda r: getattr(r.memory, key)


def _ner(kind: str) -> Getter:
    return lambda r: getattr(r.ner.micro, kind) if r.ner is not None else None


def _per_item(part: str) -> Getter:
    """Tokens per scored item (``computed``, ``shared`` or ``generated``); ``None`` when the adapter did not count."""
    return lambda r: getattr(r.tokens, part) / r.n_items if r.tokens is not None and r.n_items else None


_ALL = [
    _quality("accuracy", "mcnemar", "share of items predicted correctly"),
    *(
        _quality(f"{avg}_{m}", "bootstrap", f"{avg}-averaged {m} over the classes")
        for avg in ("macro", "weighted")
        for m in ("precision", "recall", "f1")
    ),
    _quality("invalid_rate", "mcnemar", "share of items whose answer named no class", higher=False),
    # NER records (record.ner, seqeval strict IOB2): bootstrapped over sentences (gate/significance.py paired_bootstrap with the NER task).
    *(MetricSpec(f"entity_{m}", True, "bootstrap", _ner(m), f"entity-level micro {m} (NER)") for m in ("precision", "recall", "f1")),
    MetricSpec("token_accuracy", True, "bootstrap", lambda r: r.ner.token_accuracy if r.ner else None, "share of tokens tagged right (NER)"),
    _cost("items_per_s", lambda r: r.throughput.items_per_s, "items evaluated per second", higher=True),
    _cost("wall_s", lambda r: r.throughput.wall_s, "wall-clock seconds of the evaluation"),
    _cost("model_time_s", lambda r: r.throughput.model_time_s, "seconds spent inside the model"),
    _cost("model_load_s", lambda r: r.throughput.model_load_s, "seconds to load the model"),
    *(_cost(f"latency_{q}_ms", _latency(q), f"{q} batch latency in ms") for q in ("mean", "p50", "p90", "p99", "max")),
    # Memory.peak_mb: torch's peak on CUDA (what a model change moves), the process RSS
    # elsewhere. Both runs of a pair are on the same device (a hardware mismatch is refused
    # before metrics are read), so they read the same source.
    _cost("peak_memory_mb", lambda r: r.memory.peak_mb, "peak memory: torch_peak_mb on CUDA, else peak_rss_mb"),
    *(
        _cost(key, _memory(key), f"memory.{key}")
        for key in ("peak_rss_mb", "torch_peak_mb", "torch_peak_reserved_mb", "nvml_peak_mb")
    ),
    _cost("energy_j", lambda r: r.energy.joules if r.energy is not None else None, "GPU energy in joules (NVML)"),
    _cost("tokens_per_item", _per_item("computed"), "prompt tokens computed per item (shared prefixes counted once)"),
    _cost("shared_tokens_per_item", _per_item("shared"), "prompt tokens per item served from a shared prefix", higher=True),
    _cost("generated_tokens_per_item", _per_item("generated"), "tokens generated per item"),
    _cost("joules_per_item", lambda r: r.energy.joules_per_item if r.energy else None, "GPU energy per item in joules (NVML)"),
    # Only in records given a price (--vlmbench-price, --vlmbench-hour-usd): compare only runs priced alike.
    _cost("usd_per_1k_items", lambda r: r.cost.usd_per_1k_items if r.cost else None, "US dollars per 1,000 items (cost.basis)"),
]

METRICS: dict[str, MetricSpec] = {spec.name: spec for spec in _ALL}
"""Every gateable metric by flat name."""

DEFAULT_DISPLAY = ("accuracy", "macro_f1", "invalid_rate", "items_per_s", "latency_p50_ms", "peak_memory_mb", "tokens_per_item",
                   "joules_per_item", "usd_per_1k_items")
"""Metrics ``vlmbench compare`` shows when none are asked for (a row only where some run has the value)."""


def fmt(value: float | None, signed: bool = False) -> str:
    """A compact number: three decimals up to 1 (rates), two below 1000, none above."""
    if value is None:
        return "n/a"
    size = abs(value)
    digits = 3 if size <= 1 else 2 if size < 1000 else 0
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def p_text(p: float, alpha: float, significant: bool, adjusted: float | None = None, correction: str | None = None) -> str:
    """``p=0.003``, with ``, holm-adjusted 0.041`` when a correction changed it, and ``> alpha 0.05: not significant``."""
    text = f"p={fmt_p(p)}"
    if correction not in (None, "none") and adjusted is not None and adjusted != p:
        text += f", {correction}-adjusted {fmt_p(adjusted)}"
    return text if significant else f"{text} > alpha {alpha:g}: not significant"


class GateError(ValueError):
    """Bad gate input (threshold, baseline file); the message is one user-facing sentence."""


def get_metric(name: str, where: str) -> MetricSpec:
    """The spec for ``name``, or :class:`GateError` naming ``where`` it came from and close matches."""
    spec = METRICS.get(name.strip().lower())
    if spec is not None:
        return spec
    close = difflib.get_close_matches(name, list(METRICS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise GateError(f"Unknown metric {name!r} in {where}; {hint}known metrics: {', '.join(METRICS)}.")
