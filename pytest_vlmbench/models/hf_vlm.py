"""Hugging Face vision-language models through ``AutoProcessor`` and the chat template.

One adapter serves every image-text-to-text architecture that transformers knows
(Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Idefics3/SmolVLM, Mllama, ...): the model class comes
from the checkpoint's config via ``AutoModelForImageTextToText``. Generation is greedy,
batched with left padding, and only the new tokens are decoded.

Families differ in how a batch's images are passed: most processors take one flat list
(one image per prompt, in order); Idefics3/SmolVLM, Mllama and Gemma 3 take one *list per prompt*,
because a prompt may hold several images.

Requests of one item (same :attr:`~.base.Request.group`) share the image and the start of
the prompt; for the families in :data:`PREFIX_SHARING_TYPES` that prefix -- vision encoder
included -- is computed once per batch (:mod:`.hf_generate`). ``shares_prefix`` turns it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import IMAGE_SLOT, Adapter, Answer, LoadOptions, ModelSpec, Reads, Request
from .hf_common import load_preprocessor, load_weights, model_info, release
from .hf_generate import PrefixMemory, check_fits, context_window, shared_generate, unshared_generate, worth_sharing

NESTED_IMAGE_TYPES = frozenset({"idefics2", "idefics3", "smolvlm", "mllama", "gemma3"})
"""``model_type`` values whose processors expect ``images=[[img], [img], ...]``."""

PREFIX_SHARING_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "internvl", "llava_onevision", "idefics3", "mllama"})
"""``model_type`` values whose shared-prefix answers were checked equal to the unshared ones
(tests/test_prefix_sharing.py); other families run unshared: Gemma 3 and LLaVA-NeXT (their
answers differed in that check), MiniCPM-V 4.6 (its linear-attention layers carry a state
through the padding between prefix and suffix)."""

SEVERAL_IMAGE_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "idefics2", "idefics3", "smolvlm", "llava_next", "mllama",
                                 "gemma3", "llava_onevision", "internvl"})
"""``model_type`` values that take several images in one prompt, so image k-shot exemplars can be
shown (tests/test_prompts_kshot.py runs the tiny builds); the others get a one-sentence error."""

_VISION_TOKEN_KEYS = ("image_token_id", "image_token_index", "video_token_id", "video_token_index")


class HFVisionLanguageModel(Adapter):
    """Adapter for ``AutoModelForImageTextToText`` checkpoints."""

    reads: Reads = frozenset({"text", "image"})
    counts_tokens = True

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        processor = load_preprocessor(AutoProcessor, source, options)
        model, _ = load_weights(AutoModelForImageTextToText, source, options)
        self._attach(spec.name, model, processor, source, spec.family)
        self.shares_prefix = self.shares_prefix and spec.settings.share_prefixes

    @classmethod
    def from_loaded(cls, name: str, model: Any, processor: Any, family: str = "hf-vlm", source: str = "in-memory") -> HFVisionLanguageModel:
        """Wrap a model and processor already in memory (e.g. random full-size weights built on
        the GPU by bench/gpu_check.py), with the same batching and decoding as a loaded checkpoint."""
        self = cls.__new__(cls)
        self._attach(name, model, processor, source, family)
        return self

    def _attach(self, name: str, model: Any, processor: Any, source: str, family: str) -> None:
        import torch

        self.name = name
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        # Batched decoder-only generation needs left padding; processors forget it on reload.
        self.tokenizer.padding_side = "left"
        if getattr(processor, "padding_side", None) is not None:
            processor.padding_side = "left"
        self.model = model.eval()
        self.device = str(model.device)
        self.nested_images = getattr(model.config, "model_type", "") in NESTED_IMAGE_TYPES
        self.shares_prefix = getattr(model.config, "model_type", "") in PREFIX_SHARING_TYPES
        """Compute each group's shared prefix once (only families proven to give the same answers)."""
        self.several_images = getattr(model.config, "model_type", "") in SEVERAL_IMAGE_TYPES
        """Accepts :attr:`~.base.Request.exemplar_images` (image k-shot)."""
        self.context_window = context_window(model.config)
        """Most tokens of prompt plus answer; longer prompts are that item's error (None: unknown, unchecked)."""
        configs = [model.config, getattr(model.config, "text_config", None)]
        self._vision_tokens = frozenset(
            int(v) for c in configs for k in _VISION_TOKEN_KEYS if isinstance(v := getattr(c, k, None), int)
        )
        self.prefix_memory = PrefixMemory(self._vision_tokens)
        self._torch = torch
        self.info = model_info(model, source, family, self.device)

    def _messages(self, request: Request) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if request.exemplar_images:  # image k-shot: an image at each slot, the text between them
            for i, piece in enumerate(request.prompt.split(IMAGE_SLOT)):
                content += [{"type": "image"}] if i else []
                content += [{"type": "text", "text": piece}] if piece else []
            return [{"role": "user", "content": content}]
        if request.image is not None:
            content.append({"type": "image"})
        content.append({"type": "text", "text": request.prompt})
        return [{"role": "user", "content": content}]

    @staticmethod
    def _request_images(request: Request) -> list[Any]:
        """The request's images in prompt order: the exemplars', then the item's."""
        return [*request.exemplar_images, *([request.image] if request.image is not None else [])]

    def _images(self, requests: Sequence[Request]) -> Any:
        if all(r.image is None and not r.exemplar_images for r in requests):
            return None
        if self.nested_images:
            return [self._request_images(r) for r in requests]
        return [image for r in requests for image in self._request_images(r)]

    def _inputs(self, requests: Sequence[Request]) -> Any:
        texts = [self.processor.apply_chat_template(self._messages(r), add_generation_prompt=True) for r in requests]
        return self.processor(text=texts, images=self._images(requests), padding=True, return_tensors="pt")

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if not requests:
            return []
        inputs = self._inputs(requests)
        check_fits(self.name, inputs, requests, self.context_window)  # before any memory is taken for it
        inputs = inputs.to(self.model.device)
        answers = None
        if self.shares_prefix and worth_sharing(requests, self.prefix_memory):
            # The prefix pass needs only the groups' first requests' images (one per group).
            extras = lambda rows: self._inputs([requests[r] for r in rows])  # noqa: E731
            answers = shared_generate(self.model, self.tokenizer, inputs, requests, extras, self.prefix_memory)
        if answers is None:
            answers = unshared_generate(self.model, self.tokenizer, inputs, requests)
        return answers

    def close(self) -> None:
        self.model = None
        self.processor = None
        self.prefix_memory = PrefixMemory(self._vision_tokens)  # its cache lives on the accelerator too
        release(self._torch)


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFVisionLanguageModel:
    return HFVisionLanguageModel(source, spec, options)
