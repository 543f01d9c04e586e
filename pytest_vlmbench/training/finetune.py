"""``finetune``: train a classifier on the training items, then evaluate it as ``direct``.

A sequence-classification head (BERT, DistilBERT, RoBERTa, GPT-2, BART, MiniLM ...) trains
every weight: the base checkpoint is loaded with a new head over the dataset's classes
(``ignore_mismatched_sizes``: a head trained on other labels is replaced, as it would be in
any fine-tune), float32 weights, the shared loop of :mod:`.fit`. The trained model is saved
with ``save_pretrained`` under the weights cache (:mod:`.weights_cache`) and evaluated
through the normal adapter (:class:`~pytest_vlmbench.models.hf_classifier.HFSequenceClassifier`),
exactly as a checkpoint given with ``--model PATH`` would be.

A generative text model (Llama, Mistral, Qwen2, Gemma, Phi-3) trains LoRA adapters and a new
head instead (:mod:`.lora`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..datasets.base import Dataset
from ..models.base import DirectClassifier, GenerativeModel, LoadOptions, Model, ModelSpec
from ..models.hf_classifier import HFSequenceClassifier
from ..models.hf_common import pretrained_kwargs, resolve_device
from ..strategies.base import StrategyConfig
from ..strategies.train_settings import TrainSettings
from .fit import FitReport, cached_fit, encode_texts, new_head, pad_with_eos, train_loop
from .lora import LORA_FAMILY, train_lora
from .trained import TrainedClassifier, TrainingError

FAMILY = "hf-seq-cls"


def fit_head(source: str, train: Dataset, settings: TrainSettings, seed: int, load: LoadOptions, target: Path) -> FitReport:
    """Fine-tune the checkpoint at ``source`` on ``train`` and save it (model + tokenizer) to ``target``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = resolve_device(load.device)
    torch.manual_seed(seed)  # the new head's initialisation and the dropout masks
    tokenizer = AutoTokenizer.from_pretrained(source, **pretrained_kwargs(source, load))
    net = new_head(AutoModelForSequenceClassification, source, train.classes, load, torch.float32)
    pad_with_eos(tokenizer, net)
    net.to(device).train()
    report = train_loop(net, tokenizer, *encode_texts(tokenizer, train, settings, device), settings, seed, device)
    net.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return report


def base_source(model: Model, method: str, families: Sequence[str] = (FAMILY,)) -> str:
    """The folder or hub id the loaded model came from; :class:`TrainingError` when it is not of ``families``."""
    info = model.info
    if info.family not in families or not info.source:
        family = info.family or type(model).__name__
        raise TrainingError(
            f"{method} fine-tunes sequence-classification heads (BERT, DistilBERT, RoBERTa, GPT-2, BART ...) and, with "
            f"LoRA, text LLMs (Llama, Mistral, Qwen2, Gemma, Phi-3), and {model.name or 'this model'} is a "
            f"{family} model; use linear_probe for encoders and CLIP/SigLIP."
        )  # fmt: skip
    return info.source


def train_head(
    model: GenerativeModel | DirectClassifier, train: Dataset, config: StrategyConfig, load: LoadOptions, split_detail: dict[str, Any]
) -> TrainedClassifier:
    """The ``finetune`` trainer: the fine-tuned head from the cache, else trained now and cached; a
    generative text model gets LoRA adapters and a head instead (:mod:`.lora`)."""
    source = base_source(model, "finetune", (FAMILY, LORA_FAMILY))
    if model.info.family == LORA_FAMILY:
        return train_lora(model, source, train, config, load, split_detail)
    training, path = cached_fit("finetune", model, source, train, config, load, split_detail, fit_head)
    spec = ModelSpec(name=model.name, source=str(path), family=FAMILY, factory=HFSequenceClassifier)
    inner = HFSequenceClassifier(str(path), spec, LoadOptions(device=load.device, dtype=load.dtype))
    return TrainedClassifier(inner, training, replace(inner.info, base_source=source), owns_inner=True)
