"""pytest-vlmbench: benchmark VLMs, LLMs and small classifiers on classification tasks.

The library runs without pytest; the pytest plugin (``pytest_vlmbench.plugin``, registered
through the ``pytest11`` entry point) turns it into items, fixtures and JSON. Nothing here
imports torch: models import it when they load. docs/development.md maps the layers.
"""

from __future__ import annotations

from .datasets.base import Dataset, DatasetError, Item
from .datasets.catalog import DATASETS
from .datasets.resolve import DatasetOptions, load_dataset
from .evaluation.evaluate import EvalConfig, evaluate
from .models.base import Adapter, Answer, DirectClassifier, GenerativeModel, LoadOptions, ModelSpec, Request
from .models.catalog import MODELS, load_model, resolve_model
from .options import RunOptions
from .record import ModelInfo, Record
from .registry import Registry, UnknownNameError
from .strategies.base import Strategy, StrategyConfig
from .strategies.catalog import STRATEGIES

__all__ = [
    "DATASETS",
    "MODELS",
    "STRATEGIES",
    "Adapter",
    "Answer",
    "Dataset",
    "DatasetError",
    "DatasetOptions",
    "DirectClassifier",
    "EvalConfig",
    "GenerativeModel",
    "Item",
    "LoadOptions",
    "ModelInfo",
    "ModelSpec",
    "Record",
    "Registry",
    "Request",
    "RunOptions",
    "Strategy",
    "StrategyConfig",
    "UnknownNameError",
    "evaluate",
    "load_dataset",
    "load_model",
    "resolve_model",
]
