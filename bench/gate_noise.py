"""False-alarm rate and power of the regression gate, by simulation (no models, no GPU).

    python bench/gate_noise.py [--trials 1000] [--f1-trials 100] [--seed 0]

Each trial builds a baseline run of ``n`` items (10 classes, 80% accuracy, a few invalid
answers) and a second run from it, then asks the real gate
(:func:`pytest_vlmbench.gate.compare_records`) whether the second run regressed.

Scenarios for the second run:

- ``rerun, 5% noise``: an unchanged model whose nondeterminism (batched GPU kernels, ties in
  generation) re-draws 5% of the items from the same 80%-accurate distribution;
- ``new model, same acc``: every item re-drawn -- a different model of equal accuracy, the
  noisiest "no change" there is;
- ``drop D``: the 5%-noise rerun, then D * n of its right answers made wrong.

False-alarm rate = share of "no change" trials that fail; power = share of "drop" trials
that fail. The printed tables are copied into docs/gate.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # helpers: synthetic records

import numpy as np  # noqa: E402

from pytest_vlmbench.gate.compare import compare_records
from helpers import make_record  # noqa: E402
from pytest_vlmbench.gate.thresholds import merge_layers, parse_layer

CLASSES = [f"c{i}" for i in range(10)]
ACCURACY, INVALID = 0.80, 0.02
SIZES = (100, 500, 2000)


def draw(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Predictions (class index, -1 invalid) of an 80%-accurate model."""
    n = len(labels)
    wrong = (labels + rng.integers(1, len(CLASSES), n)) % len(CLASSES)
    u = rng.random(n)
    return np.where(u < ACCURACY, labels, np.where(u < ACCURACY + INVALID, -1, wrong))


def second_run(rng: np.random.Generator, labels: np.ndarray, base: np.ndarray, scenario: str) -> np.ndarray:
    noise = 1.0 if scenario == "new model, same acc" else 0.05
    redraw = rng.random(len(labels)) < noise
    current = np.where(redraw, draw(rng, labels), base)
    if scenario.startswith("drop"):
        drop = float(scenario.split()[1])
        right = np.flatnonzero(current == labels)
        broken = rng.choice(right, size=min(len(right), round(drop * len(labels))), replace=False)
        current[broken] = (labels[broken] + 1) % len(CLASSES)
    return current


def as_names(values: np.ndarray) -> list[str | None]:
    return [None if v < 0 else CLASSES[v] for v in values]


def simulate(metric: str, limits: list[str], scenarios: list[str], trials: int, seed: int, alpha: float) -> list[list[Any]]:
    gates = {limit: merge_layers(parse_layer([f"{metric}:{limit}"], "bench")) for limit in limits}
    rows = []
    for n in SIZES:
        for scenario in scenarios:
            rng = np.random.default_rng([seed, n, scenarios.index(scenario)])
            fails = dict.fromkeys(limits, 0)
            for _ in range(trials):
                labels = rng.integers(0, len(CLASSES), n)
                base = draw(rng, labels)
                cur = second_run(rng, labels, base, scenario)
                names = [CLASSES[v] for v in labels]
                base_record = make_record(names, as_names(base), classes=CLASSES)
                cur_record = make_record(names, as_names(cur), classes=CLASSES)
                for limit, thresholds in gates.items():
                    fails[limit] += bool(compare_records(base_record, cur_record, thresholds, alpha=alpha).regressions)
            rows.append([n, scenario, *(f"{100 * fails[limit] / trials:.1f}%" for limit in limits)])
    return rows


def table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    lines = [f"{title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000, help="Trials per cell for accuracy (McNemar).")
    parser.add_argument("--f1-trials", type=int, default=100, help="Trials per cell for macro_f1 (bootstrap); 0 skips it.")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    scenarios = ["rerun, 5% noise", "new model, same acc", "drop 0.01", "drop 0.02", "drop 0.05"]
    start = time.perf_counter()
    limits = ["0", "0.01", "0.02"]
    rows = simulate("accuracy", limits, scenarios, args.trials, args.seed, args.alpha)
    header = ["n", "second run", *(f"fails, accuracy:{lim}" for lim in limits)]
    print(table(f"accuracy, McNemar exact, alpha {args.alpha:g}, {args.trials} trials per row", header, rows))
    if args.f1_trials:
        limits = ["0", "0.02"]
        rows = simulate("macro_f1", limits, [scenarios[0], scenarios[3], scenarios[4]], args.f1_trials, args.seed, args.alpha)
        header = ["n", "second run", *(f"fails, macro_f1:{lim}" for lim in limits)]
        print()
        print(table(f"macro_f1, paired bootstrap, alpha {args.alpha:g}, {args.f1_trials} trials per row", header, rows))
    print(f"\n({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
