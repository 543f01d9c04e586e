"""Whether the Hugging Face hubs may be used: one reading of the environment for the whole package.

huggingface_hub and datasets treat ``1``, ``ON``, ``YES`` and ``TRUE`` (any case) as "on";
reading the variables the same way here keeps our messages in step with what the
libraries actually do.
"""

from __future__ import annotations

import os

_TRUE = frozenset({"1", "ON", "YES", "TRUE"})


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in _TRUE


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` is set: models (and everything else) come from the local cache only."""
    return _flag("HF_HUB_OFFLINE")


def datasets_offline() -> bool:
    """Datasets come from the local cache only (``HF_DATASETS_OFFLINE``, or the whole hub offline)."""
    return _flag("HF_DATASETS_OFFLINE") or hub_offline()
