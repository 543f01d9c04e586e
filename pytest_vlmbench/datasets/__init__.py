"""Datasets: what a ``--dataset`` value names (:mod:`.catalog`), loading it (:mod:`.resolve`),
the built-in and packaged sets, files, folders and hub ids, subsets and fingerprints.

Importing this package imports neither ``datasets`` nor PIL: they load when a dataset does.
"""

from __future__ import annotations

from .base import Dataset, DatasetError, Item, ItemError, Modality
from .catalog import DATASETS, DatasetLoader
from .resolve import DatasetOptions, load_dataset

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetError",
    "DatasetLoader",
    "DatasetOptions",
    "Item",
    "ItemError",
    "Modality",
    "load_dataset",
]
