"""The built-in registries of models, datasets and strategies, and name resolution.

Extend them from a ``conftest.py``::

    from pytest_vlmbench import MODELS, ModelSpec
    MODELS.register("my-vlm", ModelSpec(name="my-vlm", source="org/my-vlm",
                                        family="custom", factory="my_pkg.adapter:load"))

or from a package through the entry-point groups ``pytest_vlmbench.models``,
``pytest_vlmbench.datasets`` and ``pytest_vlmbench.strategies``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Callable

from .data import Dataset
from .models.base import GenerativeModel, LoadOptions, ModelSpec
from .registry import Registry, UnknownNameError, import_target
from .strategies import StrategyFn

DatasetLoader = Callable[[], Dataset]

MODELS: Registry[ModelSpec] = Registry("model", "pytest_vlmbench.models")
DATASETS: Registry[DatasetLoader] = Registry("dataset", "pytest_vlmbench.datasets")
STRATEGIES: Registry[StrategyFn] = Registry("strategy", "pytest_vlmbench.strategies")

TINY_PREFIX = "tiny:"
HF_VLM = "pytest_vlmbench.models.hf_vlm:load"

MODELS.register(
    "qwen2-vl",
    ModelSpec(
        name="qwen2-vl",
        source="Qwen/Qwen2-VL-7B-Instruct",
        family="hf-vlm",
        factory=HF_VLM,
        tiny_builder="qwen2-vl",
    ),
    aliases=["qwen2-vl-7b"],
)

DATASETS.register("fashion_mnist", "pytest_vlmbench.builtin_datasets:load_fashion_mnist", modality="image", offline=True)
DATASETS.register("digits", "pytest_vlmbench.builtin_datasets:load_digits", modality="image", offline=True)

STRATEGIES.register("closed_set", "pytest_vlmbench.strategies:closed_set", aliases=["closed-set"], needs="generate")
STRATEGIES.register("binary", "pytest_vlmbench.strategies:binary", aliases=["yes-no", "yes_no"], needs="generate")

DEFAULT_MODELS = ("tiny:qwen2-vl",)
"""What runs when no ``--model`` is given: offline, CPU-sized, every code path."""


def resolve_model(name: str) -> ModelSpec:
    """The spec for a registry name or alias, ``tiny:NAME``, or a local model directory."""
    if name.startswith(TINY_PREFIX):
        base_name = name[len(TINY_PREFIX) :]
        entry = MODELS.find(base_name)
        if entry is None:
            raise UnknownNameError(MODELS.unknown_message(base_name).replace("Unknown model", "Unknown tiny: model"))
        base = entry.load()
        assert isinstance(base, ModelSpec)
        if base.tiny_builder is None:
            reason = base.meta.get("no_tiny_reason", "its architecture cannot be built offline")
            raise UnknownNameError(f"Model {base.name!r} has no tiny: build: {reason}.")
        return replace(base, name=TINY_PREFIX + base.name, is_tiny=True)
    entry = MODELS.find(name)
    if entry is not None:
        spec = entry.load()
        assert isinstance(spec, ModelSpec)
        return spec
    if os.path.isdir(name):
        return ModelSpec(name=name, source=name, family="hf-vlm", factory=HF_VLM)
    raise UnknownNameError(MODELS.unknown_message(name))


def load_model(spec: ModelSpec, options: LoadOptions) -> tuple[GenerativeModel, float]:
    """Build the model (and its tiny weights first, when asked); returns it and the load seconds."""
    start = time.perf_counter()
    source = spec.source
    if spec.is_tiny:
        from .models import tiny

        assert spec.tiny_builder is not None
        source = str(tiny.build(spec.tiny_builder))
    factory: Any = import_target(spec.factory) if isinstance(spec.factory, str) else spec.factory
    model = factory(source, spec, options)
    return model, time.perf_counter() - start


def load_dataset(name: str) -> Dataset:
    return DATASETS.get(name).load()()


def dataset_modality(name: str) -> str:
    return str(DATASETS.get(name).meta.get("modality", "image"))
