"""``ner_finetune``: train every weight of a token-classification head on the training sentences.

The base checkpoint (a token head, or a sequence-classification / plain encoder checkpoint:
BERT, DistilBERT, RoBERTa ...) is loaded with ``AutoModelForTokenClassification`` and a new
head over the dataset's IOB2 tags. Each word's label sits on its first sub-word; the other
sub-words and the special tokens are ignored by the loss (-100), as in transformers' own
token-classification recipe. The optimiser, schedule, seeding, weights cache and the
record's ``training`` section are ``finetune``'s (:mod:`.finetune`, :mod:`.weights_cache`),
under the cache method ``ner_finetune``; the trained head is evaluated by the normal
adapter (:class:`~pytest_vlmbench.models.hf_token.HFTokenClassifier`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..datasets.base import Dataset
from ..datasets.ner import NerItem
from ..models.base import DirectClassifier, GenerativeModel, LoadOptions, ModelSpec
from ..models.hf_common import resolve_device
from ..models.hf_token import FAMILY, HFTokenClassifier, token_tokenizer
from ..strategies.base import StrategyConfig
from ..strategies.train_settings import TrainSettings
from ..tasks import NER
from .fit import FitReport, cached_fit, new_head, train_loop
from .trained import TrainedClassifier, TrainingError

METHOD = "ner_finetune"
BASE_FAMILIES = (FAMILY, "hf-seq-cls", "sentence-embedding")
"""Loaded models whose checkpoint can take a token head."""
IGNORED = -100
"""The label the loss skips (sub-words after a word's first, special tokens, padding)."""


def fit_token_head(source: str, train: Dataset, settings: TrainSettings, seed: int, load: LoadOptions, target: Path) -> FitReport:
    """Fine-tune a token head from the checkpoint at ``source`` on ``train`` and save it (model + tokenizer) to ``target``."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    device = resolve_device(load.device)
    tags = list(train.classes)
    torch.manual_seed(seed)
    net = new_head(AutoModelForTokenClassification, source, tags, load, torch.float32)
    tokenizer = token_tokenizer(AutoTokenizer, source, load, str(net.config.model_type))
    net.to(device).train()
    words = [list(it.tokens) if isinstance(it, NerItem) else (it.text or "").split(" ") for it in train.items]
    max_length = min(settings.max_length, tokenizer.model_max_length)
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
    labels: list[list[int]] = []
    for row, item in enumerate(train.items):
        gold = [tags.index(t) for t in NER.classes_of(item.label)]
        previous: int | None = None
        row_labels = []
        for word in encoded.word_ids(row):
            row_labels.append(IGNORED if word is None or word == previous else gold[word])
            previous = word
        labels.append(row_labels)

    def labels_of(batch: list[int], features: Any) -> Any:  # each row padded with the ignored label
        width = features["input_ids"].shape[1]
        return torch.tensor([labels[i] + [IGNORED] * (width - len(labels[i])) for i in batch], device=device)

    report = train_loop(net, tokenizer, encoded, labels_of, settings, seed, device)
    net.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return report


def train_token_head(
    model: GenerativeModel | DirectClassifier, train: Dataset, config: StrategyConfig, load: LoadOptions, split_detail: dict[str, Any]
) -> TrainedClassifier:
    """The ``ner_finetune`` trainer: the fine-tuned token head from the cache, else trained now and cached."""
    info = model.info
    if info.family not in BASE_FAMILIES or not info.source:
        raise TrainingError(
            f"ner_finetune puts a token head on an encoder checkpoint (BERT, DistilBERT, RoBERTa ...), and "
            f"{model.name or 'this model'} is a {info.family or type(model).__name__} model; "
            f"prompt LLMs with ner_prompt instead."
        )
    source = info.source
    training, path = cached_fit(METHOD, model, source, train, config, load, split_detail, fit_token_head)
    spec = ModelSpec(name=model.name, source=str(path), family=FAMILY, factory=HFTokenClassifier)
    inner = HFTokenClassifier(str(path), spec, LoadOptions(device=load.device, dtype=load.dtype))
    return TrainedClassifier(inner, training, replace(inner.info, base_source=source), owns_inner=True)
