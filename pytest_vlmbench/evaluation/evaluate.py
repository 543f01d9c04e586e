"""Run one (model, dataset, strategy) evaluation and return its JSON-ready record.

This is the whole library path; the pytest plugin only decides *which* evaluations run
and where the records go. Usable on its own::

    from pytest_vlmbench import evaluate, load_dataset, load_model, resolve_model, LoadOptions
    model, load_s = load_model(resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    record = evaluate(model, load_dataset("digits").limited(20), "closed_set", EvalConfig())
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .batching import BatchPlan, run_batched
from ..strategies.catalog import STRATEGIES
from .cost import CostMeter
from ..datasets.base import Dataset, ItemError
from ..datasets.fingerprint import fingerprint
from .scores import classification_report
from ..models.base import DirectClassifier, GenerativeModel, Request
from ..strategies.prompting import Query, StrategyConfig

SCHEMA_VERSION = 1


class AdapterError(RuntimeError):
    """A model adapter broke its contract (e.g. returned the wrong number of answers)."""


@dataclass(frozen=True)
class EvalConfig:
    """Everything besides the model and the data that an evaluation's result depends on."""

    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    batch_size: int = 8
    max_new_tokens: int = 8
    limit: int | None = None


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results, read without importing them."""
    out = {"python": platform.python_version()}
    for dist in ("pytest-vlmbench", "torch", "transformers", "scikit-learn", "pillow", "datasets"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def plain_json(value: Any) -> Any:
    """Convert to plain JSON types: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalar
        return plain_json(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


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
    reaching the model; :func:`evaluate` then leaves it out of the metrics. A batch that runs
    out of accelerator memory is halved and retried (``plan`` keeps the count).
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


def evaluate(
    model: GenerativeModel | DirectClassifier,
    dataset: Dataset,
    strategy: str,
    config: EvalConfig,
    *,
    model_load_s: float | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``dataset`` with ``strategy``; returns the ``vlmbench`` record."""
    entry = STRATEGIES.get(strategy)
    run_strategy = entry.load()
    dataset = dataset.limited(config.limit)
    items = list(dataset.items)
    meter = CostMeter(device=str(model.info.get("device", "cpu")))
    meter.start()
    errors: dict[str, str] = {}
    plan = BatchPlan(config.batch_size)
    channel = make_channel(model, str(entry.meta.get("needs", "generate")), dataset.classes, config, meter, errors, plan)
    outcomes = run_strategy(dataset, items, channel, config.strategy)
    meter.stop()
    outcomes = [o for o in outcomes if o.item.id not in errors]  # unreadable items: listed, not scored

    report = classification_report([o.item.label for o in outcomes], [o.prediction for o in outcomes], dataset.classes)
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "model": model.name,
        "model_info": dict(model.info),
        "dataset": dataset.name,
        "dataset_source": dataset.source,
        "strategy": entry.name,
        "n_items": len(outcomes),
        "n_errors": len(errors),
        "errors": [{"id": item_id, "error": reason} for item_id, reason in errors.items()],
        "classes": list(dataset.classes),
        "background_class": dataset.background_class,
        # Beside config, not in it: config is the baseline key, and a changed dataset should
        # be reported as changed data, not turn into "no baseline".
        "dataset_fingerprint": fingerprint(dataset),
        "config": {
            **config.strategy.describe(entry.name),
            "batch_size": config.batch_size,
            "max_new_tokens": config.max_new_tokens,
            "limit": config.limit,
            "num_classes": len(dataset.classes),
            "per_class": dataset.provenance.get("selection", {}).get("per_class"),
            "versions": library_versions(),
        },
        **report,
        "throughput": {**meter.throughput(len(items), model_load_s), **plan.as_json()},
        "memory": meter.memory(),
        "predictions": [
            {
                "id": o.item.id,
                "label": o.item.label,
                "prediction": o.prediction,
                "correct": o.prediction == o.item.label,
                "answers": o.answers,
                **o.detail,
            }
            for o in outcomes
        ],
    }
    energy = meter.energy()
    if energy is not None:
        record["energy"] = energy
    return plain_json(record)  # type: ignore[no-any-return]
