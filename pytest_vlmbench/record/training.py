"""The record's ``training`` section: what a training strategy (finetune, linear_probe) did first.

Present only in records of training strategies. The evaluation's own cost stays in the
record's ``throughput``/``memory``; this section holds the cost of training, so the cost of
a fine-tuned classifier can be set beside a prompted LLM's (the benchmarks report both).
When the trained weights came from the cache (``reused``), the figures are those of the run
that trained them, and nothing was trained in this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .jsonio import OMIT_IF_NONE, Reader


@dataclass(frozen=True)
class Training:
    """How the evaluated classifier was trained."""

    method: str
    """``finetune`` (a classification head, every weight trained) or ``linear_probe`` (frozen encoder + logistic regression)."""
    split: str
    """The split trained on (``train``), or ``holdout`` (a seeded part of the evaluated split, kept out of the evaluation)."""
    items: int
    """Training items (after ``--vlmbench-train-limit``; unreadable ones left out)."""
    seconds: float
    """Wall seconds of training (embedding the training items included, for the probe)."""
    items_per_s: float
    """Training items processed per second: items x epochs / seconds."""
    peak_memory_mb: float
    """torch's peak allocation on CUDA, else the process's peak RSS (the record's ``memory.peak_mb`` rule)."""
    device: str
    hyperparameters: Mapping[str, Any]
    """The settings trained with (the same values as the record's ``config``) and the base model."""
    reused: bool
    """The trained weights came from the training cache: nothing was trained in this run."""
    cache_key: str
    """Hash of the base model, the training data, the hyperparameters and the seed: the weights cache's key."""
    data_sha256: str
    """Hash of the training items (id, label, text): which data was trained on."""
    epochs: int | None = field(default=None, metadata=OMIT_IF_NONE)
    steps: int | None = field(default=None, metadata=OMIT_IF_NONE)
    """Optimiser steps (finetune)."""
    losses: tuple[float, ...] = ()
    """Mean training loss of each epoch (finetune); it should fall."""
    train_accuracy: float | None = field(default=None, metadata=OMIT_IF_NONE)
    """Accuracy on the training items themselves (linear_probe): far above the test accuracy means overfitting."""
    energy_joules: float | None = field(default=None, metadata=OMIT_IF_NONE)
    """GPU energy of training (NVML), where measurable."""
    split_detail: Mapping[str, Any] = field(default_factory=dict)
    """How the training items were chosen: the hold-out's fraction and seed, the split's name, the limit."""

    @classmethod
    def from_json(cls, r: Reader) -> Training:
        return cls(
            method=r.text("method"), split=r.text("split"), items=r.whole("items"), seconds=r.num("seconds"),
            items_per_s=r.num("items_per_s"), peak_memory_mb=r.num("peak_memory_mb"), device=r.text("device", ""),
            hyperparameters=r.mapping("hyperparameters"), reused=bool(r.data.get("reused")),
            cache_key=r.text("cache_key", ""), data_sha256=r.text("data_sha256", ""), epochs=r.opt_whole("epochs"),
            steps=r.opt_whole("steps"), losses=tuple(float("nan") if v is None else float(v) for v in r.array("losses")),
            train_accuracy=r.opt_num("train_accuracy"), energy_joules=r.opt_num("energy_joules"),
            split_detail=r.mapping("split_detail"),
        )  # fmt: skip
