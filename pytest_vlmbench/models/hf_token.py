"""Token-classification heads (``AutoModelForTokenClassification``) as NER taggers.

A request's prompt is a sentence's tokens joined by single spaces (:mod:`pytest_vlmbench.datasets.ner`);
the answer is one IOB2 tag per token, joined the same way. Each word is tagged with the
label of its first sub-word, as token-classification fine-tunes are trained; words past
the model's length limit are tagged ``O``. Head labels are matched to the dataset's tags by
name (``--label-map`` for heads whose ``id2label`` differs); a label that is no dataset tag
is never predicted. A base checkpoint loads with a fresh, untrained head (chance): fine-tune
it with ``ner_finetune``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import Adapter, LoadOptions, ModelSpec, Provides, Request
from .hf_common import head_info, load_preprocessor, load_weights, release
from .labels import map_labels

MAX_TOKENS = 512
FAMILY = "hf-token-cls"
PREFIX_SPACE_TYPES = ("roberta", "bart", "gpt2", "longformer", "deberta")
"""Byte-level BPE tokenizers that need ``add_prefix_space`` for pre-split words."""


def token_tokenizer(auto_tokenizer: Any, source: str, options: LoadOptions, model_type: str) -> Any:
    """The checkpoint's tokenizer, set up for words given one by one (``is_split_into_words``)."""
    tokenizer = load_preprocessor(auto_tokenizer, source, options)
    if model_type in PREFIX_SPACE_TYPES:
        tokenizer.add_prefix_space = True
        if hasattr(tokenizer, "_tokenizer") and hasattr(tokenizer._tokenizer, "pre_tokenizer"):
            from tokenizers import pre_tokenizers

            tokenizer._tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    return tokenizer


class HFTokenClassifier(Adapter):
    """BERT/DistilBERT/RoBERTa (or any other) token-classification head: a NER tagger."""

    provides: Provides = "classify"

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        self.name = spec.name
        self.model, self.device = load_weights(AutoModelForTokenClassification, source, options)
        self.tokenizer = token_tokenizer(AutoTokenizer, source, options, str(self.model.config.model_type))
        self.label_map = options.label_map or spec.settings.label_map
        self._torch = torch
        self.info = head_info(self.model, source, spec.family, self.device)

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        """The IOB2 tag of every word (space-separated in the prompt), joined by spaces, per request."""
        if not requests:
            return []
        head = map_labels(self.model.config.id2label, classes, dict(self.label_map), self.name)
        indices = sorted(head)
        words = [r.prompt.split(" ") for r in requests]
        limit = min(MAX_TOKENS, self.tokenizer.model_max_length)
        inputs = self.tokenizer(words, is_split_into_words=True, padding=True, truncation=True, max_length=limit, return_tensors="pt")
        with self._torch.inference_mode():
            logits = self.model(**inputs.to(self.model.device)).logits
        best = logits[:, :, indices].argmax(dim=-1).tolist()  # only labels that are dataset tags compete
        out: list[str | None] = []
        for row, sentence in enumerate(words):
            tags = ["O"] * len(sentence)
            seen: set[int] = set()
            for position, word in enumerate(inputs.word_ids(row)):
                if word is not None and word not in seen:  # the first sub-word speaks for the word
                    seen.add(word)
                    tags[word] = head[indices[best[row][position]]]
            out.append(" ".join(repair_iob2(tags)))
        return out

    def close(self) -> None:
        self.model = None
        release(self._torch)


def repair_iob2(tags: Sequence[str]) -> list[str]:
    """A head may tag ``I-X`` after ``O``; as seqeval's strict mode would drop it, read it as opening ``X`` (``B-X``)."""
    out: list[str] = []
    for tag in tags:
        if tag.startswith("I-") and (not out or out[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFTokenClassifier:
    return HFTokenClassifier(source, spec, options)
