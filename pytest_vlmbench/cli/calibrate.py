"""``vlmbench calibrate RUN.json RUN.json [...]``: gate thresholds and alpha from A/A runs.

The runs are saved runs that should agree (the same suite at other batch sizes, with prefix
sharing on and off, on another engine, rerun); :mod:`pytest_vlmbench.gate.calibration` measures
how far they disagree and suggests what the gate should allow. ``--write FILE`` saves the
suggestion as a ``[pytest]`` ini snippet.

Exit status: 0 done, 2 bad input (an unreadable file, fewer than two runs, an unknown or cost
metric, runs without a case in common, an unwritable ``--write`` path), one sentence on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from ..gate.baseline import Run
from ..gate.calibration import (
    DEFAULT_METRICS, CaseCalibration, calibrate, case_line, fmt_spread, run_labels, suggest, write_snippet,
)  # fmt: skip
from ..gate.metrics import fmt_p
from ..gate.metrics import GateError
from ..session.summary import format_table
from .compare import _load_all

EXIT_OK, EXIT_BAD_INPUT = 0, 2
FORMATS = ("terminal", "markdown", "json")


def to_json(cases: list[CaseCalibration], runs: list[Run]) -> dict[str, Any]:
    """The calibration as plain JSON (``--format json``)."""
    suggestion = suggest(cases)
    return {
        "runs": [{"source": r.source.strip("'\""), "label": label} for r, label in zip(runs, run_labels(runs))],
        "cases": [
            {
                "case": c.label, "runs": list(c.runs), "n": c.n, "flip_mean": c.flip_mean, "flip_max": c.flip_max,
                "metrics": [asdict(m) for m in c.metrics], "p_min": c.p_min, "alpha": c.alpha,
                "systematic": c.calibrated and c.alpha is None, "problem": c.problem,
            }
            for c in cases
        ],
        "suggestion": {"fail_on": suggestion.fail_on, "alpha": suggestion.alpha,
                       "systematic": [c.label for c in suggestion.systematic]},
    }  # fmt: skip


def _table(cases: list[CaseCalibration], metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["case", "runs", "n", "flips mean", "flips max"]
    header += [f"{name} spread -> thr" for name in metrics]
    header += ["min p", "alpha"]
    rows = []
    for case in (c for c in cases if c.calibrated):
        by_name = {m.metric: m for m in case.metrics}
        row = [case.label, str(len(case.runs)), str(case.n), f"{100 * case.flip_mean:.2f}%", f"{100 * case.flip_max:.2f}%"]
        for name in metrics:
            m = by_name.get(name)
            row.append("-" if m is None else f"{fmt_spread(m.spread)} -> {'none' if m.threshold is None else f'{m.threshold:g}'}")
        row += ["-" if case.p_min is None else fmt_p(case.p_min), "systematic" if case.alpha is None else f"{case.alpha:g}"]
        rows.append(row)
    return header, rows


def render(cases: list[CaseCalibration], runs: list[Run], metrics: list[str], fmt_name: str = "terminal") -> str:
    """The per-case table, the cases not calibrated, and the run-wide suggestion."""
    if fmt_name == "json":
        return json.dumps(to_json(cases, runs), indent=2, allow_nan=False) + "\n"
    suggestion = suggest(cases)
    header, rows = _table(cases, metrics)
    markdown = fmt_name == "markdown"
    lines = [f"A/A runs: {', '.join(run_labels(runs))}", ""]
    if rows and markdown:
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    elif rows:
        lines += format_table(header, rows)
    item = "- " if markdown else ""
    skipped = [f"{item}{case_line(c)}" for c in cases if not c.calibrated]
    if skipped:
        lines += ["", "Not calibrated:", *skipped]
    if suggestion.thresholds:
        lines += ["", "Suggestion for the whole run (the largest threshold and the smallest alpha over the cases):",
                  f"{item}vlmbench_fail_on: {' '.join(suggestion.fail_on)}", f"{item}vlmbench_alpha: {suggestion.alpha:g}"]  # fmt: skip
    off = [name for name, t in suggestion.thresholds.items() if t is None]
    if off:
        lines.append(f"{item}{', '.join(off)}: no threshold up to 0.5 keeps the A/A runs inside, so off; find out why they differ.")
    for case in suggestion.systematic:
        lines.append(f"{item}{case.label}: its A/A runs differ one way (min p {fmt_p(case.p_min or 0.0)}): even alpha 0.0001 "
                     f"would fail them; another batch size or engine changes its answers systematically.")  # fmt: skip
    return "\n".join(lines) + "\n"


def run_calibrate(args: argparse.Namespace) -> int:
    if len(args.files) < 2:
        print("vlmbench: give at least two runs to calibrate: A/A runs of the same suite (another batch size, engine, or a rerun).",
              file=sys.stderr)  # fmt: skip
        return EXIT_BAD_INPUT
    runs = _load_all(args.files)
    if runs is None:
        return EXIT_BAD_INPUT
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else list(DEFAULT_METRICS)
    try:
        cases = calibrate(runs, metrics)
    except GateError as exc:
        print(f"vlmbench: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    shown = list(dict.fromkeys(m.metric for c in cases for m in c.metrics))
    sys.stdout.write(render(cases, runs, shown, args.format))
    if args.write:  # after the table, which says why a case was not calibrated
        try:
            write_snippet(cases, args.write, args.files)
        except GateError as exc:
            print(f"vlmbench: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as exc:
            print(f"vlmbench: --write {args.write} cannot be written ({exc.strerror or exc.__class__.__name__}).", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"vlmbench: thresholds written to {args.write}", file=sys.stderr)
    return EXIT_OK


def add_calibrate_parser(subparsers: Any) -> None:
    """Add ``calibrate`` to the ``vlmbench`` command's subparsers."""
    parser = subparsers.add_parser(
        "calibrate",
        help="Suggest gate thresholds and alpha from A/A runs (saved runs that should agree).",
        description="Per case matched across the runs: items in all of them, the share of answers that flip between "
        "two runs, each metric's spread and the gate's paired test on every ordered pair; then the smallest "
        "threshold and the largest alpha under which none of these A/A pairs would fail the gate.",
    )
    parser.add_argument("files", nargs="+", metavar="RUN.json", help="Two or more saved runs that should agree.")
    parser.add_argument("--metrics", default=None, metavar="A,B",
                        help=f"Quality metrics to calibrate (default: {','.join(DEFAULT_METRICS)}).")  # fmt: skip
    parser.add_argument("--write", default=None, metavar="FILE", help="Also write the suggestion as a [pytest] ini snippet.")
    parser.add_argument("--format", choices=FORMATS, default="terminal", help="Output format (default: terminal).")
    parser.set_defaults(func=run_calibrate)
