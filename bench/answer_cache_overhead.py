"""What the answer cache costs: tiny Qwen2-VL on digits, cache off vs write (cold) vs readwrite (warm).

Each evaluation is run ``--reps`` times, the three modes interleaved (a busy machine slows
them alike); the minimum and median wall time of each are printed, then the raw cost of the
cache's parts: one key (sha256 of the decoded image and the prompt), one batch written, one
batch read. docs/usage.md quotes its figures.

    python bench/answer_cache_overhead.py --limit 48 --reps 9
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from pytest_vlmbench import LoadOptions, evaluate, load_dataset, load_model, resolve_model
from pytest_vlmbench.evaluation.answer_cache import AnswerCache, KeyMaker
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.models.base import Request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=48)
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    model, _ = load_model(resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    data = load_dataset("digits")
    config = EvalConfig(limit=args.limit)
    evaluate(model, data, "closed_set", config)  # warm-up
    tmp = Path(tempfile.mkdtemp())
    times: dict[str, list[float]] = {"off": [], "write (cold)": [], "readwrite (warm)": []}
    for rep in range(args.reps):
        start = time.perf_counter()
        plain = evaluate(model, data, "closed_set", config)
        times["off"].append(time.perf_counter() - start)
        for mode, label in (("write", "write (cold)"), ("readwrite", "readwrite (warm)")):
            with AnswerCache.open(mode, tmp / f"answers-{rep}.sqlite") as cache:  # type: ignore[union-attr]
                start = time.perf_counter()
                record = evaluate(model, data, "closed_set", config, answers=cache)
                times[label].append(time.perf_counter() - start)
        assert record.predictions == plain.predictions, "a warm run must give the cold run's predictions"
    print(f"closed_set, digits, limit {args.limit}: {plain.throughput.n_requests} prompts, batch 8, CPU")
    for label, values in times.items():
        print(f"  {label:17s} min {min(values):.3f} s  median {statistics.median(values):.3f} s")
    keys = KeyMaker(model)
    image = data.items[0].image()
    assert image is not None
    for size, n in ((image.size, 2000), ((448, 448), 200)):
        request = Request("x" * 400, image.resize(size), 8)
        start = time.perf_counter()
        for _ in range(n):
            keys.key(request)
        print(f"  key of one request ({size[0]}x{size[1]} RGB, 400-char prompt): {(time.perf_counter() - start) / n * 1e6:.0f} us")
    with AnswerCache.open("readwrite", tmp / "raw.sqlite") as cache:  # type: ignore[union-attr]
        start = time.perf_counter()
        for i in range(200):
            cache.put_many([(f"k{i}-{j}", "answer") for j in range(8)], "m")
        put_ms = (time.perf_counter() - start) / 200 * 1e3
        start = time.perf_counter()
        for i in range(200):
            cache.get_many([f"k{i}-{j}" for j in range(8)])
        get_ms = (time.perf_counter() - start) / 200 * 1e3
    print(f"  one batch of 8: written in {put_ms:.2f} ms, read in {get_ms:.2f} ms")
    model.close()


if __name__ == "__main__":
    main()
