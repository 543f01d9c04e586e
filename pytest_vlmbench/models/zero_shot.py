"""Zero-shot classifiers that score every class at once: CLIP/SigLIP and sentence embeddings.

CLIP/SigLIP
    Each class becomes a caption from a template (``"a photo of a {label}."``); one forward
    pass scores every image of the batch against every caption, and the best caption's
    class is the prediction. These are the fast dedicated baselines beside the VLMs.
Sentence embeddings
    The text and one description per class (``"This is a news article about {label}."``)
    are embedded with mean pooling; the class with the highest cosine similarity wins.

A model's template comes from its spec's ``settings.label_template``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .base import Adapter, LoadOptions, ModelSpec, Provides, Reads, Request
from .hf_common import load_preprocessor, load_weights, model_info, release

IMAGE_TEMPLATE = "a photo of a {label}."
TEXT_TEMPLATE = "This is a news article about {label}."
"""Measured on BBC News with all-MiniLM-L6-v2: 0.83 accuracy (docs/models.md)."""


def _features(output: Any) -> Any:
    """transformers 5 returns ``get_*_features`` as an output object (projection in ``pooler_output``); 4 as a tensor."""
    return getattr(output, "pooler_output", output)


def _class_text(template: str, cls: str) -> str:
    return template.format(label=cls.replace("/", " or ").replace("_", " "))


class ZeroShotImageClassifier(Adapter):
    """CLIP, SigLIP and other dual encoders that ``AutoModel`` returns ``logits_per_image`` from."""

    provides: Provides = "classify"
    reads: Reads = frozenset({"text", "image"})

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import torch
        from transformers import AutoModel, AutoProcessor

        self.name = spec.name
        self.processor = load_preprocessor(AutoProcessor, source, options)
        self.model, self.device = load_weights(AutoModel, source, options)
        self.template = spec.settings.label_template or IMAGE_TEMPLATE
        # SigLIP was trained on captions padded to full length; CLIP on shortest padding.
        self.padding = "max_length" if "siglip" in self.model.config.model_type else True
        self._torch = torch
        self.info = replace(model_info(self.model, source, spec.family, self.device), label_template=self.template)

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        if not requests:
            return []
        images = [r.image for r in requests]
        if any(image is None for image in images):
            raise ValueError(f"{self.name} classifies images, and a request came without one.")
        inputs = self.processor(
            text=[_class_text(self.template, c) for c in classes],
            images=images,
            padding=self.padding,
            truncation=True,
            return_tensors="pt",
        ).to(self.model.device)
        with self._torch.inference_mode():
            scores = self.model(**inputs).logits_per_image  # images x classes
        return [classes[i] for i in scores.argmax(dim=-1).tolist()]

    def embed_requests(self, requests: Sequence[Request], with_text: bool) -> Any:
        """Unit-length image embeddings; with ``with_text`` the text's beside them (the CLIP-based
        fake-news baselines of text+image posts). What ``linear_probe`` trains on."""
        images = [r.image for r in requests]
        if any(image is None for image in images):
            raise ValueError(f"{self.name} embeds images, and a request came without one.")
        normalize = self._torch.nn.functional.normalize
        with self._torch.inference_mode():
            pixels = self.processor(images=images, return_tensors="pt").to(self.model.device)
            out = normalize(_features(self.model.get_image_features(**pixels)).float(), dim=-1)
            if with_text:
                texts = self.processor(
                    text=[r.prompt for r in requests], padding=self.padding, truncation=True, return_tensors="pt"
                ).to(self.model.device)
                text = normalize(_features(self.model.get_text_features(**texts)).float(), dim=-1)
                out = self._torch.cat([out, text], dim=-1)
        return out

    def close(self) -> None:
        self.model = None
        self.processor = None
        release(self._torch)


class SentenceEmbeddingClassifier(Adapter):
    """Cosine similarity between mean-pooled embeddings of the text and of each class description."""

    provides: Provides = "classify"

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.name = spec.name
        self.tokenizer = load_preprocessor(AutoTokenizer, source, options)
        self.model, self.device = load_weights(AutoModel, source, options)
        self.template = spec.settings.label_template or TEXT_TEMPLATE
        # 128 tokens: the first paragraph carries the topic, at half the cost of the model's 256.
        self.max_tokens = int(min(spec.settings.max_tokens or 128, self.tokenizer.model_max_length))
        self._class_cache: tuple[tuple[str, ...], Any] | None = None
        self._torch = torch
        self.info = replace(
            model_info(self.model, source, spec.family, self.device), label_template=self.template, max_tokens=self.max_tokens
        )

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit-length mean-pooled embeddings (the sentence-transformers recipe)."""
        inputs = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(self.model.device)
        with self._torch.inference_mode():
            hidden = self.model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self._torch.nn.functional.normalize(pooled.float(), dim=-1)

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        if not requests:
            return []
        key = tuple(classes)
        if self._class_cache is None or self._class_cache[0] != key:  # one embedding per class per dataset
            self._class_cache = (key, self.embed([_class_text(self.template, c) for c in classes]))
        scores = self.embed([r.prompt for r in requests]) @ self._class_cache[1].T
        return [classes[i] for i in scores.argmax(dim=-1).tolist()]

    def embed_requests(self, requests: Sequence[Request], with_text: bool = True) -> Any:
        """The texts' embeddings (what ``linear_probe`` trains on); text is all this encoder reads."""
        return self.embed([r.prompt for r in requests])

    def close(self) -> None:
        self.model = None
        self._class_cache = None
        release(self._torch)


def load_image_text(source: str, spec: ModelSpec, options: LoadOptions) -> ZeroShotImageClassifier:
    return ZeroShotImageClassifier(source, spec, options)


def load_sentence_embedding(source: str, spec: ModelSpec, options: LoadOptions) -> SentenceEmbeddingClassifier:
    return SentenceEmbeddingClassifier(source, spec, options)
