"""The fine-tuning machinery every trainer shares: a new head on a checkpoint, the training loop,
and the weights cache around a fit.

A plain torch loop, no ``Trainer``/accelerate: AdamW with weight decay (none on biases and
norms), a linear warm-up over ``warmup_ratio`` of the steps and a linear decay to zero,
gradient clipping at 1.0, batches padded per batch. Everything random (a new head, the
dropout, the batch order) follows the seed, so a rerun trains the same weights. On CUDA the
forward pass runs under bfloat16 autocast where supported. :func:`cached_fit` takes trained
weights from the weights cache (:mod:`.weights_cache`), or measures a fit and caches it.
Used by ``finetune`` (:mod:`.finetune`, :mod:`.lora`) and ``ner_finetune`` (:mod:`.ner_finetune`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.base import Dataset
from ..evaluation.answer_cache import model_identity
from ..models.base import LoadOptions
from ..models.hf_common import pretrained_kwargs, resolve_device
from ..record.training import Training
from ..strategies.base import StrategyConfig
from ..strategies.train_settings import TrainSettings
from .split import data_sha256
from .trained import from_meta, measured, split_name, to_meta
from .weights_cache import CachedTraining, training_key

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "ln_1.weight", "ln_2.weight", "ln_f.weight")
"""Parameters trained without weight decay (BERT's recipe: biases and normalisation weights)."""


@dataclass(frozen=True)
class FitReport:
    """What one training run measured besides its cost."""

    steps: int
    losses: tuple[float, ...]


def new_head(auto_class: Any, source: str, classes: Sequence[str], load: LoadOptions, dtype: Any) -> Any:
    """The checkpoint at ``source`` with a new head over ``classes`` (a head trained on other labels
    is replaced, as in any fine-tune)."""
    with quiet_new_head():
        return auto_class.from_pretrained(
            source, **head_labels(classes), ignore_mismatched_sizes=True, dtype=dtype, **pretrained_kwargs(source, load)
        )


def head_labels(classes: Sequence[str]) -> dict[str, Any]:
    """``from_pretrained`` arguments for a head over ``classes``, in order."""
    return {"num_labels": len(classes), "id2label": dict(enumerate(classes)), "label2id": {c: i for i, c in enumerate(classes)}}


@contextmanager
def quiet_new_head() -> Iterator[None]:
    """Without transformers' "newly initialized ... you should train it" warning: training the new
    head (or loading the trained one over it) is what happens next."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def pad_with_eos(tokenizer: Any, net: Any) -> None:
    """GPT-2, Llama ...: no pad token, so pad with EOS, as their fine-tunes do (the head reads the last non-pad token)."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    net.config.pad_token_id = tokenizer.pad_token_id


def encode_texts(tokenizer: Any, train: Dataset, settings: TrainSettings, device: str) -> tuple[Any, Callable[[list[int], Any], Any]]:
    """The training texts tokenized (truncated at ``max_length``), and ``labels_of`` for :func:`train_loop`."""
    import torch

    classes = list(train.classes)
    max_length = min(settings.max_length, tokenizer.model_max_length)
    encoded = tokenizer([it.text or "" for it in train.items], truncation=True, max_length=max_length)
    labels = torch.tensor([classes.index(str(it.label)) for it in train.items])  # classification: one class each
    return encoded, lambda batch, features: labels[batch].to(device)


def train_loop(
    net: Any, tokenizer: Any, encoded: Any, labels_of: Callable[[list[int], Any], Any], settings: TrainSettings,
    seed: int, device: str, lora: bool = False,
) -> FitReport:  # fmt: skip
    """The loop every fine-tune shares (see the module docstring): AdamW with weight decay, linear
    warm-up and decay, clipping at 1.0, seeded batch order, batches padded per batch.

    ``encoded`` is the tokenizer's output for the training items; ``labels_of(batch, features)``
    gives a batch's label tensor (``batch``: item indices; ``features``: the padded batch, on
    ``device``). Only parameters that require a gradient train (LoRA: the adapters and the new
    head), at ``settings.lr(lora)``. Leaves ``net`` in eval mode.
    """
    import torch

    n = len(encoded["input_ids"])
    total = math.ceil(n / settings.batch_size) * settings.epochs
    warmup = int(total * settings.warmup_ratio)
    trained = [(name, p) for name, p in net.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for name, p in trained if not name.endswith(NO_DECAY)], "weight_decay": settings.weight_decay},
        {"params": [p for name, p in trained if name.endswith(NO_DECAY)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=settings.lr(lora))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / (warmup + 1) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
    )
    autocast = autocast_bf16(device)
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
            torch.nn.utils.clip_grad_norm_([p for _, p in trained], 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            epoch_loss += float(loss.detach()) * len(batch)
        losses.append(epoch_loss / n)
    net.eval()
    return FitReport(steps=total, losses=tuple(losses))


def autocast_bf16(device: str) -> bool:
    """Whether the training forward pass runs under bfloat16 autocast (CUDA with bfloat16)."""
    import torch

    return device.startswith("cuda") and torch.cuda.is_bf16_supported()


Fit = Callable[[str, Dataset, TrainSettings, int, LoadOptions, Path], FitReport]
"""``fit(source, train, settings, seed, load, target)``: train from ``source`` and save to ``target``."""


def cached_fit(
    method: str, model: Any, source: str, train: Dataset, config: StrategyConfig, load: LoadOptions,
    split_detail: dict[str, Any], fit: Fit, lora: bool = False,
) -> tuple[Training, Path]:  # fmt: skip
    """The trained weights of ``method`` from the weights cache, else ``fit`` now (measured) and
    cached; returns the record's ``training`` section and the folder holding the weights
    (``lora``: the settings recorded and keyed are LoRA's)."""
    settings = config.training
    hyper = settings.finetune_json(lora)
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
