"""The ``vlmbench`` command: list the registries (:mod:`.listing`), compare saved runs (:mod:`.compare`),
write them as an HTML report (:mod:`.report`), calibrate the gate from A/A runs (:mod:`.calibrate`).

It imports no torch: listing the zoo reads registry entries only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .calibrate import add_calibrate_parser
from .compare import add_compare_parsers
from .listing import list_datasets, list_models, list_strategies
from .report import add_report_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmbench", description="pytest-vlmbench command-line tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="List the model zoo.").set_defaults(func=list_models)
    sub.add_parser("datasets", help="List the registered datasets.").set_defaults(func=list_datasets)
    sub.add_parser("strategies", help="List the prompting strategies.").set_defaults(func=list_strategies)
    add_compare_parsers(sub)  # issue #5: compare and diff of saved runs (gate integration)
    add_report_parser(sub)  # issue #13: saved runs as one HTML report
    add_calibrate_parser(sub)  # issue #20: thresholds and alpha from A/A runs
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
