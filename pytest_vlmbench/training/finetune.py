"""``finetune``: train every weight of a sequence-classification head on the training items.

A plain torch loop, no ``Trainer``/accelerate: the base checkpoint is loaded with a new head
over the dataset's classes (``ignore_mismatched_sizes``: a head trained on other labels is
replaced, as it would be in any fine-tune), then AdamW with weight decay (none on biases and
norms), a linear warm-up over ``warmup_ratio`` of the steps and a linear decay to zero,
gradient clipping at 1.0, batches padded per batch. Everything random (the new head, the
dropout, the batch order) follows the seed, so a rerun trains the same weights. On CUDA
the forward pass runs under bfloat16 autocast where supported, with float32 weights.

The trained model is saved with ``save_pretrained`` under the weights cache
(:mod:`.weights_cache`) and evaluated through the normal adapter
(:class:`~pytest_vlmbench.models.hf_classifier.HFSequenceClassifier`), exactly as a
checkpoint given with ``--model PATH`` would be.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.base import Dataset
from ..evaluation.answer_cache import model_identity
from ..models.base import DirectClassifier, GenerativeModel, LoadOptions, ModelSpec
from ..models.hf_classifier import HFSequenceClassifier
from ..models.hf_common import pretrained_kwargs, resolve_device
from ..record_training import Training
from ..strategies.base import StrategyConfig
from ..strategies.train_settings import TrainSettings
from .split import data_sha256
from .trained import TrainedClassifier, TrainingError, from_meta, measured, split_name, to_meta
from .weights_cache import CachedTraining, training_key

FAMILY = "hf-seq-cls"
NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight")
"""Parameters trained without weight decay (BERT's recipe: biases and normalisation weights)."""


@dataclass(frozen=True)
class FitReport:
    """What one training run measured besides its cost."""

    steps: int
    losses: tuple[float, ...]


def fit_head(source: str, train: Dataset, settings: TrainSettings, seed: int, load: LoadOptions, target: Path) -> FitReport:
    """Fine-tune the checkpoint at ``source`` on ``train`` and save it (model + tokenizer) to ``target``."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    device = resolve_device(load.device)
    classes = list(train.classes)
    torch.manual_seed(seed)  # the new head's initialisation and the dropout masks
    tokenizer = AutoTokenizer.from_pretrained(source, **pretrained_kwargs(source, load))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity(logging.ERROR)  # "newly initialized head ... you should train it": that is what happens next
    try:
        net = AutoModelForSequenceClassification.from_pretrained(
            source, num_labels=len(classes), id2label=dict(enumerate(classes)), label2id={c: i for i, c in enumerate(classes)},
            ignore_mismatched_sizes=True, dtype=torch.float32, **pretrained_kwargs(source, load),
        )  # fmt: skip
    finally:
        hf_logging.set_verbosity(verbosity)
    if tokenizer.pad_token_id is None:  # GPT-2: pad with EOS, as its fine-tunes do
        tokenizer.pad_token = tokenizer.eos_token
    net.config.pad_token_id = tokenizer.pad_token_id
    net.to(device).train()

    max_length = min(settings.max_length, tokenizer.model_max_length)
    encoded = tokenizer([it.text or "" for it in train.items], truncation=True, max_length=max_length)
    labels = torch.tensor([classes.index(it.label) for it in train.items])
    report = train_loop(net, tokenizer, encoded, settings, seed, device, lambda batch, features: labels[batch].to(device))
    net.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return report


def train_loop(
    net: Any, tokenizer: Any, encoded: Any, settings: TrainSettings, seed: int, device: str,
    labels_of: Callable[[list[int], Any], Any],
) -> FitReport:  # fmt: skip
    """The loop every fine-tune shares (see the module docstring): AdamW with weight decay, linear
    warm-up and decay, clipping at 1.0, seeded batch order, batches padded per batch.

    ``encoded`` is the tokenizer's output for the training items; ``labels_of(batch, features)``
    gives a batch's label tensor (``batch``: item indices; ``features``: the padded batch, on
    ``device``). Leaves ``net`` in eval mode.
    """
    import torch

    n = len(encoded["input_ids"])
    total = math.ceil(n / settings.batch_size) * settings.epochs
    warmup = int(total * settings.warmup_ratio)
    groups = [
        {"params": [p for name, p in net.named_parameters() if not name.endswith(NO_DECAY)], "weight_decay": settings.weight_decay},
        {"params": [p for name, p in net.named_parameters() if name.endswith(NO_DECAY)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / (warmup + 1) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
    )
    autocast = device.startswith("cuda") and torch.cuda.is_bf16_supported()
    order = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(settings.epochs):
        epoch_loss = 0.0
        index = torch.randperm(n, generator=order)
        for start in range(0, n, settings.batch_size):
            batch = index[start : start + settings.batch_size].tolist()
            features = tokenizer.pad([{k: encoded[k][i] for k in encoded} for i in batch], return_tensors="pt").to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                loss = net(**features, labels=labels_of(batch, features)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_loss += float(loss.detach()) * len(batch)
        losses.append(epoch_loss / n)
    net.eval()
    return FitReport(steps=total, losses=tuple(losses))


def base_source(model: Any, method: str) -> str:
    """The folder or hub id the loaded model came from; :class:`TrainingError` when it is not a classification head."""
    info = getattr(model, "info", {}) or {}
    if info.get("family") != FAMILY or not info.get("source"):
        family = info.get("family", type(model).__name__)
        raise TrainingError(
            f"{method} fine-tunes sequence-classification heads (BERT, DistilBERT, RoBERTa, GPT-2, BART ...), and "
            f"{getattr(model, 'name', 'this model')} is a {family} model; use linear_probe for encoders and CLIP/SigLIP."
        )
    return str(info["source"])


def train_head(
    model: GenerativeModel | DirectClassifier, train: Dataset, config: StrategyConfig, load: LoadOptions, split_detail: dict[str, Any]
) -> TrainedClassifier:
    """The ``finetune`` trainer: the fine-tuned head from the cache, else trained now and cached."""
    source = base_source(model, "finetune")
    training, path = cached_fit("finetune", model, source, train, config, load, split_detail, fit_head)
    spec = ModelSpec(name=model.name, source=str(path), family=FAMILY, factory=HFSequenceClassifier)
    inner = HFSequenceClassifier(str(path), spec, LoadOptions(device=load.device, dtype=load.dtype))
    return TrainedClassifier(inner, training, {**inner.info, "base_source": source}, owns_inner=True)


Fit = Callable[[str, Dataset, TrainSettings, int, LoadOptions, Path], FitReport]
"""``fit(source, train, settings, seed, load, target)``: train from ``source`` and save to ``target``."""


def cached_fit(
    method: str, model: Any, source: str, train: Dataset, config: StrategyConfig, load: LoadOptions,
    split_detail: dict[str, Any], fit: Fit,
) -> tuple[Training, Path]:  # fmt: skip
    """The trained weights of ``method`` from the weights cache, else ``fit`` now (measured) and
    cached; returns the record's ``training`` section and the folder holding the weights."""
    settings = config.training
    hyper = settings.finetune_json()
    data = data_sha256(train)
    key = training_key(method, model_identity(model), data, hyper, config.seed)
    entry = CachedTraining.for_key(method, key)
    if entry.ready:
        return from_meta(entry.meta(), str(entry.path)), entry.path
    meta: dict[str, Any] = {}
    device = resolve_device(load.device)
    with entry.build(meta) as staging:  # meta is written when the block ends: fill it inside
        with measured(device) as cost:
            report = fit(source, train, settings, config.seed, load, staging)
        n = len(train.items)
        training = Training(
            method=method, split=split_name(split_detail), items=n, seconds=cost.seconds,
            items_per_s=n * settings.epochs / cost.seconds if cost.seconds > 0 else 0.0,
            peak_memory_mb=cost.peak_memory_mb, device=device, hyperparameters={**hyper, "base": source},
            reused=False, cache_key=key, data_sha256=data, epochs=settings.epochs, steps=report.steps,
            losses=report.losses, energy_joules=cost.energy_joules, split_detail=split_detail,
        )  # fmt: skip
        meta["training"] = to_meta(training)
    return training, entry.path
