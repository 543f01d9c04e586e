"""pytest-vlmbench: benchmark VLMs, LLMs and small classifiers on classification tasks.

The library runs without pytest; the pytest plugin (``pytest_vlmbench.plugin``, registered
through the ``pytest11`` entry point) turns it into items, fixtures and JSON. Nothing here
imports torch: models import it when they load.
"""

from __future__ import annotations

from .catalog import DATASETS, MODELS, STRATEGIES, load_dataset, load_model, resolve_model
from .data import Dataset, DatasetError, Item
from .models.base import GenerativeModel, LoadOptions, ModelSpec, Request
from .registry import Registry, UnknownNameError
from .runner import EvalConfig, evaluate
from .strategies import StrategyConfig

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
