"""Hugging Face transformers vs vLLM: items/s of the same model on the same items, side by side.

    .venv-vllm/bin/python bench/engines.py [--model tiny:qwen2.5-7b] [--items 10] [--rounds 2]

Runs in the vLLM environment (`make install-vllm`), which has both engines. Loads the model
once on each engine (vLLM's engine in its own processes, beside the HF model), then
evaluates the same items with each strategy, alternating the engines over the rounds so that
machine noise hits them alike. Prints items/s (median over rounds), prompts per item, the
share of answers the engines agree on, and the speed ratio. Uses only the library.

On a GPU machine the same command measures the GPU (``--device auto``); vLLM is given
``--gpu-memory-utilization`` (default 0.5 here) so that the HF model fits beside it, and a
real model name (``--model qwen2.5-7b``) measures what matters.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; only read on a CPU

from pytest_vlmbench.datasets.resolve import load_dataset
from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate
from pytest_vlmbench.models import catalog
from pytest_vlmbench.models.base import LoadOptions
from pytest_vlmbench.record import Record
from pytest_vlmbench.session.summary import format_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny:qwen2.5-7b")
    parser.add_argument("--dataset", default="bbc_news")
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per call, both engines (the run's default)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    args = parser.parse_args()

    spec = catalog.resolve_model(args.model)
    engines = {
        "hf": LoadOptions(device=args.device),
        "vllm": LoadOptions(device=args.device, engine="vllm", gpu_memory_utilization=args.gpu_memory_utilization),
    }
    models, load_s = {}, {}
    for engine, options in engines.items():
        models[engine], load_s[engine] = catalog.load_model(spec, options)
    dataset = load_dataset(args.dataset).limited(args.items)
    config = EvalConfig(batch_size=args.batch_size)
    speeds: dict[tuple[str, str], list[float]] = {}
    last: dict[tuple[str, str], Record] = {}
    try:
        for round_ in range(args.rounds):
            order = list(engines) if round_ % 2 == 0 else list(reversed(engines))
            for strategy in ("closed_set", "binary"):
                for engine in order:
                    record = evaluate(models[engine], dataset, strategy, config)
                    speeds.setdefault((strategy, engine), []).append(record.throughput.items_per_s)
                    last[(strategy, engine)] = record
    finally:
        for model in models.values():
            model.close()

    rows = []
    for strategy in ("closed_set", "binary"):
        hf, vllm = last[(strategy, "hf")], last[(strategy, "vllm")]
        same = sum(a.answers == b.answers for a, b in zip(hf.predictions, vllm.predictions))
        hf_speed, vllm_speed = (statistics.median(speeds[(strategy, e)]) for e in ("hf", "vllm"))
        rows.append((
            strategy, f"{hf.throughput.n_requests / max(1, hf.n_items):.1f}", f"{hf_speed:.2f}", f"{vllm_speed:.2f}",
            f"{vllm_speed / hf_speed:.2f}x", f"{same}/{len(hf.predictions)}",
        ))  # fmt: skip
    device = models["hf"].info.device or "?"
    print(f"{args.model} on {len(dataset.items)} {args.dataset} items, {device}, batch {args.batch_size}, "
          f"{args.rounds} alternating rounds; load: HF {load_s['hf']:.1f}s, vLLM {load_s['vllm']:.1f}s")  # fmt: skip
    print("\n".join(format_table(("strategy", "prompts/item", "HF items/s", "vLLM items/s", "vLLM/HF", "same answers"), rows)))


if __name__ == "__main__":  # vLLM spawns its engine processes, which import this file again
    main()
