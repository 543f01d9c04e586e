"""Sequence-classification heads (``AutoModelForSequenceClassification``) as direct classifiers.

The normal use is a checkpoint fine-tuned on the benchmark's classes, given by path
(``--model ./runs/bert-bbc/checkpoint-500``) or hub id: its ``id2label`` names the
classes. A base checkpoint (``bert-base-uncased``) loads with a fresh, untrained head,
which transformers announces and which scores at chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import Adapter, LoadOptions, ModelSpec, Provides, Request
from .hf_common import head_info, load_preprocessor, load_weights, release
from .labels import map_labels

MAX_TOKENS = 512


class HFSequenceClassifier(Adapter):
    """BERT/DistilBERT/RoBERTa/GPT-2/BART (or any other) classification head over text."""

    provides: Provides = "classify"

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions, loaded: tuple[Any, str] | None = None) -> None:
        """``loaded``: the model and its device, already built (a LoRA fine-tune merged into its base,
        :mod:`pytest_vlmbench.training.lora`); ``source`` then holds the tokenizer."""
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.name = spec.name
        self.tokenizer = load_preprocessor(AutoTokenizer, source, options)
        self.model, self.device = loaded or load_weights(AutoModelForSequenceClassification, source, options)
        if self.tokenizer.pad_token_id is None:  # GPT-2: pad with EOS, as its fine-tunes do
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:  # the head reads each row's last non-pad token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.label_map = options.label_map or spec.settings.label_map
        self._torch = torch
        self.info = head_info(self.model, source, spec.family, self.device)

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        if not requests:
            return []
        head = map_labels(self.model.config.id2label, classes, dict(self.label_map), self.name)
        inputs = self.tokenizer(
            [r.prompt for r in requests], padding=True, truncation=True, max_length=min(MAX_TOKENS, self.tokenizer.model_max_length), return_tensors="pt"
        ).to(self.model.device)
        with self._torch.inference_mode():
            logits = self.model(**inputs).logits
        # Only labels that are dataset classes compete: an unmapped label is never predicted.
        indices = sorted(head)
        best = logits[:, indices].argmax(dim=-1).tolist()
        return [head[indices[b]] for b in best]

    def close(self) -> None:
        self.model = None
        release(self._torch)


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFSequenceClassifier:
    return HFSequenceClassifier(source, spec, options)
