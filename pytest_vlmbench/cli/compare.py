"""``vlmbench compare`` and ``vlmbench diff``: saved runs, compared without rerunning models.

Exit status: 0 fine, 1 a significant regression past the thresholds (``--fail-on``; by
default :data:`~pytest_vlmbench.gate.thresholds.DEFAULT_THRESHOLDS`, as in the pytest gate;
``--fail-on off`` only reports), 2 bad input (an unreadable file, a malformed threshold, a
baseline from other hardware).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..gate.baseline import Run, load_run
from ..gate.flips import render_flips, run_flips
from ..gate.metrics import DEFAULT_DISPLAY, METRICS, GateError, get_metric
from ..gate.series import FORMATS, compare_series, render
from ..gate.significance import DEFAULT_ALPHA
from ..gate.calibration import read_snippet
from ..gate.multiplicity import DEFAULT_CORRECTION, parse_correction
from ..gate.thresholds import merge_layers, parse_alpha, parse_floors, parse_layer
from ..gate.verdict import check_floors
from ..options import add_cli_arguments

EXIT_OK, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2


def _metric_list(text: str) -> list[str]:
    try:
        return [get_metric(name, "the metric list").name for name in text.split(",") if name.strip()]
    except GateError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load_all(paths: list[str]) -> list[Run] | None:
    runs = []
    for path in paths:
        try:
            runs.append(load_run(path))
        except GateError as exc:
            print(f"vlmbench: {exc}", file=sys.stderr)
            return None
    return runs


def run_compare(args: argparse.Namespace) -> int:
    """``vlmbench compare``: the table, and the gate (the pytest gate's default thresholds
    unless ``--fail-on`` says otherwise; ``--fail-on off``: no gate)."""
    runs = _load_all(args.files)
    if runs is None:
        return EXIT_BAD_INPUT
    thresholds = merge_layers(args.fail_on)  # no --fail-on: DEFAULT_THRESHOLDS, like the pytest gate
    metrics = args.metrics or ([] if args.fail_on and thresholds else list(DEFAULT_DISPLAY))
    series = compare_series(runs, thresholds, metrics=metrics, alpha=args.alpha, against=args.against, correction=args.correction)
    sys.stdout.write(render(series, args.format))
    below = [f"{entry.record.label}: {line}" for entry in runs[-1] for line in check_floors(entry.record, args.min)[0]]
    if below:  # floors judge the last run on its own, baseline or not
        print("Below floor (--min):", *(f"  {line}" for line in below), sep="\n")
    for case, problem in series.problems:
        print(f"vlmbench: {case.label}: {problem}.", file=sys.stderr)
    if any(case.gate and case.gate.problem_kind == "hardware" for case, _ in series.problems):
        return EXIT_BAD_INPUT  # the gate was pointed at the wrong baseline: not a verdict
    return EXIT_REGRESSION if series.regressions or below else EXIT_OK


def run_diff(args: argparse.Namespace) -> int:
    """``vlmbench diff``: the items whose prediction changed, each way."""
    runs = _load_all([args.before, args.after])
    if runs is None:
        return EXIT_BAD_INPUT
    try:
        cases = run_flips(runs[0], runs[1], args.item)
    except GateError as exc:
        print(f"vlmbench: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(render_flips(cases, markdown=args.format == "markdown"))
    return EXIT_OK


def add_compare_parsers(subparsers: Any) -> None:
    """Add ``compare`` and ``diff`` to the ``vlmbench`` command's subparsers."""
    compare = subparsers.add_parser(
        "compare",
        help="Compare saved runs (pytest-benchmark JSON files), oldest first.",
        description="Per matched case, metric values across saved runs with deltas and significance "
        "marks. Exit 1 when the last run regressed significantly against the one before it, past the "
        "--fail-on thresholds (default accuracy:0, as in the pytest gate); --fail-on off only reports.",
    )
    compare.add_argument("files", nargs="+", metavar="RUN.json", help="Two or more saved runs, oldest first.")
    compare.add_argument("--format", choices=FORMATS, default="terminal", help="Output format (default: terminal).")
    # defined once, with the pytest gate's
    add_cli_arguments(compare, "vlmbench_fail_on", "vlmbench_alpha", "vlmbench_correction", "vlmbench_min", "vlmbench_calibration")
    compare.add_argument(
        "--metrics", type=_metric_list, default=None, metavar="A,B",
        help=f"Metrics to show (default: those of --fail-on when given, else a standard set). Known: {', '.join(METRICS)}.",
    )  # fmt: skip
    compare.add_argument(
        "--against", choices=("previous", "first"), default="previous",
        help="Gate the last run against the previous one (default) or the first one.",
    )  # fmt: skip
    compare.set_defaults(func=_checked(run_compare, compare))

    diff = subparsers.add_parser("diff", help="List the items whose prediction flipped between two runs.")
    diff.add_argument("before", metavar="A.json")
    diff.add_argument("after", metavar="B.json")
    diff.add_argument("item", nargs="?", default=None, metavar="ITEM", help="Only cases whose test name or label contains ITEM.")
    diff.add_argument("--format", choices=("terminal", "markdown"), default="terminal")
    diff.set_defaults(func=run_diff)


def _checked(func: Any, parser: argparse.ArgumentParser) -> Any:
    """Checks argparse cannot express (two files at least, the gate options), as usage errors.

    The gate options arrive raw from the option table and are parsed by the gate's own
    parsers, as in pytest, so both read ``--fail-on accuracy:0.02,items_per_s:10%`` alike.
    """

    def run(args: argparse.Namespace) -> int:
        if len(args.files) < 2:
            parser.error("give at least two runs to compare.")
        try:
            args.fail_on = parse_layer(args.vlmbench_fail_on, "threshold")
        except GateError as exc:
            parser.error(f"argument --fail-on: {exc}")
        try:
            args.alpha = DEFAULT_ALPHA if args.vlmbench_alpha is None else parse_alpha(args.vlmbench_alpha, "--alpha")
        except GateError as exc:
            parser.error(f"argument --alpha: {exc}")
        try:
            args.correction = parse_correction(args.vlmbench_correction or DEFAULT_CORRECTION, "--correction")
            args.min = parse_floors(args.vlmbench_min or [], "--min")
            if args.vlmbench_calibration:  # below --fail-on and --alpha, as the ini is below the flags in pytest
                lines, alpha = read_snippet(Path(args.vlmbench_calibration))
                args.fail_on = {**parse_layer(lines, f"the calibration file {args.vlmbench_calibration}"), **args.fail_on}
                args.alpha = alpha if alpha is not None and args.vlmbench_alpha is None else args.alpha
        except GateError as exc:
            parser.error(str(exc))
        return int(func(args))

    return run
