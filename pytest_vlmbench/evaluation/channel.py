"""The channel: how a strategy's queries reach the model, batched, timed and image by image.

A strategy never calls the model itself; it gets a channel (``ask`` for a generative model,
``classify`` for a direct classifier) that sends its queries in batches through
:func:`~.batching.run_batched`, decodes each batch's images only when it is sent, and times
every call on the :class:`~.cost.CostMeter`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ..datasets.base import ItemError
from ..models.base import Request
from ..strategies.base import Query
from .batching import BatchPlan, run_batched
from .config import EvalConfig
from .cost import CostMeter


class AdapterError(RuntimeError):
    """A model adapter broke its contract (e.g. returned the wrong number of answers)."""


def _requests(chunk: Sequence[Query], config: EvalConfig, errors: dict[str, str]) -> list[Request | None]:
    """One request per query; ``None`` for an item whose image cannot be read (noted in ``errors``)."""
    out: list[Request | None] = []
    for q in chunk:
        if q.item.id in errors:
            out.append(None)
            continue
        try:
            out.append(Request(q.prompt, q.item.image(), config.max_new_tokens))
        except ItemError as exc:
            errors[q.item.id] = exc.reason
            out.append(None)
    return out


def _channel(
    name: str,
    call: Callable[[list[Request]], Sequence[Any]],
    contract: str,
    skipped: Any,
    config: EvalConfig,
    meter: CostMeter,
    errors: dict[str, str],
    plan: BatchPlan,
) -> Callable[[Sequence[Query]], list[Any]]:
    """The batched, timed way a strategy reaches the model, one ``call`` per batch.

    Images are decoded here, one batch at a time, never for the whole dataset. An item whose
    image fails to decode is recorded in ``errors`` and answered with ``skipped`` without
    reaching the model; :func:`~.evaluate.evaluate` then leaves it out of the metrics. A batch
    that runs out of accelerator memory is halved and retried (``plan`` keeps the count).
    """

    def send(chunk: Sequence[Query]) -> list[Any]:
        requests = _requests(chunk, config, errors)
        good = [r for r in requests if r is not None]
        out: list[Any] = []
        if good:
            meter.sync()
            t0 = time.perf_counter()
            out = list(call(good))
            meter.sync()
            meter.record_batch(time.perf_counter() - t0, len(good))
        if len(out) != len(good):
            raise AdapterError(f"Model {name!r} returned {len(out)} results for {len(good)} requests; {contract}")
        it = iter(out)
        return [skipped if r is None else next(it) for r in requests]

    return lambda queries: run_batched(queries, plan, send)


def make_channel(
    model: Any,
    strategy_needs: str,
    classes: Sequence[str],
    config: EvalConfig,
    meter: CostMeter,
    errors: dict[str, str],
    plan: BatchPlan,
) -> Callable[[Sequence[Query]], list[Any]]:
    """The channel a strategy needs (answers for ``generate``, classes for ``classify``).

    Raises :class:`AdapterError` with one sentence when the model cannot provide it.
    """
    if strategy_needs == "classify":
        if not callable(getattr(model, "classify", None)):
            raise AdapterError(f"Model {model.name!r} generates text and has no classify(); use a prompting strategy.")
        contract = "an adapter's classify() must return one class (or None) per request, in order."
        return _channel(model.name, lambda reqs: model.classify(reqs, classes), contract, None, config, meter, errors, plan)
    if not callable(getattr(model, "generate", None)):
        raise AdapterError(f"Model {model.name!r} classifies directly and cannot answer prompts; use --strategy direct.")
    contract = "an adapter's generate() must return one answer per request, in order."
    return _channel(model.name, lambda reqs: [str(a) for a in model.generate(reqs)], contract, "", config, meter, errors, plan)
