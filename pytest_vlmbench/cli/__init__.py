"""The ``vlmbench`` command: inspect the registries (and, with later subcommands, compare runs).

It imports no torch: listing the zoo reads registry entries only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .compare import add_compare_parsers
from ..session.summary import format_table


def _list_models(args: argparse.Namespace) -> int:
    from ..models.catalog import MODELS

    rows = []
    for entry in MODELS:
        spec = entry.load()
        rows.append(
            (
                entry.name,
                ", ".join(entry.aliases) or "-",
                spec.source,
                spec.family,
                ", ".join(spec.strategies),
                "yes" if spec.tiny_builder else "no",
                "yes" if spec.meta.get("trust_remote_code") else "no",
            )
        )
    header = ("name", "aliases", "id", "family", "strategies", "tiny:", "remote code")
    print("\n".join(format_table(header, rows)))
    return 0


def _list_datasets(args: argparse.Namespace) -> int:
    from ..datasets.catalog import DATASETS

    rows = [
        (e.name, ", ".join(e.aliases) or "-", str(e.meta.get("modality", "?")), "yes" if e.meta.get("offline") else "no")
        for e in DATASETS
    ]
    print("\n".join(format_table(("name", "aliases", "modality", "offline"), rows)))
    return 0


def _list_strategies(args: argparse.Namespace) -> int:
    from ..strategies.catalog import STRATEGIES

    rows = [(e.name, ", ".join(e.aliases) or "-", str(e.meta.get("needs", "?"))) for e in STRATEGIES]
    print("\n".join(format_table(("name", "aliases", "needs"), rows)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vlmbench", description="pytest-vlmbench command-line tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="List the model zoo.").set_defaults(func=_list_models)
    sub.add_parser("datasets", help="List the registered datasets.").set_defaults(func=_list_datasets)
    sub.add_parser("strategies", help="List the prompting strategies.").set_defaults(func=_list_strategies)
    add_compare_parsers(sub)  # issue #5: compare and diff of saved runs (gate integration)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
