"""Synthetic records and runs, for the gate's tests and ``bench/gate_noise.py``.

They have the shape of :func:`pytest_vlmbench.runner.evaluate`'s records (schema 1) with
metrics computed from the given predictions, so the gate sees exactly what a real run
would give it -- without loading a model.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .significance import metric_from_predictions


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
    **top: Any,
) -> dict[str, Any]:
    """A schema-1 record whose metrics are computed from ``labels`` and ``predictions``."""
    classes = list(classes) if classes is not None else sorted(set(labels))
    ids = list(ids) if ids is not None else [str(i) for i in range(len(labels))]
    n = len(labels)
    metrics = {"accuracy": sum(p == t for p, t in zip(predictions, labels)) / n if n else 0.0}
    for avg in ("macro", "weighted"):
        for m in ("precision", "recall", "f1"):
            name = f"{avg}_{m}"
            metrics[name] = metric_from_predictions(name, labels, predictions, classes) if n else 0.0
    metrics["invalid_rate"] = sum(p is None for p in predictions) / n if n else 0.0
    record: dict[str, Any] = {
        "schema": 1,
        "model": model,
        "model_info": {"device": device},
        "dataset": dataset,
        "dataset_source": "synthetic",
        "strategy": strategy,
        "n_items": n,
        "classes": classes,
        "background_class": None,
        "config": {
            "seed": seed,
            "permutations": 3,
            "prompt_template": "{classes}?",
            "batch_size": batch_size,
            "max_new_tokens": 8,
            "limit": None,
            "versions": {"python": "3.11"},
            **(extra_config or {}),
        },
        "metrics": metrics,
        "per_class": {},
        "confusion": {"rows": classes, "columns": [*classes, "invalid"], "matrix": []},
        "throughput": {
            "items_per_s": items_per_s,
            "wall_s": n / items_per_s if items_per_s else 0.0,
            "model_time_s": 0.0,
            "n_batches": 1,
            "n_requests": n,
            "batch_latency_ms": {"mean": latency_ms, "p50": latency_ms, "p90": latency_ms, "p99": latency_ms, "max": latency_ms},
            "model_load_s": 1.0,
        },
        "memory": {"device": device, "peak_rss_mb": peak_rss_mb},
        "predictions": [
            {"id": i, "label": t, "prediction": p, "correct": p == t, "answers": [str(p)]}
            for i, t, p in zip(ids, labels, predictions)
        ],
    }
    record.update(top)
    return record


def with_predictions(record: Mapping[str, Any], predictions: Sequence[str | None], **changes: Any) -> dict[str, Any]:
    """A copy of ``record`` with new predictions (same items) and recomputed metrics."""
    labels = [p["label"] for p in record["predictions"]]
    ids = [p["id"] for p in record["predictions"]]
    config = dict(record["config"])
    base = {k: config.pop(k) for k in ("seed", "batch_size")}
    for key in ("permutations", "prompt_template", "max_new_tokens", "limit", "versions"):
        config.pop(key, None)
    kwargs: dict[str, Any] = {
        "classes": record["classes"],
        "model": record["model"],
        "dataset": record["dataset"],
        "strategy": record["strategy"],
        "ids": ids,
        "extra_config": config,
        "items_per_s": record["throughput"]["items_per_s"],
        "latency_ms": record["throughput"]["batch_latency_ms"]["p50"],
        "peak_rss_mb": record["memory"]["peak_rss_mb"],
        "device": record["model_info"].get("device", "cpu"),
        **base,
    }
    kwargs.update(changes)
    return make_record(labels, predictions, **kwargs)


def run_document(records: Sequence[Mapping[str, Any]], *, commit: str = "", names: Sequence[str] = ()) -> dict[str, Any]:
    """A pytest-benchmark-shaped JSON document holding ``records``."""
    benchmarks = []
    for i, record in enumerate(records):
        name = names[i] if i < len(names) else f"test_bench[{record['model']}-{record['dataset']}-{record['strategy']}-{i}]"
        benchmarks.append(
            {
                "group": None,
                "name": name,
                "fullname": f"tests/test_bench.py::{name}",
                "params": None,
                "param": None,
                "extra_info": {"vlmbench": copy.deepcopy(dict(record))},
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
        "vlmbench": {"schema": 1, "options": {}, "models": {}},
    }
