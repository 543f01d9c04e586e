"""Phi-4-multimodal (transformers' native ``phi4_multimodal``) through the VLM adapter.

Batching, prompting and decoding are the ``hf-vlm`` adapter's
(:meth:`HFVisionLanguageModel.from_loaded`); only loading differs, in four ways:

- ``AutoModelForImageTextToText`` does not map ``phi4_multimodal``: the model is a
  ``Phi4MultimodalForCausalLM`` and loads through ``AutoModelForCausalLM``.
- A reloaded ``Phi4MultimodalProcessor`` has no chat template of its own, so it takes its
  tokenizer's (the same template, saved beside it).
- transformers (5.24) marks the SigLIP-style vision tower's attention ``is_causal = True``.
  Under SDPA, causality applies only when no mask is passed, and the tower passes none when
  every patch of every crop in the batch is real: an image was then encoded causally alone
  but bidirectionally beside an image with padded patches, so its answer depended on its
  batch. SigLIP attends bidirectionally (as the eager path here already does); the flag is
  set to ``False`` after loading, as transformers did for Mllama's and Qwen2.5-VL's towers.
- The hub checkpoint keeps its vision skills in a LoRA adapter (``vision-lora/``) over the
  Phi-4-mini language model; when the checkpoint has one it is loaded and switched on
  (this needs ``peft``), and ``info.vision_lora`` records whether it was.

The processor also needs its audio feature extractor to be built; no audio is sent here.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import replace
from typing import Any

from .base import LoadOptions, ModelSpec
from .hf_common import load_preprocessor, load_weights, local_only, quiet_peft
from .hf_vlm import HFVisionLanguageModel

VISION_LORA = "vision-lora"
"""Subfolder of the hub checkpoint holding the vision LoRA adapter."""


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFVisionLanguageModel:
    """Load a ``phi4_multimodal`` checkpoint (hub id or directory) as a generative VLM."""
    from transformers import AutoModelForCausalLM, AutoProcessor

    processor = load_preprocessor(AutoProcessor, source, options)
    if not getattr(processor, "chat_template", None):
        processor.chat_template = processor.tokenizer.chat_template
    model, _ = load_weights(AutoModelForCausalLM, source, options)
    attend_bidirectionally_in_vision(model)
    with_lora = has_vision_lora(source)
    if with_lora:
        load_vision_lora(model, source, spec.name)
    adapter = HFVisionLanguageModel.from_loaded(spec.name, model, processor, spec.family, source)
    adapter.info = replace(adapter.info, vision_lora=with_lora)
    return adapter


def attend_bidirectionally_in_vision(model: Any) -> int:
    """Make every vision-tower attention layer bidirectional; returns how many were changed."""
    from transformers.models.phi4_multimodal.modeling_phi4_multimodal import Phi4MultimodalVisionAttention

    layers = [m for m in model.modules() if isinstance(m, Phi4MultimodalVisionAttention)]
    for layer in layers:
        layer.is_causal = False
    return len(layers)


def has_vision_lora(source: str) -> bool:
    """Whether the checkpoint ships ``vision-lora/`` (in its directory, or on the hub or in its cache)."""
    config = f"{VISION_LORA}/adapter_config.json"
    if os.path.isdir(source):
        return os.path.isfile(os.path.join(source, config))
    import huggingface_hub

    if local_only(source):  # offline: only what the cache holds counts
        return isinstance(huggingface_hub.try_to_load_from_cache(source, config), str)
    return bool(huggingface_hub.file_exists(source, config))


def load_vision_lora(model: Any, source: str, name: str) -> None:
    """Load and switch on the vision LoRA adapter; one sentence when ``peft`` is missing."""
    if importlib.util.find_spec("peft") is None:
        raise ModuleNotFoundError(
            f"{name} ({source}) keeps its vision skills in a LoRA adapter ({VISION_LORA}/), which needs peft; "
            f"run `pip install peft`."
        )
    # No local_files_only here: transformers 5.24 passes it on to a class that refuses it; with
    # the hub off (HF_HUB_OFFLINE), huggingface_hub reads only its cache anyway.
    # The first adapter loaded is the active one (no set_adapter: transformers 5.24 asks peft >= 0.22 for it).
    with quiet_peft():
        model.load_adapter(source, adapter_name="vision", adapter_kwargs={"subfolder": VISION_LORA})
