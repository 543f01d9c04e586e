"""Phi-3-vision (``microsoft/Phi-3-vision-128k-instruct``) through its own processor and ``generate``.

Followed: the model card (``AutoModelForCausalLM`` and ``AutoProcessor`` with
``trust_remote_code``, ``_attn_implementation="flash_attention_2"`` or ``"eager"``; the user
turn ``"<|image_1|>\\n" + question`` through ``processor.tokenizer.apply_chat_template(...,
tokenize=False, add_generation_prompt=True)``; ``processor(prompt, [image],
return_tensors="pt")``; ``model.generate(**inputs, eos_token_id=processor.tokenizer.eos_token_id,
max_new_tokens=..., do_sample=False)``; only the tokens after the prompt decoded with
``skip_special_tokens=True, clean_up_tokenization_spaces=False``) and ``Phi3VProcessor`` in
the checkpoint's ``processing_phi3_v.py``:

- the processor takes *one* prompt string: it splits it on ``<|image_N|>`` tags and puts
  each image's tokens in place of its tag, so a batch is sent one request at a time (an
  out-of-memory error of any request ends the call, and the evaluation halves the batch);
- without images it is the plain tokenizer, so text-only requests work too;
- the image tokens are in ``input_ids`` (as negative ids), so its length is the whole
  prompt, image included: each answer's tokens report it, and the new tokens up to the end.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from ...record import Tokens
from ..base import Answer, LoadOptions, ModelSpec, Request
from ..hf_common import load_preprocessor, load_weights, resolve_device
from .common import RemoteCodeAdapter, require_remote_code, rgb

FAMILY = "hf-phi3-vision"
IMAGE_TAG = "<|image_1|>\n"
"""The placeholder of the first (here: only) image, before the question, as on the card."""


def attention_for(device: str) -> str:
    """``flash_attention_2`` on CUDA when flash-attn is installed (the card's choice), else ``eager`` (its fallback)."""
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "eager"


class Phi3Vision(RemoteCodeAdapter):
    """Adapter for Phi-3-vision: one ``processor`` + ``generate`` call per request."""

    counts_tokens = True

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        from transformers import AutoModelForCausalLM, AutoProcessor

        require_remote_code(spec.name, source, options)
        processor = load_preprocessor(AutoProcessor, source, options)
        attention = attention_for(resolve_device(options.device))
        model, _ = load_weights(AutoModelForCausalLM, source, options, attn_implementation=attention)
        self._attach(spec.name, model, processor, source, spec.family)

    @classmethod
    def from_loaded(cls, name: str, model: Any, processor: Any, family: str = FAMILY, source: str = "in-memory") -> Phi3Vision:
        """Wrap a model and processor already in memory, with the same prompt and decoding as a loaded checkpoint."""
        self = cls.__new__(cls)
        self._attach(name, model, processor, source, family)
        return self

    def _attach(self, name: str, model: Any, processor: Any, source: str, family: str) -> None:
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self._attach_model(name, model, source, family)

    def prompt(self, request: Request) -> str:
        """The chat-template text of one request, with the image tag when it has an image."""
        content = IMAGE_TAG + request.prompt if request.image is not None else request.prompt
        messages = [{"role": "user", "content": content}]
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        return [self._answer(request) for request in requests]

    def _answer(self, request: Request) -> Answer:
        import torch

        images = [rgb(request.image)] if request.image is not None else None
        inputs = self.processor(self.prompt(request), images, return_tensors="pt").to(self.model.device)
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, eos_token_id=self.tokenizer.eos_token_id, max_new_tokens=request.max_new_tokens, do_sample=False
            )
        prompt_length = int(inputs["input_ids"].shape[1])
        new_tokens = out[:, prompt_length:]
        text = self.processor.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]
        return Answer(str(text).strip(), Tokens(prompt=prompt_length, generated=int(new_tokens.shape[1])))

    def close(self) -> None:
        self.processor = None
        self.tokenizer = None
        super().close()


def load(source: str, spec: ModelSpec, options: LoadOptions) -> Phi3Vision:
    return Phi3Vision(source, spec, options)
