"""``vlmbench models|datasets|strategies``: the registries as tables.

Listing reads registry entries and model specs only: no torch, no weights, no data.
"""

from __future__ import annotations

import argparse

from ..datasets.catalog import DATASETS
from ..models.catalog import MODELS, REF_PREFIX
from ..models.zoo import FAMILIES, REFERENCE, REFERENCE_DIR
from ..session.summary import format_table
from ..strategies.catalog import STRATEGIES, get_strategy


def list_models(args: argparse.Namespace) -> int:
    rows = []
    for entry in MODELS:
        spec = entry.load()
        rows.append(
            (
                entry.name,
                ", ".join(entry.aliases) or "-",
                spec.source,
                spec.family,
                ", ".join([*spec.strategies, *(f"{s} (when named)" for s in spec.on_request)]),
                "yes" if spec.tiny_builder else "no",
                "yes" if spec.trust_remote_code else "no",
            )
        )
    for name, (family, dataset) in REFERENCE.items():  # trained by the project, shipped in the package
        where = f"trained on {dataset}" + ("" if (REFERENCE_DIR / name).is_dir() else " (not installed)")
        rows.append((REF_PREFIX + name, "-", where, family, ", ".join(FAMILIES[family].strategies), "no", "no"))
    header = ("name", "aliases", "id", "family", "strategies", "tiny:", "remote code")
    print("\n".join(format_table(header, rows)))
    return 0


def list_datasets(args: argparse.Namespace) -> int:
    rows = [
        (e.name, ", ".join(e.aliases) or "-", str(e.meta.get("modality", "?")), "yes" if e.meta.get("offline") else "no")
        for e in DATASETS
    ]
    print("\n".join(format_table(("name", "aliases", "modality", "offline"), rows)))
    return 0


def list_strategies(args: argparse.Namespace) -> int:
    rows = [(e.name, ", ".join(e.aliases) or "-", (s := get_strategy(e.name)).task.name, s.needs) for e in STRATEGIES]
    print("\n".join(format_table(("name", "aliases", "task", "needs"), rows)))
    return 0
