"""Progress of one evaluation as it runs: items answered, passes, the current batch size.

The library knows nothing about terminals: :func:`~.evaluate.evaluate` takes an optional
:class:`ProgressObserver` and tells it how far the evaluation has come after every batch.
The pytest plugin's observer draws a line on the terminal (``plugin/progress.py``); a
script can log, or feed a progress bar.

What "done" means. A strategy hands the channel its queries in *passes*: ``closed_set``
and ``direct`` send every query of every item in one pass (closed_set asks each item
``permutations`` times, so an item is answered when its last permutation is); ``binary``
sends one pass per question round, and only the answers of a round decide which items
the next round asks about again. So the channel reports, per pass, how many of the items
asked about in it have all their queries answered, and, from the second pass on, how many
items the strategy no longer asks about (those are finished). Counting more precisely
would need the strategy's verdicts, which it makes only after the whole pass returns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from ..strategies.base import Query
from .batching import BatchSizer

R = TypeVar("R")


@dataclass(frozen=True)
class Progress:
    """How far one evaluation has come, reported after each batch."""

    total_items: int
    """Items in the evaluation (after ``limit``)."""
    pass_number: int
    """1 for the first pass of queries; binary's later question rounds are 2, 3 ..."""
    pass_items: int
    """Distinct items asked about in this pass."""
    pass_items_answered: int
    """Items of this pass whose every query of this pass has its answer (cached ones included)."""
    pass_requests: int
    """Queries in this pass."""
    pass_requests_answered: int
    batch_size: int
    """The batch size now: smaller than configured after an out-of-memory halving."""
    oom_retries: int
    """How often the batch was halved so far."""

    @property
    def finished_items(self) -> int:
        """Items the strategy no longer asks about: those left out of this pass (built-in
        strategies never ask again about an item they left out of a pass)."""
        return self.total_items - self.pass_items


@runtime_checkable
class ProgressObserver(Protocol):
    """What :func:`~.evaluate.evaluate` reports progress to (``progress=``)."""

    def on_start(self, total_items: int) -> None:
        """The evaluation starts, with ``total_items`` items; nothing was asked yet."""

    def on_progress(self, progress: Progress) -> None:
        """A pass started (nothing of it answered yet) or one of its batches returned."""


class ProgressTracker:
    """Counts answered queries per pass for the channel and reports them to an observer."""

    def __init__(self, observer: ProgressObserver, total_items: int, sizer: BatchSizer) -> None:
        self.observer = observer
        self.total_items = total_items
        self.sizer = sizer
        self.passes = 0
        observer.on_start(total_items)

    def counting(self, queries: Sequence[Query], send: Callable[[Sequence[Query]], list[R]]) -> Callable[[Sequence[Query]], list[R]]:
        """``send`` for one pass over ``queries``, reporting after each batch that returned.

        A batch that runs out of memory raises before it counts, and is counted once when its
        halves return; the batch size read then is the halved one.
        """
        self.passes += 1
        last_query = {q.item.id: i for i, q in enumerate(queries)}
        ends = sorted(last_query.values())
        answered = 0

        def report() -> None:
            self.observer.on_progress(
                Progress(
                    total_items=self.total_items,
                    pass_number=self.passes,
                    pass_items=len(ends),
                    # an item is answered once its last query of this pass is: queries go in order
                    pass_items_answered=bisect_left(ends, answered),
                    pass_requests=len(queries),
                    pass_requests_answered=answered,
                    batch_size=self.sizer.size,
                    oom_retries=self.sizer.oom_retries,
                )
            )

        def counted(chunk: Sequence[Query]) -> list[R]:
            nonlocal answered
            results = send(chunk)
            answered += len(chunk)
            report()
            return results

        report()
        return counted
