"""Hugging Face text LLMs (``AutoModelForCausalLM``): the prompting strategies, on text.

Prompts go through the tokenizer's chat template when it has one (instruct models), as
the plain text otherwise (base models). Generation is greedy and batched with left
padding; only the new tokens are decoded. Requests carry no image: text models are only
paired with text datasets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import LoadOptions, ModelSpec, Request
from .hf_common import greedy_answers, load_preprocessor, load_weights, model_info, release


class HFCausalLM:
    """Adapter for decoder-only text models (Llama, Mistral, Qwen2, Gemma 2, ...)."""

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
        self.info: dict[str, Any] = model_info(self.model, source, spec.family, self.device)

    def _text(self, request: Request) -> str:
        if self.tokenizer.chat_template:
            messages = [{"role": "user", "content": request.prompt}]
            return str(self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
        return request.prompt

    def generate(self, requests: Sequence[Request]) -> list[str]:
        if not requests:
            return []
        texts = [self._text(r) for r in requests]
        # The chat template already wrote BOS where the model wants it; don't add a second.
        inputs = self.tokenizer(texts, padding=True, return_tensors="pt", add_special_tokens=not self.tokenizer.chat_template)
        inputs = inputs.to(self.model.device)
        return greedy_answers(self.model, self.tokenizer, inputs, max(r.max_new_tokens for r in requests))

    def close(self) -> None:
        self.model = None
        release(self._torch)


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFCausalLM:
    return HFCausalLM(source, spec, options)
