"""InternVL2 (``OpenGVLab/InternVL2-2B`` and its siblings) through its own ``chat()`` / ``batch_chat()``.

Followed: the model card (``AutoModel.from_pretrained(path, torch_dtype=torch.bfloat16,
use_flash_attn=True, trust_remote_code=True).eval().cuda()``, ``AutoTokenizer`` with
``use_fast=False``, ``pixel_values = load_image(image, max_num=12)``, the question
``'<image>\\n' + question``, ``model.chat(tokenizer, pixel_values, question,
generation_config)``, and for a batch ``model.batch_chat(tokenizer, pixel_values,
num_patches_list=..., questions=..., generation_config=...)`` with every image's tiles
concatenated) and ``InternVLChatModel`` in ``internvl_chat/internvl/model/internvl_chat/
modeling_internvl_chat.py`` of the OpenGVLab/InternVL repository:

- ``chat`` replaces ``<image>`` in the question by ``<img>`` + 256 ``<IMG_CONTEXT>`` per
  tile + ``</img>``; ``pixel_values=None`` is a text-only question;
- ``batch_chat`` does the same per question, with ``num_patches_list[i]`` tiles for the i-th,
  left-pads, and returns the answers in order; it prepends ``<image>`` to *every* question
  when ``pixel_values`` is given, so requests with and without an image are sent as two
  separate calls here;
- both set ``generation_config["eos_token_id"]`` themselves (the template's separator), so
  each call gets a fresh dict; ``do_sample=False`` makes them greedy;
- both move their inputs with ``.cuda()``: the remote code runs on a CUDA device only,
  which the loader checks first (one sentence instead of a traceback from inside ``chat``).

The tiling itself is :mod:`.internvl_tiles`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..base import Answer, LoadOptions, ModelSpec, Request
from ..hf_common import from_pretrained, load_weights, pretrained_kwargs, resolve_device
from .common import RemoteCodeAdapter, require_remote_code
from .internvl_tiles import INPUT_SIZE, MAX_TILES, load_image

FAMILY = "hf-internvl-chat"
IMAGE_PLACEHOLDER = "<image>\n"
"""Put before an image question, as the card does (``chat`` would add it itself otherwise)."""


class InternVLChat(RemoteCodeAdapter):
    """Adapter for InternVL's ``chat`` (one request) and ``batch_chat`` (several)."""

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        from transformers import AutoModel, AutoTokenizer

        require_remote_code(spec.name, source, options)
        if not resolve_device(options.device).startswith("cuda"):
            raise RuntimeError(
                f"{spec.name} ({source}) needs a CUDA device: its remote chat() moves every input with .cuda(); "
                f"run it with --device auto or cuda on a GPU machine."
            )
        tokenizer = from_pretrained(AutoTokenizer, source, use_fast=False, **pretrained_kwargs(source, options))
        # use_flash_attn=True as on the card: the remote code falls back when flash_attn is not installed.
        model, _ = load_weights(AutoModel, source, options, use_flash_attn=True)
        self._attach(spec.name, model, tokenizer, source, spec.family)

    @classmethod
    def from_loaded(
        cls, name: str, model: Any, tokenizer: Any, family: str = FAMILY, source: str = "in-memory", max_tiles: int = MAX_TILES
    ) -> InternVLChat:
        """Wrap a model and tokenizer already in memory, with the same tiling and calls as a loaded checkpoint."""
        self = cls.__new__(cls)
        self._attach(name, model, tokenizer, source, family, max_tiles)
        return self

    def _attach(self, name: str, model: Any, tokenizer: Any, source: str, family: str, max_tiles: int = MAX_TILES) -> None:
        self.tokenizer = tokenizer
        self.max_tiles = max_tiles
        self._attach_model(name, model, source, family)
        self.info = replace(self.info, max_tiles=max_tiles)

    def pixel_values(self, request: Request) -> Any:
        """The request's image as tiles, in the model's dtype and on its device: (tiles, 3, 448, 448)."""
        assert request.image is not None
        return load_image(request.image, INPUT_SIZE, self.max_tiles).to(device=self.model.device, dtype=self.model.dtype)

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers without token counts: ``chat`` and ``batch_chat`` return text only."""
        answers: list[str] = [""] * len(requests)
        with_image = [i for i, r in enumerate(requests) if r.image is not None]
        text_only = [i for i, r in enumerate(requests) if r.image is None]
        for positions in (with_image, text_only):
            if positions:
                for i, answer in zip(positions, self._ask([requests[i] for i in positions])):
                    answers[i] = answer
        return [Answer(a) for a in answers]

    def _ask(self, requests: Sequence[Request]) -> list[str]:
        """Answers for requests that all have an image, or all have none."""
        import torch

        # A fresh dict per call: chat() and batch_chat() write eos_token_id into it.
        config = {"max_new_tokens": max(r.max_new_tokens for r in requests), "do_sample": False}
        if requests[0].image is None:
            tiles: list[Any] = []
            questions = [r.prompt for r in requests]
        else:
            tiles = [self.pixel_values(r) for r in requests]
            questions = [IMAGE_PLACEHOLDER + r.prompt for r in requests]
        if len(requests) == 1:
            answer = self.model.chat(self.tokenizer, tiles[0] if tiles else None, questions[0], config)
            return [str(answer).strip()]
        answers = self.model.batch_chat(
            self.tokenizer,
            torch.cat(tiles) if tiles else None,
            num_patches_list=[t.shape[0] for t in tiles] if tiles else [0] * len(requests),
            questions=questions,
            generation_config=config,
        )
        return [str(a).strip() for a in answers]

    def close(self) -> None:
        self.tokenizer = None
        super().close()


def load(source: str, spec: ModelSpec, options: LoadOptions) -> InternVLChat:
    return InternVLChat(source, spec, options)
