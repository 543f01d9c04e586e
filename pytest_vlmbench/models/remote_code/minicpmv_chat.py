"""MiniCPM-V-2.6 (``openbmb/MiniCPM-V-2_6``) through its own ``model.chat()``.

Followed: the model card (``AutoModel`` + ``AutoTokenizer`` with ``trust_remote_code``,
``attn_implementation="sdpa"``; ``msgs = [{"role": "user", "content": [image, question]}]``;
``model.chat(image=None, msgs=msgs, tokenizer=tokenizer)``) and ``MiniCPMV.chat`` in the
checkpoint's ``modeling_minicpmv.py`` (the 2.6 version, as copied in public repositories):

- a *list* of such message lists is one batch (``image`` must then be ``None``); the answers
  come back as a list in the same order, so this adapter batches through ``chat`` itself;
- a content list may hold PIL images and strings in any order; text alone is allowed;
- ``sampling=False`` means 3-beam search with repetition penalty 1.2 unless ``num_beams``
  and ``repetition_penalty`` are passed, which replace those two. This adapter passes
  ``num_beams=1, repetition_penalty=1.0``: plain greedy decoding, like every other adapter
  here, rather than the card's beam search (which would cost three times the decoding);
- ``processor=None`` makes ``chat`` load ``AutoProcessor`` from the hub id itself; the
  adapter loads it once, with the same offline rules as the weights, and passes it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import Answer, LoadOptions, ModelSpec, Request
from ..hf_common import load_preprocessor, load_weights
from .common import RemoteCodeAdapter, require_remote_code, rgb

FAMILY = "hf-minicpmv-chat"


class MiniCPMVChat(RemoteCodeAdapter):
    """Adapter for MiniCPM-V-2.6's ``chat()`` (batched through its list-of-conversations form)."""

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        from transformers import AutoModel, AutoProcessor, AutoTokenizer

        require_remote_code(spec.name, source, options)
        tokenizer = load_preprocessor(AutoTokenizer, source, options)
        processor = load_preprocessor(AutoProcessor, source, options)
        model, _ = load_weights(AutoModel, source, options, attn_implementation="sdpa")
        self._attach(spec.name, model, tokenizer, processor, source, spec.family)

    @classmethod
    def from_loaded(
        cls, name: str, model: Any, tokenizer: Any, processor: Any = None, family: str = FAMILY, source: str = "in-memory"
    ) -> MiniCPMVChat:
        """Wrap a model, tokenizer and processor already in memory, with the same calls as a loaded checkpoint."""
        self = cls.__new__(cls)
        self._attach(name, model, tokenizer, processor, source, family)
        return self

    def _attach(self, name: str, model: Any, tokenizer: Any, processor: Any, source: str, family: str) -> None:
        self.tokenizer = tokenizer
        self.processor = processor
        self._attach_model(name, model, source, family)

    @staticmethod
    def messages(request: Request) -> list[dict[str, Any]]:
        """One conversation, as the card writes it: the image, then the question, in one user turn."""
        content: list[Any] = [rgb(request.image), request.prompt] if request.image is not None else [request.prompt]
        return [{"role": "user", "content": content}]

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers without token counts: ``chat`` returns text only."""
        if not requests:
            return []
        answers = self.model.chat(
            image=None,  # the batched form carries each image inside its conversation
            msgs=[self.messages(r) for r in requests],
            tokenizer=self.tokenizer,
            processor=self.processor,
            max_new_tokens=max(r.max_new_tokens for r in requests),
            sampling=False,
            num_beams=1,
            repetition_penalty=1.0,
        )
        return [Answer(str(a).strip()) for a in answers]

    def close(self) -> None:
        self.processor = None
        super().close()


def load(source: str, spec: ModelSpec, options: LoadOptions) -> MiniCPMVChat:
    return MiniCPMVChat(source, spec, options)
