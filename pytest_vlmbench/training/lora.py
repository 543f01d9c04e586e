"""``finetune`` of a generative text model (Llama, Mistral, Qwen2, Gemma, Phi-3): LoRA with peft.

The study's small models are fine-tuned whole; an LLM's billions of weights are not, on one
GPU, so its ``finetune`` trains what people train instead: LoRA adapters (Hu et al., 2021;
peft's default target modules for the architecture, usually the attention's query and value
projections) plus a new classification head over the dataset's classes. The causal LM is
read as a sequence classifier, as transformers' ``*ForSequenceClassification`` does: the
head scores the hidden state of each text's last non-pad token. Everything else is
``finetune``'s: the training split, the loop (:func:`.fit.train_loop`, here at LoRA's
learning rate), the seeding, the weights cache and the record's ``training`` section, whose
hyperparameters add ``train_lora_r``, ``train_lora_alpha`` and ``train_lora_dropout``.

Only the adapters and the head are saved (megabytes, not the base's gigabytes), with the
tokenizer and the class list; the evaluation loads the base, merges the adapters into it and
classifies through :class:`~pytest_vlmbench.models.hf_classifier.HFSequenceClassifier`.
On CUDA the frozen base keeps the run's dtype and the trained weights are float32 under
bfloat16 autocast; on CPU everything is float32.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..datasets.base import Dataset
from ..models.base import DirectClassifier, GenerativeModel, LoadOptions, ModelSpec
from ..models.hf_classifier import HFSequenceClassifier
from ..models.hf_common import load_weights, pretrained_kwargs, quiet_peft, resolve_device, resolve_dtype
from ..strategies.base import StrategyConfig
from ..strategies.train_settings import TrainSettings
from .fit import (
    FitReport, autocast_bf16, cached_fit, encode_texts, head_labels, new_head, pad_with_eos, quiet_new_head, train_loop,
)
from .trained import TrainedClassifier, TrainingError

LORA_FAMILY = "hf-causal-lm"
"""Loaded models whose ``finetune`` is LoRA: the generative text LLMs."""
TRAINED_FAMILY = "hf-causal-lm-lora"
"""The family the evaluated classifier reports: the base's, with its LoRA adapters merged."""
HEAD_FILE = "lora_head.json"
"""Beside the adapters: the base they were trained on and the head's classes, in order."""


def _peft(name: str) -> Any:
    try:
        import peft
    except ImportError:
        raise TrainingError(
            f"finetune of {name} trains LoRA adapters, which needs peft; install it with pip install 'pytest-vlmbench[lora]'."
        ) from None
    return peft


def fit_lora(source: str, train: Dataset, settings: TrainSettings, seed: int, load: LoadOptions, target: Path) -> FitReport:
    """Train LoRA adapters and a new head on the causal LM at ``source``; save them, the tokenizer and the classes to ``target``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    peft = _peft(source)
    device = resolve_device(load.device)
    torch.manual_seed(seed)  # the head's and the adapters' initialisation, the dropout masks
    tokenizer = AutoTokenizer.from_pretrained(source, **pretrained_kwargs(source, load))
    net = new_head(AutoModelForSequenceClassification, source, train.classes, load, resolve_dtype(load.dtype, device))
    pad_with_eos(tokenizer, net)
    # peft's own choice of layers for the architectures it knows; every linear layer but the head
    # ("all-linear", QLoRA's choice) for those it has no default for (Phi-3 in peft 0.21).
    known = str(net.config.model_type) in peft.utils.constants.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
    adapters = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=settings.lora_r, lora_alpha=settings.lora_alpha,
                               lora_dropout=settings.lora_dropout, target_modules=None if known else "all-linear")  # fmt: skip
    try:
        with quiet_peft():
            net = peft.get_peft_model(net, adapters)  # the head (score) trains whole: peft's modules_to_save for SEQ_CLS
    except ValueError as exc:
        raise TrainingError(f"peft cannot place LoRA adapters on {type(net).__name__} ({str(exc).splitlines()[0]}).") from None
    if autocast_bf16(device):
        for p in net.parameters():
            if p.requires_grad:  # AdamW on half-precision weights loses the small updates
                p.data = p.data.float()
    net.to(device).train()
    encoded, labels_of = encode_texts(tokenizer, train, settings, device)
    report = train_loop(net, tokenizer, encoded, labels_of, settings, seed, device, lora=True)
    net.save_pretrained(target)
    tokenizer.save_pretrained(target)
    (target / HEAD_FILE).write_text(json.dumps({"base": source, "classes": list(train.classes)}))
    return report


def load_merged(source: str, adapters: Path, options: LoadOptions) -> tuple[Any, str]:
    """The base at ``source`` as a classifier over the trained classes, its adapters merged in; and its device."""
    from transformers import AutoModelForSequenceClassification

    peft = _peft(source)
    classes = json.loads((adapters / HEAD_FILE).read_text())["classes"]
    with quiet_new_head():  # the trained head is loaded over the new one next
        net, device = load_weights(AutoModelForSequenceClassification, source, options, **head_labels(classes))
    with quiet_peft():
        merged = peft.PeftModel.from_pretrained(net, str(adapters)).merge_and_unload()
    merged.eval()
    return merged, device


def train_lora(
    model: GenerativeModel | DirectClassifier, source: str, train: Dataset, config: StrategyConfig, load: LoadOptions,
    split_detail: dict[str, Any],
) -> TrainedClassifier:  # fmt: skip
    """The LoRA ``finetune`` trainer: the adapters from the cache, else trained now and cached."""
    _peft(model.name)  # before anything is trained or loaded
    training, path = cached_fit("finetune", model, source, train, config, load, split_detail, fit_lora, lora=True)
    options = LoadOptions(device=load.device, dtype=load.dtype)
    spec = ModelSpec(name=model.name, source=str(path), family=TRAINED_FAMILY, factory=HFSequenceClassifier)
    inner = HFSequenceClassifier(str(path), spec, options, loaded=load_merged(source, path, options))
    stored = json.loads((path / "adapter_config.json").read_text()).get("target_modules") or []
    targets = sorted({name.rsplit(".", 1)[-1] for name in stored})  # "all-linear" stores every layer's path
    info = replace(inner.info, base_source=source, adapter="lora", lora_target_modules=tuple(targets))
    return TrainedClassifier(inner, training, info, owns_inner=True)
