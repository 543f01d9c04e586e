"""Regression thresholds: ``METRIC:DROP`` (absolute), ``METRIC:N%`` (relative), ``METRIC:off``.

A threshold is the worsening a metric may show before it counts as a regression, measured
in the metric's own direction: ``accuracy:0.02`` allows accuracy to fall by 0.02,
``latency_p50_ms:10%`` allows latency to *rise* by 10% of the baseline value.

Thresholds come from three layers -- ini ``vlmbench_fail_on``, the ``vlmbench_gate``
marker, the ``--vlmbench-fail-on`` option -- merged per metric with the later layer
winning (CLI > marker > ini). ``METRIC:off`` in a higher layer removes a metric that a lower
layer set; a bare ``off`` removes every metric set before it (lower layers and earlier
entries of its own layer), so ``--fail-on off`` reports without gating.

Limits a metric cannot reach are refused: a negative limit, an absolute drop over 1 for a
quality metric (every quality metric is a rate in [0, 1]), and a relative drop over 100%
for a metric where higher is better (it cannot fall below 0). Such a threshold could
never fail, so it is a mistake (``accuracy:150%``, ``accuracy:2``) and not a setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .metrics import METRICS, GateError, MetricSpec, fmt, get_metric

_NUMBER = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")

OFF = "off"
"""A bare ``off`` in a layer: no metric is gated (``--fail-on off``)."""

DEFAULT_THRESHOLDS = ("accuracy:0",)
"""Used when no layer names a threshold, by the pytest gate (when a baseline is given) and by
``vlmbench compare``: any *significant* drop in accuracy fails. A zero threshold is safe
here because quality drops must also pass the significance test; see docs/gate.md."""


@dataclass(frozen=True)
class Threshold:
    """How much worse a metric may get."""

    metric: MetricSpec
    limit: float
    """Absolute units, or a fraction of the baseline value when ``relative``."""
    relative: bool = False

    def text(self) -> str:
        return f"{self.limit * 100:g}%" if self.relative else f"{self.limit:g}"

    def __str__(self) -> str:
        return f"{self.metric.name}:{self.text()}"

    def excess(self, baseline: float, change: float) -> float:
        """``change`` (a worsening, or an improvement given as positive) in the limit's units."""
        if not self.relative:
            return change
        if baseline == 0:
            # No scale to be relative to: any change is infinitely large, none is zero.
            return float("inf") if change > 0 else 0.0
        return change / abs(baseline)

    def exceeded(self, baseline: float, change: float) -> bool:
        """True when ``change`` (positive = in the direction examined) is past the limit."""
        return change > 0 and self.excess(baseline, change) > self.limit


def parse_threshold(text: str, where: str = "--vlmbench-fail-on") -> tuple[MetricSpec, Threshold | None]:
    """Parse ``METRIC:DROP``, ``METRIC:N%`` or ``METRIC:off``; ``None`` means *off*."""
    name, sep, limit = str(text).strip().partition(":")
    if not sep or not name.strip():
        raise GateError(
            f"{where} {text!r} is not METRIC:DROP, METRIC:N% or off (e.g. accuracy:0.02 or items_per_s:10%)."
        )
    spec = get_metric(name, where)
    limit = limit.strip()
    if limit.lower() == "off":
        return spec, None
    relative = limit.endswith("%")
    number = limit[:-1].strip() if relative else limit
    if number.startswith("-") and _NUMBER.match(number[1:].strip()):
        raise GateError(
            f"{where} {text!r}: a limit is how much worse {spec.name} may get, so it cannot be negative; "
            f"use 0 to fail on any (significant) worsening."
        )
    if not _NUMBER.match(number):
        raise GateError(
            f"{where} {text!r}: the limit must be a number like 0.02, a percentage like 10%, or off."
        )
    value = float(number)
    check_reachable(spec, value / 100 if relative else value, relative, f"{where} {text!r}")
    return spec, Threshold(spec, value / 100 if relative else value, relative)


def check_reachable(spec: MetricSpec, limit: float, relative: bool, where: str) -> None:
    """:class:`GateError` for a limit the metric can never exceed (see the module docstring)."""
    if relative and spec.higher_is_better and limit > 1:
        raise GateError(
            f"{where}: {spec.name} cannot fall by more than 100% (it does not go below 0), so this limit "
            f"could never fail; give at most 100%, or {spec.name}:off to not gate it."
        )
    if not relative and spec.quality and limit > 1:
        raise GateError(
            f"{where}: {spec.name} is a rate between 0 and 1, so it cannot get worse by more than 1; "
            f"give a drop like 0.02 or a percentage like 5%."
        )


def parse_layer(texts: Iterable[str], where: str) -> dict[str, Threshold | None]:
    """One layer's thresholds by metric name; a later entry for the same metric wins.

    Each text may hold several thresholds separated by commas or whitespace. A bare ``off``
    turns off every metric (:data:`OFF`): entries after it still apply.
    """
    out: dict[str, Threshold | None] = {}
    for text in texts:
        for part in re.split(r"[,\s]+", str(text).strip()):
            if part.lower() == OFF:
                out = dict.fromkeys(METRICS, None)
            elif part:
                spec, threshold = parse_threshold(part, where)
                out[spec.name] = threshold
    return out


def merge_layers(*layers: Mapping[str, Threshold | None]) -> dict[str, Threshold]:
    """Merge layers given lowest precedence first; ``None`` (off) removes a metric.

    When no layer mentions any metric at all, :data:`DEFAULT_THRESHOLDS` apply.
    """
    merged: dict[str, Threshold | None] = {}
    for layer in layers:
        merged.update(layer)
    if not merged:
        merged = dict(parse_layer(DEFAULT_THRESHOLDS, "default"))
    return {name: t for name, t in merged.items() if t is not None}


def parse_alpha(value: Any, where: str) -> float:
    """A significance level in (0, 1), or :class:`GateError`."""
    try:
        alpha = float(value)
    except (TypeError, ValueError):
        raise GateError(f"{where} must be a number between 0 and 1, got {value!r}.") from None
    if not 0 < alpha < 1:
        raise GateError(f"{where} must be between 0 and 1 (exclusive), got {value!r}.")
    return alpha


@dataclass(frozen=True)
class Floor:
    """An absolute bound a metric must stay at or beyond, baseline or not (``--vlmbench-min accuracy:0.9``):
    a floor for a metric where higher is better, a ceiling where lower is (``latency_p50_ms:250``)."""

    metric: MetricSpec
    value: float

    def __str__(self) -> str:
        return f"{self.metric.name}:{self.value:g}"

    def breached(self, value: float) -> bool:
        return value < self.value if self.metric.higher_is_better else value > self.value

    def line(self, value: float) -> str:
        """``accuracy 0.871 < floor 0.9``."""
        sign, kind = ("<", "floor") if self.metric.higher_is_better else (">", "ceiling")
        return f"{self.metric.name} {fmt(value)} {sign} {kind} {self.value:g} (--vlmbench-min {self})"


def parse_floors(texts: Iterable[str], where: str) -> dict[str, Floor]:
    """One layer's floors by metric: ``METRIC:VALUE`` entries, separated by commas or whitespace; a later
    entry for the same metric wins."""
    out: dict[str, Floor] = {}
    for text in texts:
        for part in re.split(r"[,\s]+", str(text).strip()):
            if not part:
                continue
            name, sep, number = part.partition(":")
            if not sep or not name.strip():
                raise GateError(f"{where} {part!r} is not METRIC:VALUE (e.g. accuracy:0.9 or items_per_s:50).")
            spec = get_metric(name, where)
            number = number.strip()
            body = number[1:] if number.startswith("-") else number
            if not _NUMBER.match(body):
                raise GateError(f"{where} {part!r}: the value must be a number like 0.9, not {number!r}.")
            value = float(number)
            if spec.quality and not 0 <= value <= 1:
                raise GateError(f"{where} {part!r}: {spec.name} is a rate between 0 and 1, so its bound must be too.")
            out[spec.name] = Floor(spec, value)
    return out
