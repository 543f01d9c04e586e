"""The channel: how a strategy's queries reach the model, batched, timed and image by image.

A strategy never calls the model itself; it gets a channel (``ask`` for a generative model,
``classify`` for a direct classifier) that sends its queries in batches through
:func:`~.batching.run_batched`, decodes each batch's images only when it is sent, and times
every call on the :class:`~.cost.CostMeter`. With an :class:`~.answer_cache.AnswerCache`,
answers found there are not sent to the model, and the model's answers are stored as each
batch returns (:class:`CacheUse` counts both). With a :class:`~.token_use.TokenUse`, the
adapter's token counts are added up per item after each call.

Each ``ask`` is sent sorted by the length of the items' own text (stable, so one item's
queries stay side by side and can share a prefix; less padding per batch), and the answers
come back in the strategy's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..datasets.base import ItemError
from ..models.base import PromptTooLong, Request, RequestsFailed
from ..record import Throughput
from ..strategies.base import Query
from .answer_cache import AnswerCache, KeyMaker, image_digest
from .batching import BatchPlan, run_batched
from .config import EvalConfig
from .cost import CostMeter
from .progress import ProgressTracker
from .token_use import TokenUse


class AdapterError(RuntimeError):
    """A model adapter broke its contract (e.g. returned the wrong number of answers), or some of
    its requests failed for good; the message is one sentence."""


@dataclass
class CacheUse:
    """The answer cache during one evaluation: its keys, and what it answered and stored."""

    cache: AnswerCache
    keys: KeyMaker
    hits: int = 0
    """Requests answered from the cache."""
    stored: int = 0
    """Answers this evaluation wrote to the cache."""
    cached_s: float = 0.0
    """Seconds spent on batches answered wholly from the cache (decoding, hashing, lookup)."""
    image_digests: dict[str, str | None] = field(default_factory=dict)
    """Each item's image digest, computed once: closed_set asks about one image several times,
    binary up to once per class, and hashing a 448x448 image costs about half a millisecond."""
    hit_items: set[str] = field(default_factory=set)
    model_items: set[str] = field(default_factory=set)
    """Items with at least one request answered from the cache / sent to the model."""

    @classmethod
    def start(cls, cache: AnswerCache | None, model: Any, needs: str, classes: Sequence[str]) -> CacheUse | None:
        if cache is None:
            return None
        return cls(cache, KeyMaker(model, classes if needs == "classify" else None))

    def apply_to(self, throughput: Throughput, n_items: int) -> Throughput:
        """``throughput`` with items/s over the model's own work, and ``cache_hits`` when the cache was read.

        Items answered wholly from the cache leave the count, and the batches answered wholly
        from the cache leave the time: items/s = (items - cached items) / (wall - cached_s).
        """
        model_items = n_items - len(self.hit_items - self.model_items)
        span = throughput.wall_s - self.cached_s
        return replace(
            throughput,
            items_per_s=model_items / span if model_items > 0 and span > 0 else 0.0,
            cache_hits=self.hits if self.cache.readable else None,
        )

    def lookup(self, chunk: Sequence[Query], requests: list[Request | None]) -> tuple[dict[int, str], dict[int, Any]]:
        """The key of each readable request, and the answers the cache already holds, by position."""
        keys = {}
        for i, request in enumerate(requests):
            if request is not None:
                item = chunk[i].item.id
                if item not in self.image_digests:
                    self.image_digests[item] = image_digest(request.image)
                keys[i] = self.keys.key(request, self.image_digests[item])
        found = self.cache.get_many(keys.values())
        return keys, {i: found[k] for i, k in keys.items() if k in found}

    def count(self, chunk: Sequence[Query], hits: Sequence[int], sent: Sequence[int]) -> None:
        """A batch done (counted only then: a batch halved after running out of memory is sent again)."""
        self.hits += len(hits)
        self.hit_items.update(chunk[i].item.id for i in hits)
        self.model_items.update(chunk[i].item.id for i in sent)

    def store(self, answers: list[tuple[str, Any]], model: str) -> None:
        self.stored += self.cache.put_many(answers, model)


def _failure(exc: RequestsFailed, arrived: int, use: CacheUse | None) -> str:
    """One sentence: the adapter's cause, and what became of the answers that did arrive."""
    reason = str(exc).strip().rstrip(".") or "some requests failed"
    if use is not None and use.cache.writable:
        kept = use.stored + use.hits
        return (f"{reason}; {kept} answers of this evaluation are kept in the answer cache, so a rerun with "
                f"--vlmbench-resume asks the model only for the rest.")  # fmt: skip
    return (f"{reason}; the answer cache is not written (--vlmbench-cache off or read), so the {arrived} answers "
            f"that did arrive are not kept (--vlmbench-resume keeps them).")  # fmt: skip


def _requests(chunk: Sequence[Query], config: EvalConfig, errors: dict[str, str]) -> list[Request | None]:
    """One request per query; ``None`` for an item whose image cannot be read (noted in ``errors``).

    An item's image (and each image exemplar's) is decoded once per batch however many of its
    queries the batch holds, and its requests carry the item id as their prefix-sharing group
    (unless switched off).
    """
    out: list[Request | None] = []
    images: dict[str, Any] = {}
    for q in chunk:
        if q.item.id in errors:
            out.append(None)
            continue
        try:
            for item in (*q.exemplars, q.item):
                if item.id not in images:
                    images[item.id] = item.image()
            group = q.item.id if config.prefix_sharing else None
            shown = tuple(images[e.id] for e in q.exemplars if e.load_image is not None)
            out.append(Request(q.prompt, images[q.item.id], config.max_new_tokens, group=group, decided=q.decided, exemplar_images=shown))
        except ItemError as exc:
            about = "" if exc.item_id == q.item.id else f"its k-shot exemplar {exc.item_id!r}: "
            errors[q.item.id] = about + exc.reason
            out.append(None)
    return out


def _fitting(
    call: Callable[[list[Request]], Sequence[Any]],
    chunk: Sequence[Query],
    requests: list[Request | None],
    pending: list[int],
    errors: dict[str, str],
) -> tuple[list[int], list[Any]]:
    """``call`` on the pending requests, leaving out the items whose prompt does not fit the model.

    An adapter that checks prompt lengths raises :class:`~..models.base.PromptTooLong` before
    running anything; those items are recorded in ``errors`` (one sentence each: length and
    limit), their requests dropped, and the rest sent again -- the other items go on.
    """
    while pending:
        try:
            return pending, list(call([r for i in pending if (r := requests[i]) is not None]))
        except PromptTooLong as exc:
            if not exc.reasons:
                raise
            for position, reason in exc.reasons.items():
                errors[chunk[pending[position]].item.id] = reason
            for i in pending:
                if chunk[i].item.id in errors:
                    requests[i] = None
            pending = [i for i in pending if requests[i] is not None]
    return [], []


def _channel(
    name: str,
    call: Callable[[list[Request]], Sequence[Any]],
    contract: str,
    skipped: Any,
    config: EvalConfig,
    meter: CostMeter,
    errors: dict[str, str],
    plan: BatchPlan,
    use: CacheUse | None,
    progress: ProgressTracker | None = None,
    tokens: TokenUse | None = None,
    shares_prefix: bool = False,
) -> ModelChannel:
    """The batched, timed way a strategy reaches the model, one ``call`` per batch.

    Images are decoded here, one batch at a time, never for the whole dataset. An item whose
    image fails to decode is recorded in ``errors`` and answered with ``skipped`` without
    reaching the model; :func:`~.evaluate.evaluate` then leaves it out of the metrics. A batch
    that runs out of accelerator memory is halved and retried (``plan`` keeps the count).
    With ``use``, cached answers are taken from the cache and only the rest are sent; a batch
    wholly answered from the cache makes no model call. :class:`~..models.base.RequestsFailed`
    keeps the answers that did arrive in the cache, then fails with :class:`AdapterError`.
    """

    def send(chunk: Sequence[Query]) -> list[Any]:
        start = time.perf_counter()
        requests = _requests(chunk, config, errors)
        keys, results = use.lookup(chunk, requests) if use is not None else ({}, {})
        hits = list(results)
        pending = [i for i, r in enumerate(requests) if r is not None and i not in results]
        if pending:
            meter.sync()
            t0 = time.perf_counter()
            try:
                pending, out = _fitting(call, chunk, requests, pending, errors)
                good = [r for i in pending if (r := requests[i]) is not None]
            except RequestsFailed as exc:
                pending = [i for i in pending if requests[i] is not None]  # as _fitting last sent them
                arrived = {pending[p]: a for p, a in exc.answered.items() if 0 <= p < len(pending)}
                if use is not None:
                    use.store([(keys[i], a) for i, a in arrived.items()], name)
                    use.count(chunk, hits, [])
                raise AdapterError(_failure(exc, len(arrived), use)) from None
            meter.sync()
            meter.record_batch(time.perf_counter() - t0, len(good))
            if len(out) != len(good):
                raise AdapterError(f"Model {name!r} returned {len(out)} results for {len(good)} requests; {contract}")
            if tokens is not None:
                tokens.after_call([chunk[i].item.id for i in pending])
            results.update(zip(pending, out))
            if use is not None:
                use.store([(keys[i], a) for i, a in zip(pending, out)], name)
        elif use is not None and hits:
            use.cached_s += time.perf_counter() - start
        if use is not None:
            use.count(chunk, hits, pending)
        return [results.get(i, skipped) if r is not None else skipped for i, r in enumerate(requests)]

    def ask(queries: Sequence[Query]) -> list[Any]:
        # Each call is one pass of the strategy's queries; with ``progress``, each returned batch is reported.
        order = sorted(range(len(queries)), key=lambda i: len(queries[i].item.text or ""))
        ordered = [queries[i] for i in order]
        answers = run_batched(ordered, plan, progress.counting(ordered, send) if progress else send)
        out: list[Any] = [None] * len(queries)
        for position, i in enumerate(order):
            out[i] = answers[position]
        return out

    return ModelChannel(ask, plan, shares_prefix)


@dataclass
class ModelChannel:
    """What a strategy calls to reach the model (an :data:`~..strategies.base.Ask`/``Classify``),
    with two facts a strategy may plan by: the current batch size, and whether one item's
    queries sent together share their prefix (so asking several at once is cheap)."""

    ask: Callable[[Sequence[Query]], list[Any]]
    plan: BatchPlan
    shares_prefix: bool = False

    def __call__(self, queries: Sequence[Query]) -> list[Any]:
        return self.ask(queries)

    @property
    def batch_size(self) -> int:
        return self.plan.size


def make_channel(
    model: Any,
    strategy_needs: str,
    classes: Sequence[str],
    config: EvalConfig,
    meter: CostMeter,
    errors: dict[str, str],
    plan: BatchPlan,
    use: CacheUse | None = None,
    progress: ProgressTracker | None = None,
    tokens: TokenUse | None = None,
) -> ModelChannel:
    """The channel a strategy needs (answers for ``generate``, classes for ``classify``).

    Raises :class:`AdapterError` with one sentence when the model cannot provide it.
    """
    if strategy_needs == "classify":
        if not callable(getattr(model, "classify", None)):
            raise AdapterError(f"Model {model.name!r} generates text and has no classify(); use a prompting strategy.")
        contract = "an adapter's classify() must return one class (or None) per request, in order."
        return _channel(model.name, lambda reqs: model.classify(reqs, classes), contract, None, config, meter, errors, plan, use, progress)
    if not callable(getattr(model, "generate", None)):
        raise AdapterError(f"Model {model.name!r} classifies directly and cannot answer prompts; use --strategy direct.")
    contract = "an adapter's generate() must return one answer per request, in order."
    return _channel(model.name, lambda reqs: [str(a) for a in model.generate(reqs)], contract, "", config, meter, errors, plan, use, progress, tokens,
                    shares_prefix=config.prefix_sharing and bool(getattr(model, "prefix_sharing", False)))
