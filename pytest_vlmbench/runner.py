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
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .catalog import STRATEGIES
from .cost import CostMeter
from .data import Dataset
from .metrics import classification_report
from .models.base import GenerativeModel, Request
from .strategies import Query, StrategyConfig

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


def make_ask(model: GenerativeModel, config: EvalConfig, meter: CostMeter) -> Any:
    """The batched, timed channel through which a strategy talks to the model."""

    def ask(queries: Sequence[Query]) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(queries), config.batch_size):
            chunk = queries[start : start + config.batch_size]
            # Images are decoded here, one batch at a time, never for the whole dataset.
            requests = [Request(q.prompt, q.item.image(), config.max_new_tokens) for q in chunk]
            meter.sync()
            t0 = time.perf_counter()
            out = model.generate(requests)
            meter.sync()
            meter.record_batch(time.perf_counter() - t0, len(chunk))
            if len(out) != len(chunk):
                raise AdapterError(
                    f"Model {model.name!r} returned {len(out)} answers for {len(chunk)} prompts; "
                    f"an adapter's generate() must return one answer per request, in order."
                )
            answers.extend(str(a) for a in out)
        return answers

    return ask


def evaluate(
    model: GenerativeModel,
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
    outcomes = run_strategy(dataset, items, make_ask(model, config, meter), config.strategy)
    meter.stop()

    report = classification_report([o.item.label for o in outcomes], [o.prediction for o in outcomes], dataset.classes)
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "model": model.name,
        "model_info": dict(model.info),
        "dataset": dataset.name,
        "dataset_source": dataset.source,
        "strategy": entry.name,
        "n_items": len(items),
        "classes": list(dataset.classes),
        "background_class": dataset.background_class,
        "config": {
            **config.strategy.describe(entry.name),
            "batch_size": config.batch_size,
            "max_new_tokens": config.max_new_tokens,
            "limit": config.limit,
            "versions": library_versions(),
        },
        **report,
        "throughput": meter.throughput(len(items), model_load_s),
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
