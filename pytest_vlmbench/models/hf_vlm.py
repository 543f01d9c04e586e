"""Hugging Face vision-language models through ``AutoProcessor`` and the chat template.

One adapter serves every image-text-to-text architecture that transformers knows
(Qwen2-VL, LLaVA-NeXT, Idefics3/SmolVLM, Mllama, ...): the model class comes from the
checkpoint's config via ``AutoModelForImageTextToText``. Generation is greedy, batched
with left padding, and only the new tokens are decoded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from .base import LoadOptions, ModelSpec, Request


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; other values are checked."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for, but torch sees no CUDA device; use --device cpu.")
    return device


def resolve_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        # Checkpoints' own dtype on GPU; float32 on CPU, where half precision is slow or unsupported.
        return "auto" if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def _local_only(source: str) -> bool:
    return os.path.isdir(source) or os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")


class HFVisionLanguageModel:
    """Adapter for ``AutoModelForImageTextToText`` checkpoints."""

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.name = spec.name
        self.device = resolve_device(options.device)
        common = {"trust_remote_code": options.trust_remote_code, "local_files_only": _local_only(source)}
        self.processor = AutoProcessor.from_pretrained(source, **common)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        # Batched decoder-only generation needs left padding; processors forget it on reload.
        self.tokenizer.padding_side = "left"
        if getattr(self.processor, "padding_side", None) is not None:
            self.processor.padding_side = "left"
        self.model = AutoModelForImageTextToText.from_pretrained(
            source,
            dtype=resolve_dtype(options.dtype, self.device),
            use_safetensors=None,  # prefer safetensors, fall back to .bin only when it is all there is
            **common,
        )
        self.model.to(self.device)
        self.model.eval()
        self._torch = torch
        self.info: dict[str, Any] = {
            "source": source,
            "family": spec.family,
            "architecture": type(self.model).__name__,
            "device": self.device,
            "dtype": str(self.model.dtype).replace("torch.", ""),
            "parameters": sum(p.numel() for p in self.model.parameters()),
        }

    def _messages(self, request: Request) -> list[dict[str, Any]]:
        content: list[dict[str, Any]] = []
        if request.image is not None:
            content.append({"type": "image"})
        content.append({"type": "text", "text": request.prompt})
        return [{"role": "user", "content": content}]

    def generate(self, requests: Sequence[Request]) -> list[str]:
        if not requests:
            return []
        texts = [self.processor.apply_chat_template(self._messages(r), add_generation_prompt=True) for r in requests]
        images = [r.image for r in requests if r.image is not None]
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(self.device)
        max_new = max(r.max_new_tokens for r in requests)
        with self._torch.inference_mode():
            out = self.model.generate(
                **inputs,
                max_new_tokens=max_new,
                do_sample=False,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new_tokens = out[:, inputs["input_ids"].shape[1] :]
        return [t.strip() for t in self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]

    def close(self) -> None:
        self.model = None
        self.processor = None
        import gc

        gc.collect()
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()


def load(source: str, spec: ModelSpec, options: LoadOptions) -> HFVisionLanguageModel:
    return HFVisionLanguageModel(source, spec, options)


def load_timed(source: str, spec: ModelSpec, options: LoadOptions) -> tuple[HFVisionLanguageModel, float]:
    start = time.perf_counter()
    model = load(source, spec, options)
    return model, time.perf_counter() - start
