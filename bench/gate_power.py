"""The gate's power study on the trained reference VLM: false alarms on A/A runs, detection of planted drops.

    .venv/bin/python bench/gate_power.py                    # ~6 minutes on the 2-core CPU
    .venv/bin/python bench/gate_power.py --quick            # n = 500 only, 50 replicates

``bench/gate_noise.py`` simulates runs; this one runs a model whose answers mean something,
``ref:qwen2-vl-fashion`` (docs/reference_models.md), on the first ``--items`` Fashion-MNIST
test images with closed_set and one permutation (three would triple the model's work and
change nothing the gate sees: it compares predictions). Everything is judged by the gate
library itself (:func:`~pytest_vlmbench.gate.verdict.judge_record`, then
:func:`~pytest_vlmbench.gate.verdict.resolve_verdicts` under Holm), with the default
threshold ``accuracy:0`` and alpha 0.05.

1. **A/A runs**: the reference run (batch 8, prefix sharing on) against batch 1, batch 16,
   sharing off and a rerun, at n = 500 (the first 500 items) and n = 2,000. Each fails or
   passes alone and in a nightly family of 24 items (the others: these A/A comparisons,
   reused in turn).
2. **A share of items degraded**: ``--replicates`` times per (n, drop), an A/A run (taken in
   turn, so the churn between runs is real) with ``drop * n`` of its right answers, chosen at
   random (seeded), made wrong; judged in a family of 24 with 23 A/A items under Holm.
   Detection is the share of replicates in which the degraded item fails; the table shows
   the degraded item's printed detectable drop (median) beside it.
3. **Weights perturbed**: Gaussian noise of a relative size (times each weight tensor's
   own standard deviation) added to the language model's weights; the run that comes out is
   judged like the degraded ones (once per scale: the drop is whatever the noise does).

Targets (issue #20): at most 1% of A/A items fail; drops at or above the printed detectable
drop are caught at least 90% of the time.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # helpers: records from predictions
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import make_record, run_document  # noqa: E402

from pytest_vlmbench import EvalConfig, StrategyConfig, evaluate, load_dataset, load_model, resolve_model  # noqa: E402
from pytest_vlmbench.datasets.resolve import DatasetOptions  # noqa: E402
from pytest_vlmbench.gate.baseline import Run, parse_run  # noqa: E402
from pytest_vlmbench.gate.thresholds import merge_layers  # noqa: E402
from pytest_vlmbench.gate.verdict import Verdict, judge_record, resolve_verdicts  # noqa: E402
from pytest_vlmbench.models.base import LoadOptions  # noqa: E402
from pytest_vlmbench.record import Record  # noqa: E402

FAMILY = 24
"""Items of the simulated nightly run a planted drop is judged in."""
THRESHOLDS = merge_layers()  # the gate's default: accuracy:0
ALPHA = 0.05
A_A: dict[str, dict[str, Any]] = {"batch 1": {"batch_size": 1}, "batch 16": {"batch_size": 16}, "sharing off": {"prefix_sharing": False}, "rerun": {}}


@dataclass
class Answers:
    """One run's labels and predictions (by item position), and its classes."""

    labels: list[str]
    predictions: list[str | None]
    classes: list[str]

    def record(self, n: int) -> Record:
        return make_record(  # type: ignore[no-any-return]  # tests/helpers is not typed for bench/self.labels[:n], self.predictions[:n], classes=self.classes, model="ref:qwen2-vl-fashion",
                           dataset="fashion_mnist")  # fmt: skip


def accuracy(answers: Answers, n: int) -> float:
    return sum(p == t for p, t in zip(answers.predictions[:n], answers.labels[:n])) / n


def run_of(record: Record) -> Run:
    return parse_run(run_document([record]), "reference run")


def evaluate_answers(model: Any, dataset: Any, **config: Any) -> Answers:
    record = evaluate(model, dataset, "closed_set", EvalConfig(StrategyConfig(permutations=1), **config))
    return Answers([str(p.label) for p in record.predictions], [None if p.prediction is None else str(p.prediction) for p in record.predictions],
                   [str(c) for c in record.classes])  # fmt: skip


def judged(base: Run, current: Record, name: str) -> Verdict:
    return judge_record(current, base, THRESHOLDS, ALPHA, nodeid=name)


def degrade(answers: Answers, n: int, drop: float, rng: random.Random) -> Record:
    """``answers`` on the first ``n`` items with ``round(drop * n)`` right answers made wrong."""
    predictions = list(answers.predictions[:n])
    right = [i for i in range(n) if predictions[i] == answers.labels[i]]
    for i in rng.sample(right, round(drop * n)):
        predictions[i] = rng.choice([c for c in answers.classes if c != answers.labels[i]])
    return make_record(answers.labels[:n], predictions, classes=answers.classes, model="ref:qwen2-vl-fashion",  # type: ignore[no-any-return]
                       dataset="fashion_mnist")  # fmt: skip


def in_family(target: Verdict, others: list[Verdict]) -> Verdict:
    """``target`` after Holm over a family of ``target`` and ``others`` (as many as make :data:`FAMILY`)."""
    fillers = [others[i % len(others)] for i in range(FAMILY - 1)]
    return resolve_verdicts([target, *fillers], "holm")[0]


def accuracy_of(verdict: Verdict) -> Any:
    return next(h for h in verdict.hypotheses if h.metric == "accuracy")


def perturb(model: Any, scale: float, seed: int) -> dict[str, Any]:
    """Add noise of ``scale`` x each floating weight's standard deviation to the language model; returns the old weights."""
    import torch

    language = model.model.model.language_model if hasattr(model.model.model, "language_model") else model.model.model
    saved = {k: v.detach().clone() for k, v in language.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in language.parameters():
            if p.dtype.is_floating_point and p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=generator) * p.std() * scale)
    return {"module": language, "state": saved}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--scales", default="0.5,1,1.3,1.6", help="relative noise sizes for the perturbed weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="n = 500 only, 50 replicates")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    sizes = (500,) if args.quick else (500, args.items)
    replicates = 50 if args.quick else args.replicates
    model, _ = load_model(resolve_model("ref:qwen2-vl-fashion"), LoadOptions(device="cpu"))
    dataset = load_dataset("fashion_mnist", DatasetOptions()).limited(max(sizes))
    reference = evaluate_answers(model, dataset, batch_size=8)
    aa = {name: evaluate_answers(model, dataset, **config) for name, config in A_A.items()}
    print(f"model runs: {time.perf_counter() - start:.0f} s; reference accuracy {accuracy(reference, max(sizes)):.3f}")

    print("\n### A/A runs (against batch 8, sharing on)\n")
    print("| n | run | changed items | accuracy delta | p | fails alone | fails under Holm (24) |\n|---:|---|---:|---:|---:|---|---|")
    aa_verdicts: dict[int, list[Verdict]] = {}
    aa_fail_alone = aa_fail_holm = aa_total = 0
    for n in sizes:
        base = run_of(reference.record(n))
        verdicts = [judged(base, answers.record(n), name) for name, answers in aa.items()]
        aa_verdicts[n] = verdicts
        alone = resolve_verdicts(verdicts, "none")
        holm = [in_family(v, [w for w in verdicts if w is not v]) for v in verdicts]
        answers_of = aa
        for name, v, a, h in zip(aa, verdicts, alone, holm):
            test = accuracy_of(v)
            delta = f"{accuracy(answers_of[name], n) - accuracy(reference, n):+.3f}"
            p = "-" if test.p_value is None else f"{test.p_value:.3f}"
            print(f"| {n} | {name} | {test.changed} | {delta} | {p} | {a.status == 'regressed'} | {h.status == 'regressed'} |")
            aa_total += 1
            aa_fail_alone += a.status == "regressed"
            aa_fail_holm += h.status == "regressed"

    print(f"\n### A share of items degraded ({replicates} replicates, family of {FAMILY} under Holm)\n")
    print("| n | drop | detected | detectable (median) | drops >= detectable: detected | A/A items failing |\n|---:|---:|---:|---:|---:|---:|")
    rng = random.Random(args.seed)
    at_least, caught = 0, 0
    filler_fails = filler_total = 0
    names = list(aa)
    for n in sizes:
        base = run_of(reference.record(n))
        for drop in (0.01, 0.02, 0.05):
            hits, seen, big, big_hits = 0, [], 0, 0
            row_fails = row_total = 0
            for r in range(replicates):
                current = degrade(aa[names[r % len(names)]], n, drop, rng)
                verdicts = resolve_verdicts([judged(base, current, "degraded"), *[aa_verdicts[n][i % 4] for i in range(FAMILY - 1)]], "holm")
                target = verdicts[0]
                detected = target.status == "regressed"
                hits += detected
                h = accuracy_of(target)
                seen.append(h.detectable if h.detectable is not None else float("inf"))
                if h.detectable is not None and drop >= h.detectable - 1e-12:
                    big += 1
                    big_hits += detected
                row_fails += sum(v.status == "regressed" for v in verdicts[1:])
                row_total += FAMILY - 1
            at_least += big
            caught += big_hits
            filler_fails += row_fails
            filler_total += row_total
            share = "-" if not big else f"{big_hits / big:.2f} ({big})"
            print(f"| {n} | {drop:.2f} | {hits / replicates:.2f} | {statistics.median(seen):.3f} | {share} | {row_fails}/{row_total} |")

    print(f"\n### Weights perturbed (n = {max(sizes)}, family of {FAMILY} under Holm)\n")
    print("| noise scale | accuracy | drop | changed items | p | Holm-adjusted p | detectable | fails |\n|---:|---:|---:|---:|---:|---:|---:|---|")
    n = max(sizes)
    base = run_of(reference.record(n))
    ref_acc = accuracy(reference, n)
    for scale in (float(s) for s in args.scales.split(",")):
        saved = perturb(model, scale, args.seed)
        try:
            answers = evaluate_answers(model, dataset, batch_size=8)
        finally:
            saved["module"].load_state_dict(saved["state"])
        target = in_family(judged(base, answers.record(n), "perturbed"), aa_verdicts[n])
        h = accuracy_of(target)
        acc = accuracy(answers, n)
        p = "-" if h.p_value is None else f"{h.p_value:.2g}"
        adj = "-" if h.adjusted is None else f"{h.adjusted:.2g}"
        det = "-" if h.detectable is None else f"{h.detectable:.3f}"
        print(f"| {scale:g} | {acc:.3f} | {ref_acc - acc:+.3f} | {h.changed} | {p} | {adj} | {det} | {target.status == 'regressed'} |")
        if h.detectable is not None and ref_acc - acc >= h.detectable:
            at_least += 1
            caught += target.status == "regressed"

    print("\n### Summary\n")
    print(f"- A/A items failing: alone {aa_fail_alone}/{aa_total}, under Holm {aa_fail_holm}/{aa_total}; "
          f"A/A items in the degraded families failing: {filler_fails}/{filler_total} "
          f"({filler_fails / max(filler_total, 1):.2%}; target <= 1%)")  # fmt: skip
    print(f"- planted drops at or above their printed detectable drop: {caught}/{at_least} caught "
          f"({caught / max(at_least, 1):.0%}; target >= 90%)")
    print(f"- command: python bench/gate_power.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(f"- wall time {time.perf_counter() - start:.0f} s, torch threads {args.threads}")
    model.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
