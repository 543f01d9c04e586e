"""pytest-vlmbench: benchmark VLMs, LLMs and small classifiers on classification tasks.

The library runs without pytest; the pytest plugin (``pytest_vlmbench.plugin``, registered
through the ``pytest11`` entry point) turns it into items, fixtures and JSON. Nothing here
imports torch: models import it when they load.
"""

from __future__ import annotations

from .datasets.catalog import DATASETS
from .models.catalog import MODELS, load_model, resolve_model
from .strategies.catalog import STRATEGIES
from .datasets.resolve import load_dataset
from .datasets.base import Dataset, DatasetError, Item
from .models.base import GenerativeModel, LoadOptions, ModelSpec, Request
from .registry import Registry, UnknownNameError
from .evaluation.evaluate import EvalConfig, evaluate
from .strategies.prompting import StrategyConfig

__all__ = [
    "DATASETS",
    "MODELS",
    "STRATEGIES",
    "Dataset",
    "DatasetError",
    "EvalConfig",
    "GenerativeModel",
    "Item",
    "LoadOptions",
    "ModelSpec",
    "Registry",
    "Request",
    "StrategyConfig",
    "UnknownNameError",
    "evaluate",
    "load_dataset",
    "load_model",
    "resolve_model",
]
