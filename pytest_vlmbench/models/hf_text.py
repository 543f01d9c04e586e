"""Hugging Face text LLMs (``AutoModelForCausalLM``): the prompting strategies, on text.

Prompts go through the tokenizer's chat template when it has one (instruct models), as
the plain text otherwise (base models). Generation is greedy and batched with left
padding; only the new tokens are decoded. Requests carry no image: text models are only
paired with text datasets.

Requests of one item (same :attr:`~.base.Request.group`: the k-shot exemplars and the
item's text, then one question each) have their shared prefix computed once per batch for
the families in :data:`PREFIX_SHARING_TYPES` (:mod:`.hf_generate`).
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Adapter, Answer, LoadOptions, ModelSpec, Request
from .hf_common import load_preprocessor, load_weights, model_info, release
from .hf_generate import PrefixMemory, check_fits, context_window, shared_generate, unshared_generate, worth_sharing

PREFIX_SHARING_TYPES = frozenset({"llama", "mistral", "qwen2"})
"""``model_type`` values whose shared-prefix answers were checked equal to the unshared ones
(tests/test_prefix_sharing.py). Sliding-window families (Mistral, Gemma 2) are left out:
their window counts cache slots, and the padding between prefix and suffix would move it."""


class HFCausalLM(Adapter):
    """Adapter for decoder-only text models (Llama, Mistral, Qwen2, Gemma 2, ...)."""

    counts_tokens = True

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = spec.name
        self.tokenizer = load_preprocessor(AutoTokenizer, source, options)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:  # Llama 3 and others ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model, self.device = load_weights(AutoModelForCausalLM, source, options)
        self._torch = torch
        self.info = model_info(self.model, source, spec.family, self.device)
        self.shares_prefix = getattr(self.model.config, "model_type", "") in PREFIX_SHARING_TYPES and spec.settings.share_prefixes
        """Compute each group's shared prefix once (only families proven to give the same answers)."""
        self.prefix_memory = PrefixMemory()
        self.context_window = context_window(self.model.config)
        """Most tokens of prompt plus answer; longer prompts are that item's error (None: unknown, unchecked)."""

    def _text(self, request: Request) -> str:
        if self.tokenizer.chat_template:
            messages = [{"role": "user", "content": request.prompt}]
            return str(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        return request.prompt

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if not requests:
            return []
        texts = [self._text(r) for r in requests]
        # The chat template already wrote BOS where the model wants it; don't add a second.
        inputs = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=not self.tokenizer.chat_template)
        check_fits(self.name, inputs, requests, self.context_window)  # before any memory is taken for it
        inputs = inputs.to(self.model.device)
        answers = None
        if self.shares_prefix and worth_sharing(requests, self.prefix_memory):
            answers = shared_generate(self.model, self.tokenizer, inputs, requests, None, self.prefix_memory)
        if answers is None:
            answers = unshared_generate(self.model, self.tokenizer, inputs, requests)
        return answers

    def close(self) -> None:
        self.model = None
        self.prefix_memory = PrefixMemory()  # its cache lives on the accelerator too
        release(self._torch)


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFCausalLM:
    return HFCausalLM(source, spec, options)
