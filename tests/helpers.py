"""Shared test helpers. Synthetic records and runs, for the gate's tests and ``bench/gate_noise.py``.

They are :class:`~pytest_vlmbench.record.Record` objects like :func:`pytest_vlmbench.evaluate`
returns, with metrics computed from the given predictions, so the gate sees exactly what a
real run would give it -- without loading a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pytest_vlmbench.record import SCHEMA_VERSION, Confusion, LatencyMs, Memory, Metrics, Prediction, Record, RecordConfig, Throughput
from pytest_vlmbench.gate.significance import classes_without_items, quality_from_predictions


def _metrics(labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> Metrics:
    """The metrics a real run gives for these predictions (the gate recomputes them on load)."""
    return Metrics(
        **quality_from_predictions(labels, predictions, classes), classes_without_items=classes_without_items(labels, classes)
    )


def _throughput(n: int, items_per_s: float, latency_ms: float) -> Throughput:
    return Throughput(
        items_per_s=items_per_s,
        wall_s=n / items_per_s if items_per_s else 0.0,
        model_time_s=0.0,
        n_batches=1,
        n_requests=n,
        batch_latency_ms=LatencyMs(latency_ms, latency_ms, latency_ms, latency_ms, latency_ms),
        model_load_s=1.0,
    )


def _predictions(ids: Sequence[str], labels: Sequence[str], predictions: Sequence[str | None]) -> tuple[Prediction, ...]:
    return tuple(Prediction(str(i), t, p, p == t, (str(p),)) for i, t, p in zip(ids, labels, predictions))


def make_record(
    labels: Sequence[str],
    predictions: Sequence[str | None],
    *,
    classes: Sequence[str] | None = None,
    model: str = "fake-vlm",
    dataset: str = "digits",
    strategy: str = "closed_set",
    seed: int = 0,
    batch_size: int = 8,
    items_per_s: float = 50.0,
    latency_ms: float = 100.0,
    peak_rss_mb: float = 1000.0,
    device: str = "cpu",
    ids: Sequence[str] | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> Record:
    """A record whose metrics are computed from ``labels`` and ``predictions``.

    ``extra_config`` adds (or overrides) ``config`` entries: ``{"num_classes": 10}``. For
    anything else, ``dataclasses.replace`` the result.
    """
    classes = tuple(classes) if classes is not None else tuple(sorted(set(labels)))
    ids = list(ids) if ids is not None else [str(i) for i in range(len(labels))]
    config = RecordConfig.build(
        {"seed": seed, "permutations": 3, "prompt_template": "{classes}?"},
        batch_size=batch_size, max_new_tokens=8, limit=None, versions={"python": "3.11"}, **(extra_config or {}),
    )  # fmt: skip
    return Record(
        schema=SCHEMA_VERSION,
        model=model,
        model_info={"device": device},
        dataset=dataset,
        dataset_source="synthetic",
        strategy=strategy,
        n_items=len(labels),
        classes=classes,
        config=config,
        metrics=_metrics(labels, predictions, classes),
        confusion=Confusion(classes, (*classes, "invalid"), ()),
        throughput=_throughput(len(labels), items_per_s, latency_ms),
        memory=Memory(device=device, peak_rss_mb=peak_rss_mb),
        predictions=_predictions(ids, labels, predictions),
    )


def with_predictions(
    record: Record,
    predictions: Sequence[str | None],
    *,
    items_per_s: float | None = None,
    latency_ms: float | None = None,
    batch_size: int | None = None,
    peak_rss_mb: float | None = None,
    **fields: Any,
) -> Record:
    """A copy of ``record`` with new predictions (same items) and recomputed metrics.

    ``items_per_s``, ``latency_ms``, ``batch_size`` and ``peak_rss_mb`` change the cost parts
    as in :func:`make_record`; other keywords are :class:`Record` fields to replace.
    """
    labels = [p.label for p in record.predictions]
    out = replace(
        record,
        predictions=_predictions([p.id for p in record.predictions], labels, predictions),
        metrics=_metrics(labels, predictions, record.classes),
        n_items=len(labels),
    )
    if items_per_s is not None or latency_ms is not None:
        speed = items_per_s if items_per_s is not None else record.throughput.items_per_s
        latency = latency_ms if latency_ms is not None else record.throughput.batch_latency_ms.p50
        out = replace(out, throughput=_throughput(len(labels), speed, latency))
    if batch_size is not None:
        out = replace(out, config=replace(out.config, batch_size=batch_size))
    if peak_rss_mb is not None:
        out = replace(out, memory=replace(out.memory, peak_rss_mb=peak_rss_mb))
    return replace(out, **fields)


def run_document(records: Sequence[Record], *, commit: str = "", names: Sequence[str] = ()) -> dict[str, Any]:
    """A pytest-benchmark-shaped JSON document holding ``records``."""
    benchmarks = []
    for i, record in enumerate(records):
        name = names[i] if i < len(names) else f"test_bench[{record.model}-{record.dataset}-{record.strategy}-{i}]"
        benchmarks.append(
            {
                "group": None,
                "name": name,
                "fullname": f"tests/test_bench.py::{name}",
                "params": None,
                "param": None,
                "extra_info": {"vlmbench": record.to_json()},
                "options": {},
                "stats": {"min": 1.0, "max": 1.0, "mean": 1.0, "stddev": 0.0, "rounds": 1, "median": 1.0,
                          "iqr": 0.0, "q1": 1.0, "q3": 1.0, "iqr_outliers": 0, "stddev_outliers": 0,
                          "outliers": "0;0", "ld15iqr": 1.0, "hd15iqr": 1.0, "ops": 1.0, "total": 1.0,
                          "iterations": 1},
            }
        )  # fmt: skip
    return {
        "machine_info": {"node": "test", "machine": "x86_64"},
        "commit_info": {"id": commit, "dirty": False} if commit else {},
        "benchmarks": benchmarks,
        "datetime": "2026-11-25T00:00:00",
        "version": "5.3.1",
        "vlmbench": {"schema": SCHEMA_VERSION, "options": {}, "models": {}},
    }
