"""Strategies: how a model is asked to classify an item (closed_set, binary, direct)."""

from __future__ import annotations

from .catalog import STRATEGIES

__all__ = ["STRATEGIES"]
