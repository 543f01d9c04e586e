"""Frozen embeddings of items, from an encoder the session loaded: what ``linear_probe`` trains on.

An encoder is any adapter with ``embed_requests(requests, with_text)`` (the :class:`Embedder`
protocol): the sentence encoder (``minilm``: mean-pooled text embeddings) and CLIP/SigLIP
(image embeddings, with the text's concatenated for text+image items). Register your own
adapter with such a method and ``linear_probe`` works with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..datasets.base import Item, ItemError
from ..models.base import Model, Request
from ..record import ModelInfo
from .trained import TrainingError


@runtime_checkable
class Embedder(Protocol):
    """A model that turns requests into fixed-size vectors."""

    name: str
    info: ModelInfo

    def embed_requests(self, requests: Sequence[Request], with_text: bool) -> Any:
        """One row per request (a torch tensor or array); ``with_text``: the text's embedding is part of it."""
        ...


def as_embedder(model: Model) -> Embedder:
    """``model`` as an :class:`Embedder`, or :class:`TrainingError` saying which models can be probed."""
    if isinstance(model, Embedder):
        return model
    family = model.info.family or type(model).__name__
    raise TrainingError(
        f"linear_probe trains on frozen embeddings, and {model.name or 'this model'} ({family}) gives none; "
        f"probe a sentence encoder (minilm) or CLIP/SigLIP, or fine-tune a classification head with finetune."
    )


def to_numpy(rows: Any) -> Any:
    """float32 numpy rows from a tensor (any device) or an array."""
    import numpy as np

    if hasattr(rows, "detach"):
        rows = rows.detach().float().cpu().numpy()
    return np.asarray(rows, dtype=np.float32)


def embed_items(encoder: Embedder, items: Sequence[Item], with_text: bool, batch_size: int) -> tuple[Any, list[Item]]:
    """The embeddings of the readable ``items`` (float32 numpy, one row each) and those items, in order.

    An item whose image cannot be read is left out (it cannot be trained on); the caller counts them.
    """
    import numpy as np

    rows, kept = [], []
    for start in range(0, len(items), batch_size):
        requests, chunk = [], []
        for item in items[start : start + batch_size]:
            try:
                requests.append(Request(item.text or "", item.image()))
            except ItemError:
                continue
            chunk.append(item)
        if requests:
            rows.append(to_numpy(encoder.embed_requests(requests, with_text)))
            kept += chunk
    if not rows:
        raise TrainingError("None of the training items could be read, so there is nothing to train the probe on.")
    return np.concatenate(rows), kept
