"""Sending work to a model in batches, halving the batch when the accelerator runs out of memory.

A batch size that fits the first batches can fail on a later one (longer texts, bigger
images). Rather than lose the run, the batch is halved and retried, down to one item;
the :class:`BatchSizer` remembers the smaller size for the rest of the evaluation, and the number of
halvings is recorded in the JSON (``throughput.oom_retries``, ``final_batch_size``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..record import Throughput

T = TypeVar("T")
R = TypeVar("R")


def is_out_of_memory(exc: BaseException) -> bool:
    """``torch.cuda.OutOfMemoryError`` (or any class so named), found without importing torch."""
    return any(cls.__name__ == "OutOfMemoryError" for cls in type(exc).__mro__)


def free_accelerator_memory() -> None:
    """Return cached CUDA blocks, if torch is in use at all, so the halved batch can fit."""
    torch: Any = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class BatchSizer:
    """The current batch size and how often it was halved (one per evaluation, owned by its channel)."""

    size: int
    oom_retries: int = 0

    def apply_to(self, throughput: Throughput) -> Throughput:
        """``throughput`` with this sizer's halvings and final batch size filled in."""
        return replace(throughput, oom_retries=self.oom_retries, final_batch_size=self.size)


def run_batched(items: Sequence[T], sizer: BatchSizer, send: Callable[[Sequence[T]], list[R]]) -> list[R]:
    """``send`` each batch of ``items`` in order; on out-of-memory, halve ``sizer.size`` and retry."""
    out: list[R] = []
    start = 0
    while start < len(items):
        chunk = items[start : start + sizer.size]
        try:
            results = send(chunk)
        except Exception as exc:
            if not is_out_of_memory(exc) or sizer.size == 1:
                raise
            sizer.size = max(1, sizer.size // 2)
            sizer.oom_retries += 1
            free_accelerator_memory()
            continue
        out.extend(results)
        start += len(chunk)
    return out
