"""Train a reference model: ``python -m pytest_vlmbench.training.reference.train --model NAME --out DIR``.

Trains with the given seed on the CPU (``--threads``: the float sums, so the weights, depend on
it), saves a Hugging Face folder at ``--out`` that ``--model DIR`` loads, prints the SHA-256 of
its ``model.safetensors``, then evaluates it through the project's own evaluation (the first
``--check-limit`` test items, 0: none; -1: all) with closed_set and binary in both answer styles.
The other options override the model's :class:`Settings` for experiments.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from . import text, vlm
from .loop import Check, parse_phase, sha256_of, timed

TRAINERS: dict[str, Any] = {vlm.NAME: vlm, text.NAME: text}
"""Reference model name -> its module (``Settings``, ``train``, ``check_folder``)."""
RUNS = [(strategy, style) for style in ("plain", "json") for strategy in ("closed_set", "binary")]


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pytest_vlmbench.training.reference.train", description=__doc__)
    parser.add_argument("--model", choices=sorted(TRAINERS), default=vlm.NAME, help="which reference model to train")
    parser.add_argument("--out", type=Path, required=True, help="folder to save the model in")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the weights depend on it)")
    parser.add_argument("--check-limit", type=int, default=1000, help="test items to evaluate after training (0: none, -1: all)")
    parser.add_argument("--check-only", action="store_true", help="evaluate the folder at --out without training")
    for name in ("seed", "layers", "hidden", "vision_epochs", "probe_weight"):
        kind = float if name in ("vision_epochs", "probe_weight") else int
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help="overrides the model's default")
    parser.add_argument("--phase", dest="phases", action="append", type=parse_phase, metavar="EPOCHS:LR[:SHARES]",
                        help="a language-model training phase, e.g. 3:2e-3:closed_set=0.4,yes=0.2 (repeat it; replaces the defaults)")
    args = parser.parse_args(argv)
    module = TRAINERS[args.model]
    settings = module.Settings()
    given = {f.name: getattr(args, f.name) for f in fields(settings) if getattr(args, f.name, None) is not None}
    if args.phases:
        given["phases"] = tuple(args.phases)
    settings = replace(settings, **given)
    if not args.check_only:
        print(f"training {args.model} with {settings}", file=sys.stderr, flush=True)
        seconds = module.train(args.out, settings, args.threads)
        weights = args.out / "model.safetensors"
        print(f"trained in {seconds:.0f} s; {weights}: {weights.stat().st_size} bytes, sha256 {sha256_of(weights)}", flush=True)
    if args.check_limit:
        limit = None if args.check_limit < 0 else args.check_limit
        checks: list[Check] = timed("check", lambda: module.check_folder(args.out, limit, RUNS))
        for c in checks:
            print(f"{c.strategy:<10} {c.answer_style:<5} items {c.n_items}  accuracy {c.accuracy:.4f}  "
                  f"invalid {c.invalid_rate:.4f}  requests {c.requests}  {c.seconds:.0f} s", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
