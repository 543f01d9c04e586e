"""The channel: how a strategy's queries reach the model, batched, timed and image by image.

A strategy never calls the model itself; :func:`~.evaluate.evaluate` hands it a
:class:`Channel` (the :class:`~..strategies.base.Ask` and :class:`~..strategies.base.Classify`
a strategy is typed against), which owns everything one evaluation keeps about the model's
work: the :class:`~.cost.CostMeter` that times every call, the :class:`~.batching.BatchSizer`
(halved on out-of-memory), the answer cache's use (:class:`CacheUse`: answers found there are
not sent, the model's answers are stored as each batch returns), the :class:`TokenTally` of
the answers' token counts per item, the error log of unreadable items, and progress.

Each pass is sent sorted by the length of the items' own text (stable, so one item's queries
stay side by side and can share a prefix; less padding per batch), and the answers come back
in the strategy's order.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

from ..datasets.base import Dataset, ItemError
from ..models.base import DirectClassifier, GenerativeModel, Model, PromptTooLong, Request, RequestsFailed
from ..record import Throughput
from ..record.tokens import Tokens
from ..strategies.base import Needs, Query
from .answer_cache import AnswerCache, KeyMaker, image_digest
from .batching import BatchSizer, run_batched
from .config import EvalConfig
from .cost import CostMeter
from .progress import ProgressObserver, ProgressTracker

Reply = str | None
"""One answer as a strategy gets it: a generative model's text, or a classifier's class (``None``: none)."""
Replies = tuple[list[Reply], list[Tokens | None] | None]
"""One model call's answers, in order, and their token counts (``None`` for a classifier: it counts none)."""


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
    def start(cls, cache: AnswerCache | None, model: Model, needs: Needs, classes: Sequence[str]) -> CacheUse | None:
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

    def store(self, answers: list[tuple[str, Reply]], model: str) -> None:
        self.stored += self.cache.put_many(answers, model)


@dataclass
class TokenTally:
    """Token counts of one evaluation, summed per item from the :class:`~..models.base.Answer` s the model gave.

    A request answered from the answer cache never reaches the model and costs nothing. Once
    any answer comes without counts (an adapter that does not count, a server that sent no
    ``usage``), the record gets no tokens at all rather than partial sums, which would read as
    a cheaper run. A classifier's channel counts nothing from the start.
    """

    counting: bool = True
    per_item: dict[str, Tokens] = field(default_factory=dict)

    def add(self, item_ids: Sequence[str], counts: Sequence[Tokens | None] | None) -> None:
        """The model has just answered one request per id of ``item_ids``, with these ``counts``."""
        if not self.counting:
            return
        if counts is None or len(counts) != len(item_ids) or any(c is None for c in counts):
            self.counting = False
            return
        for item, c in zip(item_ids, counts):
            self.per_item[item] = self.per_item.get(item, Tokens()) + cast(Tokens, c)

    def of_item(self, item_id: str) -> Tokens | None:
        """The item's tokens (zero when all its answers came from the cache); ``None`` when not counting."""
        return self.per_item.get(item_id, Tokens()) if self.counting else None

    def total(self, item_ids: Sequence[str]) -> Tokens | None:
        """The sum over ``item_ids`` (the scored items); ``None`` when not counting."""
        if not self.counting:
            return None
        return sum((self.per_item.get(i, Tokens()) for i in item_ids), Tokens())


@dataclass
class _Batch:
    """One batch of queries on its way: its requests, their cache keys, and the answers so far, by position."""

    queries: Sequence[Query]
    requests: list[Request | None]
    """``None`` for a query whose item is in the error log (unreadable image, prompt too long)."""
    keys: dict[int, str]
    answers: dict[int, Reply]
    """From the cache first, then from the model."""
    hits: list[int]
    """Positions answered from the cache."""
    sent: list[int] = field(default_factory=list)
    """Positions sent to the model (in the call that answered them, or the one that failed)."""


def _model_call(
    model: GenerativeModel | DirectClassifier, needs: Needs, classes: Sequence[str]
) -> tuple[Callable[[list[Request]], Replies], str]:
    """The one call a batch makes to the model, per the strategy's needs and the model's declared ``provides``,
    and the contract it is held to. Raises :class:`AdapterError` with one sentence when the model cannot provide it."""
    if needs == "classify":
        if model.provides != "classify":
            raise AdapterError(f"Model {model.name!r} generates text and has no classify(); use a prompting strategy.")
        classifier = cast(DirectClassifier, model)
        return (lambda requests: (classifier.classify(requests, classes), None),
                "an adapter's classify() must return one class (or None) per request, in order.")  # fmt: skip
    if model.provides != "generate":
        raise AdapterError(f"Model {model.name!r} classifies directly and cannot answer prompts; use --strategy direct.")
    generator = cast(GenerativeModel, model)

    def generate(requests: list[Request]) -> Replies:
        answers = generator.generate(requests)
        texts: list[Reply] = [a.text for a in answers]
        return texts, [a.tokens for a in answers]

    return generate, "an adapter's generate() must return one answer per request, in order."


def _failure(exc: RequestsFailed, arrived: int, use: CacheUse | None) -> str:
    """One sentence: the adapter's cause, and what became of the answers that did arrive."""
    reason = str(exc).strip().rstrip(".") or "some requests failed"
    if use is not None and use.cache.writable:
        kept = use.stored + use.hits
        return (f"{reason}; {kept} answers of this evaluation are kept in the answer cache, so a rerun with "
                f"--vlmbench-resume asks the model only for the rest.")  # fmt: skip
    return (f"{reason}; the answer cache is not written (--vlmbench-cache off or read), so the {arrived} answers "
            f"that did arrive are not kept (--vlmbench-resume keeps them).")  # fmt: skip


class Channel:
    """The batched, timed way one evaluation's strategy reaches the model (see the module docstring).

    Opening it starts its meter. Images are decoded one batch at a time, never for the whole
    dataset. An item whose image fails to decode, or whose prompt the adapter refuses as too
    long (:class:`~..models.base.PromptTooLong`), is recorded in :attr:`errors` and answered
    with ``""`` (``None`` for a classifier) without reaching the model;
    :func:`~.evaluate.evaluate` then leaves it out of the metrics. With an answer cache, a
    batch wholly answered from it makes no model call; :class:`~..models.base.RequestsFailed`
    keeps the answers that did arrive in the cache, then fails with :class:`AdapterError`.
    """

    def __init__(
        self,
        model: GenerativeModel | DirectClassifier,
        needs: Needs,
        dataset: Dataset,
        config: EvalConfig,
        answers: AnswerCache | None = None,
        progress: ProgressObserver | None = None,
    ) -> None:
        self.meter = CostMeter(device=model.info.device if model.info.device is not None else "cpu")
        self.meter.start()
        self.model_name = model.name
        self.needs = needs
        self.config = config
        self.errors: dict[str, str] = {}
        """Item id -> why it was not scored (one sentence); the record's ``errors``."""
        self.sizer = BatchSizer(config.batch_size)
        self.cache = CacheUse.start(answers, model, needs, dataset.classes)
        self.progress = ProgressTracker(progress, len(dataset.items), self.sizer) if progress is not None else None
        self.tokens = TokenTally(counting=needs == "generate" and model.counts_tokens)
        self._call, self._contract = _model_call(model, needs, dataset.classes)
        self._skipped: Reply = "" if needs == "generate" else None
        self.shares_prefix = needs == "generate" and config.prefix_sharing and model.shares_prefix
        """One item's queries sent together share their prefix, so asking several at once is cheap."""

    @property
    def batch_size(self) -> int:
        """The current batch size (halved after running out of accelerator memory)."""
        return self.sizer.size

    def ask(self, queries: Sequence[Query]) -> list[str]:
        """The generative model's raw answers to ``queries``, in order (``""`` for an item not scored)."""
        if self.needs != "generate":
            raise AdapterError("A strategy that needs 'classify' asked for text answers; declare needs='generate'.")
        return [a if a is not None else "" for a in self._pass(queries)]

    def classify(self, queries: Sequence[Query]) -> list[str | None]:
        """The classifier's class for each of ``queries``, in order (``None``: none of the dataset's, or not scored)."""
        if self.needs != "classify":
            raise AdapterError("A strategy that needs 'generate' asked for classes; declare needs='classify'.")
        return self._pass(queries)

    def throughput(self, n_items: int, model_load_s: float | None) -> Throughput:
        """The record's ``throughput``: the meter's, with the batch halvings and the cache's share (:meth:`CacheUse.apply_to`)."""
        throughput = self.sizer.apply_to(self.meter.throughput(n_items, model_load_s))
        return self.cache.apply_to(throughput, n_items) if self.cache is not None else throughput

    # -- the hot path: one pass, one batch ------------------------------------------------------

    def _pass(self, queries: Sequence[Query]) -> list[Reply]:
        # Each call is one pass of the strategy's queries; with progress, each returned batch is reported.
        order = sorted(range(len(queries)), key=lambda i: len(queries[i].item.text or ""))
        ordered = [queries[i] for i in order]
        send = self.progress.counting(ordered, self._send) if self.progress is not None else self._send
        answers = run_batched(ordered, self.sizer, send)
        out: list[Reply] = [None] * len(queries)
        for position, i in enumerate(order):
            out[i] = answers[position]
        return out

    def _send(self, chunk: Sequence[Query]) -> list[Reply]:
        """One batch: cached answers taken from the cache, the rest sent to the model in one call."""
        start = time.perf_counter()
        requests = self._requests(chunk)
        keys, found = self.cache.lookup(chunk, requests) if self.cache is not None else ({}, {})
        batch = _Batch(chunk, requests, keys, dict(found), hits=list(found))
        if any(r is not None and i not in batch.answers for i, r in enumerate(requests)):
            self._from_model(batch)
        elif self.cache is not None and batch.hits:
            self.cache.cached_s += time.perf_counter() - start
        if self.cache is not None:
            self.cache.count(chunk, batch.hits, batch.sent)
        return [batch.answers.get(i, self._skipped) if r is not None else self._skipped for i, r in enumerate(batch.requests)]

    def _requests(self, chunk: Sequence[Query]) -> list[Request | None]:
        """One request per query; ``None`` for an item whose image cannot be read (noted in :attr:`errors`).

        An item's image (and each image exemplar's) is decoded once per batch however many of its
        queries the batch holds, and its requests carry the item id as their prefix-sharing group
        (unless switched off).
        """
        out: list[Request | None] = []
        images: dict[str, Any] = {}
        for q in chunk:
            if q.item.id in self.errors:
                out.append(None)
                continue
            try:
                for item in (*q.exemplars, q.item):
                    if item.id not in images:
                        images[item.id] = item.image()
                group = q.item.id if self.config.prefix_sharing else None
                shown = tuple(images[e.id] for e in q.exemplars if e.load_image is not None)
                out.append(Request(q.prompt, images[q.item.id], self.config.max_new_tokens, group=group, decided=q.decided,
                                   exemplar_images=shown))  # fmt: skip
            except ItemError as exc:
                about = "" if exc.item_id == q.item.id else f"its k-shot exemplar {exc.item_id!r}: "
                self.errors[q.item.id] = about + exc.reason
                out.append(None)
        return out

    def _from_model(self, batch: _Batch) -> None:
        """The model's answers to the batch's requests that the cache did not answer: timed, tallied and cached."""
        self.meter.sync()
        t0 = time.perf_counter()
        try:
            answers, counts = self._fitting(batch)
        except RequestsFailed as exc:
            arrived = {batch.sent[p]: a.text for p, a in exc.answered.items() if 0 <= p < len(batch.sent)}
            if self.cache is not None:
                self.cache.store([(batch.keys[i], a) for i, a in arrived.items()], self.model_name)
                self.cache.count(batch.queries, batch.hits, [])
            raise AdapterError(_failure(exc, len(arrived), self.cache)) from None
        self.meter.sync()
        self.meter.record_batch(time.perf_counter() - t0, len(batch.sent))
        if len(answers) != len(batch.sent):
            raise AdapterError(
                f"Model {self.model_name!r} returned {len(answers)} results for {len(batch.sent)} requests; {self._contract}"
            )
        self.tokens.add([batch.queries[i].item.id for i in batch.sent], counts)
        batch.answers.update(zip(batch.sent, answers))
        if self.cache is not None:
            self.cache.store([(batch.keys[i], a) for i, a in zip(batch.sent, answers)], self.model_name)

    def _fitting(self, batch: _Batch) -> Replies:
        """The model's call on the pending requests, leaving out the items whose prompt does not fit the model.

        An adapter that checks prompt lengths raises :class:`~..models.base.PromptTooLong` before
        running anything; those items are recorded in :attr:`errors` (one sentence each: length and
        limit), their requests dropped, and the rest sent again -- the other items go on.
        ``batch.sent`` always holds the positions of the last call.
        """
        pending = [i for i, r in enumerate(batch.requests) if r is not None and i not in batch.answers]
        while pending:
            batch.sent = pending
            try:
                return self._call([r for i in pending if (r := batch.requests[i]) is not None])
            except PromptTooLong as exc:
                if not exc.reasons:
                    raise
                for position, reason in exc.reasons.items():
                    self.errors[batch.queries[pending[position]].item.id] = reason
                for i in pending:
                    if batch.queries[i].item.id in self.errors:
                        batch.requests[i] = None
                pending = [i for i in pending if batch.requests[i] is not None]
        batch.sent = []
        return [], []
