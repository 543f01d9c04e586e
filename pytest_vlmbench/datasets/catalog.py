"""The dataset registry, and what a ``--dataset`` value names, decided without loading it.

A value is, in this order of precedence:

1. a registry name (``fashion_mnist``, ``caltech256``, ``bbc_news`` ...);
2. a local path: a class folder, a CSV/TSV/JSONL/Parquet file, or a ``save_to_disk`` folder;
3. a Hugging Face dataset id, optionally with a config and a split:
   ``owner/name``, ``owner/name:config``, ``owner/name:config@split``; ``hf:name`` for an id
   without an owner.

Loading is :mod:`.resolve`'s business. Extend the registry from a ``conftest.py``
(``DATASETS.register("mine", load_mine, modality="text", offline=True)``) or from a
package through the entry-point group ``pytest_vlmbench.datasets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..registry import Registry, UnknownNameError
from ..tasks import CLASSIFICATION, NER, Task
from .base import Dataset
from .columns import Columns
from .ner import CONLL_SUFFIXES, is_ner_table
from .peek import path_modality

DatasetLoader = Callable[[], Dataset]

DATASETS: Registry[DatasetLoader] = Registry("dataset", "pytest_vlmbench.datasets")

DATASETS.register("fashion_mnist", "pytest_vlmbench.datasets.builtin:load_fashion_mnist", modality="image", offline=True)
DATASETS.register("digits", "pytest_vlmbench.datasets.builtin:load_digits", modality="image", offline=True)
DATASETS.register("bbc_news", "pytest_vlmbench.datasets.offline:load_bbc_news", modality="text", offline=True,
                  question="What is the topic of this news article?")
DATASETS.register("bbc_news_lead", "pytest_vlmbench.datasets.offline:load_bbc_news_lead", modality="text", offline=True,
                  question="What is the topic of this news article?")
DATASETS.register("textiles", "pytest_vlmbench.datasets.offline:load_textiles", modality="image", offline=True)
# Task questions (meta ``task``): what closed_set asks instead of its modality's default question
# (docs/strategies.md); a conftest entry may declare one too: DATASETS.register(..., question="...").
_QUESTIONS = {
    "ag_news": "What is the topic of this news article?",
    "sst2": "What is the sentiment of this sentence?",
    "imdb": "What is the sentiment of this movie review?",
}
# Hub datasets: each target is a HubDataset (or load_liar), imported only when used.
for _name, _modality in (("caltech256", "image"), ("cifar10", "image"), ("cifar100", "image"),
                         ("ag_news", "text"), ("sst2", "text"), ("imdb", "text")):  # fmt: skip
    DATASETS.register(_name, f"pytest_vlmbench.datasets.hub_catalog:{_name}", modality=_modality, offline=False,
                      question=_QUESTIONS.get(_name))
DATASETS.register("liar", "pytest_vlmbench.datasets.hub_catalog:load_liar", modality="text", offline=False,
                  question="How true is this statement?")
# NER (datasets/ner.py): tagged sentences; ner=True keeps them to the NER strategies and those strategies to them.
DATASETS.register("ner_generated", "pytest_vlmbench.datasets.ner:load_generated_ner", modality="text", offline=True, ner=True)
for _name in ("conll2003", "wnut_17", "wikiner"):
    DATASETS.register(_name, f"pytest_vlmbench.datasets.ner:{_name}", modality="text", offline=False, ner=True)

HF_PREFIX = "hf:"


@dataclass(frozen=True)
class HubSpec:
    repo_id: str
    config: str | None = None
    split: str | None = None


def parse_hub_spec(spec: str) -> HubSpec | None:
    """``owner/name[:config][@split]`` or ``hf:name[...]`` -> :class:`HubSpec`; anything else -> None."""
    explicit = spec.startswith(HF_PREFIX)
    body = spec[len(HF_PREFIX) :] if explicit else spec
    body, _, split = body.partition("@")
    repo_id, _, config = body.partition(":")
    parts = repo_id.split("/")
    if not repo_id or len(parts) > 2 or any(not p or p in (".", "..") for p in parts):
        return None
    if not explicit and len(parts) != 2:
        return None
    return HubSpec(repo_id=repo_id, config=config or None, split=split or None)


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or Path(spec).suffix.lower() in (".csv", ".tsv", ".jsonl", ".json", ".parquet")


def canonical_spec(spec: str) -> str:
    """The canonical form of a ``--dataset`` value, checked without loading anything.

    Registry names resolve to their canonical name; paths and hub ids are kept as given.
    Raises :class:`UnknownNameError` (one sentence) for anything else.
    """
    entry = DATASETS.find(spec)
    if entry is not None:
        return entry.name
    if Path(spec).expanduser().exists():
        return spec
    if looks_like_path(spec):
        raise UnknownNameError(f"No file or folder at {spec!r} (--dataset).")
    if parse_hub_spec(spec) is not None:
        return spec
    raise UnknownNameError(
        DATASETS.unknown_message(spec) + " A --dataset may also be a local path or a Hugging Face id (owner/name)."
    )


def spec_modality(spec: str, columns: Columns = Columns()) -> str | None:
    """The modality of what ``spec`` names, known without loading it.

    A registry entry's is declared; a local path's is read off its listing, header, first
    records or schema (:mod:`.peek`; ``columns`` are the column options, which can change it).
    ``None`` for a hub id, and for a path whose modality cannot be told without loading it.
    """
    entry = DATASETS.find(spec)
    if entry is not None:
        return str(entry.meta.get("modality", "image"))
    path = Path(spec).expanduser()
    return path_modality(path, columns) if path.exists() else None


def spec_task(spec: str) -> Task | None:
    """The task of the data ``spec`` names (NER for tagged sentences), known without loading it; ``None`` for a hub id."""
    entry = DATASETS.find(spec)
    if entry is not None:
        return NER if entry.meta.get("ner", False) else CLASSIFICATION
    path = Path(spec).expanduser()
    if path.is_file():
        return NER if path.suffix.lower() in CONLL_SUFFIXES or is_ner_table(path) else CLASSIFICATION
    return None if parse_hub_spec(spec) is not None else CLASSIFICATION


def spec_is_offline(spec: str) -> bool:
    """True when loading ``spec`` cannot need the network: an offline registry entry or a local path."""
    entry = DATASETS.find(spec)
    if entry is not None:
        return bool(entry.meta.get("offline", False))
    return Path(spec).expanduser().exists()


def case_label(spec: str, num_classes: int | None = None) -> str:
    """The dataset part of an item id: ``caltech256``, or ``caltech256-21cls`` for a sweep point.

    A local path is named by its last component (``/data/run3/posts.csv`` -> ``posts.csv``):
    an id must not depend on where the data lies on one machine, or ``--benchmark-compare``
    and ``--lf`` would not find the same item on another.
    """
    name = spec
    if DATASETS.find(spec) is None and (looks_like_path(spec) or Path(spec).expanduser().exists()):
        name = Path(spec.rstrip("/\\")).name or spec
    return name if num_classes is None else f"{name}-{num_classes}cls"
