"""The configuration of one evaluation, apart from the model and the data."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..strategies.base import StrategyConfig


@dataclass(frozen=True)
class EvalConfig:
    """Everything besides the model and the data that an evaluation's result depends on."""

    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    batch_size: int = 8
    max_new_tokens: int = 8
    limit: int | None = None
    prefix_sharing: bool = True
    """Let adapters that can compute one item's shared prompt prefix once (image included) do so.
    Answers are the same either way (tests/test_prefix_sharing.py); ``False`` keeps the unshared path."""
