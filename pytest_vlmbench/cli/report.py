"""``vlmbench report RUN.json [RUN2.json ...] -o report.html``: saved runs as one self-contained HTML page.

The files are read by the gate's loader (the same files ``vlmbench compare`` reads); from
the second run on, each run is judged against the one before it with the gate's thresholds
(``--fail-on``, default ``accuracy:0`` as everywhere) and the verdicts are marked in the page.
The report is not a gate: a regression is shown, and the exit status stays 0.

Exit status: 0 written, 2 bad input (an unreadable file, a bad threshold, an unwritable
output path, matplotlib missing).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from typing import Any

from ..gate.baseline import load_run
from ..gate.metrics import GateError
from ..gate.significance import DEFAULT_ALPHA
from ..gate.thresholds import merge_layers, parse_alpha, parse_layer
from ..options import OptionError, add_cli_arguments
from ..report import ReportError, package_version, write_report
from ..session.sinks import writable_output

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def run_report(args: argparse.Namespace) -> int:
    try:
        output = writable_output(args.output, "--output")
        thresholds = merge_layers(parse_layer(args.vlmbench_fail_on, "--fail-on"))
        alpha = DEFAULT_ALPHA if args.vlmbench_alpha is None else parse_alpha(args.vlmbench_alpha, "--alpha")
        runs = [load_run(path) for path in args.files]
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        produced_by = (
            f"Made by pytest-vlmbench {package_version()} on {stamp} with: vlmbench report "
            f"{' '.join(args.files)} -o {args.output}. Per-item figures are of the last run, {args.files[-1]}."
        )
        write_report(output, runs, thresholds=thresholds, alpha=alpha, title=args.title, produced_by=produced_by)
    except (GateError, OptionError, ReportError) as exc:
        print(f"vlmbench: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"vlmbench: report of {len(runs)} run(s) written to {output}")
    return EXIT_OK


def add_report_parser(subparsers: Any) -> None:
    """Add ``report`` to the ``vlmbench`` command's subparsers."""
    report = subparsers.add_parser(
        "report",
        help="Write saved runs as one self-contained HTML report (figures inline, opens from disk).",
        description="Summary table, accuracy and macro-F1 against class count, confusion matrices and per-class F1, "
        "cost against quality, each metric along the runs with the gate's verdicts, and the environment. "
        "Needs matplotlib (pip install 'pytest-vlmbench[report]').",
    )
    report.add_argument("files", nargs="+", metavar="RUN.json", help="One or more saved runs, oldest first.")
    report.add_argument("-o", "--output", required=True, metavar="PATH", help="The HTML file to write.")
    report.add_argument("--title", default="pytest-vlmbench report", help="The page's title.")
    add_cli_arguments(report, "vlmbench_fail_on", "vlmbench_alpha")  # the gate's, defined once
    report.set_defaults(func=run_report)
