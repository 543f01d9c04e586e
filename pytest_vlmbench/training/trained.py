"""What a trainer returns: the trained classifier, carrying its record's ``training`` section.

The session evaluates it like any :class:`~pytest_vlmbench.models.base.DirectClassifier`
(``direct``); :meth:`~pytest_vlmbench.strategies.base.Strategy.training_of` reads its
:attr:`TrainedClassifier.training` into the record. Its ``info`` names the trained weights'
folder as ``source``, so the answer cache keys its answers by the trained weights, not the base's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from ..evaluation.cost import CostMeter
from ..models.base import Adapter, DirectClassifier, Provides, Request
from ..record import ModelInfo, Reader, Training, plain_json


class TrainingError(ValueError):
    """A model or dataset that the training strategy cannot train on; the message is one sentence."""


class TrainedClassifier(Adapter):
    """A classifier a training strategy made: ``inner`` classifies, ``training`` says how it was made."""

    provides: Provides = "classify"

    def __init__(self, inner: DirectClassifier, training: Training, info: ModelInfo, owns_inner: bool) -> None:
        self.name = inner.name
        self.inner = inner
        self.training = training
        self.info = info
        self.reads = inner.reads
        self._owns_inner = owns_inner

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        return self.inner.classify(requests, classes)

    def close(self) -> None:
        """Release what training loaded; a probe's encoder belongs to the session and stays loaded."""
        if self._owns_inner:
            self.inner.close()


@dataclass
class Cost:
    """The cost of one training run, measured as the evaluation's is (:class:`~pytest_vlmbench.evaluation.cost.CostMeter`)."""

    device: str
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    energy_joules: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def measured(device: str) -> Iterator[Cost]:
    """Times the block and takes its memory peak and GPU energy (where NVML can read it)."""
    meter = CostMeter(device=device)
    cost = Cost(device)
    meter.start()
    start = time.perf_counter()
    yield cost
    meter.stop()
    cost.seconds = time.perf_counter() - start
    cost.peak_memory_mb = meter.memory().peak_mb
    energy = meter.energy()
    cost.energy_joules = energy.joules if energy is not None else None


def split_name(detail: dict[str, Any]) -> str:
    """The record's ``training.split``: the split's name, or ``holdout``."""
    return str(detail.get("split") or detail.get("method") or "")


def to_meta(training: Training) -> dict[str, Any]:
    """The section as stored beside the weights (``training.json``)."""
    out: dict[str, Any] = plain_json(training)
    return out


def from_meta(meta: dict[str, Any], where: str) -> Training:
    """The section of a cached build, marked as reused (nothing trained in this run)."""
    stored = Training.from_json(Reader(meta.get("training"), where, "training"))
    return replace(stored, reused=True)
