"""Throughput and memory of the offline default, measured side by side in one run.

    .venv/bin/python bench/throughput.py [--items 200] [--dataset fashion_mnist]

Loads the tiny Qwen2-VL once and evaluates the same items with each batch size and both
strategies, interleaving the configurations over several rounds so machine noise hits
them alike. Prints items/s (median over rounds) and the ratio to batch size 1, and the
process's peak RSS. Uses only the library: no pytest involved.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pytest_vlmbench.models import catalog
from pytest_vlmbench.datasets.builtin import default_image_dataset
from pytest_vlmbench.datasets.resolve import load_dataset
from pytest_vlmbench.evaluation.cost import peak_rss_mb
from pytest_vlmbench.models.base import LoadOptions
from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate
from pytest_vlmbench.session.summary import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--dataset", default=default_image_dataset())
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,4,8,16")
    args = parser.parse_args()

    model, load_s = catalog.load_model(catalog.resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    dataset = load_dataset(args.dataset).limited(args.items)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    configs = [(strategy, bs) for strategy in ("closed_set", "binary") for bs in sizes]
    speeds: dict[tuple[str, int], list[float]] = {c: [] for c in configs}
    requests: dict[tuple[str, int], int] = {}
    for _ in range(args.rounds):
        for strategy, bs in configs:
            record = evaluate(model, dataset, strategy, EvalConfig(batch_size=bs))
            speeds[(strategy, bs)].append(record.throughput.items_per_s)
            requests[(strategy, bs)] = record.throughput.n_requests
    model.close()

    rows = []
    for strategy, bs in configs:
        median = statistics.median(speeds[(strategy, bs)])
        base = statistics.median(speeds[(strategy, sizes[0])])
        rows.append((strategy, str(bs), str(requests[(strategy, bs)]), f"{median:.1f}", f"{median / base:.2f}x"))
    print(f"tiny:qwen2-vl on {args.items} {args.dataset} items, CPU, {args.rounds} interleaved rounds; load {load_s:.1f}s")
    print("\n".join(format_table(("strategy", "batch", "prompts", "items/s", f"vs batch {sizes[0]}"), rows)))
    print(f"peak RSS of the process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
