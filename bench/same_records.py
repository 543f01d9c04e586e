"""Are two runs' records the same result? A refactoring check, not a benchmark.

    python bench/same_records.py BEFORE.json AFTER.json

Each file is a ``--vlmbench-json`` file, a pytest-benchmark JSON or a journal (``.jsonl``);
every record in it is paired with the other file's on (model, dataset, strategy, config)
and compared field by field after leaving out what may differ between two runs of the same
code: timings, memory, energy, cost, library versions, the model load id, the run's options,
and the paths into each run's cache folder (tiny builds, trained classifiers). Floats must agree to 1e-12 (relative).

The deliberate changes of schema 2 are normalised before comparing: a schema-1 record gains
the ``task`` a schema-2 record names (NER when its classes are IOB tags), and its NER labels
and predictions (tags joined by spaces) become lists of tags. Prints one line per case and
exits 1 when any case differs or is missing from either side.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

IGNORED = ("schema", "throughput", "memory", "energy", "cost", "model_load_id", "options")
"""Top-level record keys that differ between two runs of the same code (timings, machine, run options)."""
KEPT_THROUGHPUT = ("n_batches", "n_requests", "oom_retries", "final_batch_size")
"""Throughput keys that are results, not timings: the same code sends the same batches."""
TRAINING_TIMINGS = ("seconds", "items_per_s", "peak_memory_mb", "energy_joules", "reused", "cache_key")
"""The training section's timings, memory, whether the weights cache already held them, and its cache key (which
names the base model's folder); its losses, items, hyperparameters and data hash must agree."""


def records_in(path: Path) -> list[dict[str, Any]]:
    """Every record a results file holds, wherever it sits (JSON or JSON lines)."""
    text = path.read_text(encoding="utf-8")
    documents = [json.loads(line) for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else [json.loads(text)]
    found: list[dict[str, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if {"model", "strategy", "predictions", "config"} <= value.keys():
                found.append(value)
                return
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for document in documents:
        walk(document)
    return found


def _cached(source: object) -> bool:
    """A tiny build's or trained classifier's folder in the cache directory: where it is differs between runs."""
    return "/tiny/" in str(source) or "/trained/" in str(source)


def _is_tag_set(classes: list[str]) -> bool:
    return "O" in classes and all(c == "O" or c[:2] in ("B-", "I-") for c in classes)


def normalised(record: dict[str, Any]) -> dict[str, Any]:
    """The record without what may differ between runs, in schema 2's shape."""
    out = {k: v for k, v in record.items() if k not in IGNORED}
    out["throughput"] = {k: v for k, v in record.get("throughput", {}).items() if k in KEPT_THROUGHPUT}
    out["config"] = {k: v for k, v in record["config"].items() if k != "versions"}
    if record.get("training"):
        out["training"] = {k: v for k, v in record["training"].items() if k not in TRAINING_TIMINGS}
    if record.get("schema") == 1:
        ner = _is_tag_set(list(record.get("classes", [])))
        out["task"] = "ner" if ner else "classification"
        if ner:
            out["predictions"] = [
                {**p, **{k: (p[k].split(" ") if isinstance(p.get(k), str) else p.get(k)) for k in ("label", "prediction")}}
                for p in record["predictions"]
            ]
    return out


def case_key(record: dict[str, Any]) -> str:
    config = {k: v for k, v in record["config"].items() if k not in ("versions", "batch_size")}
    return json.dumps([record["model"], record["dataset"], record["strategy"], config], sort_keys=True)


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where ``a`` and ``b`` first differ (floats to 1e-12 relative), or ``None``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'after' if key in b else 'before'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} vs {len(b)} entries"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(a, str) and isinstance(b, str) and _cached(a) and _cached(b):
        return None  # a tiny build's or trained classifier's folder: each run has its own cache
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12):
            return None
    elif a == b:
        return None
    return f"{path}: {a!r:.80} vs {b!r:.80}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    before = {case_key(r): r for r in records_in(Path(argv[0]))}
    after = {case_key(r): r for r in records_in(Path(argv[1]))}
    failures = same = 0
    for key in sorted(set(before) | set(after)):
        name = " ".join(json.loads(key)[:3])
        if key not in before or key not in after:
            failures += 1
            print(f"MISSING  {name}: only {'after' if key in after else 'before'}")
            continue
        diff = first_difference(normalised(before[key]), normalised(after[key]))
        failures += diff is not None
        same += diff is None
        print(f"{'DIFFERS' if diff else 'same'}     {name}" + (f": {diff}" if diff else f" ({len(after[key]['predictions'])} items)"))
    print(f"{same} of {len(set(before) | set(after))} cases the same")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
