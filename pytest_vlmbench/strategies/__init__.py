"""Strategies: how a model is asked to classify an item (closed_set, binary, direct).

Each strategy module declares one :class:`Strategy` (``closed_set.CLOSED_SET``,
``binary.BINARY``, ``direct.DIRECT``); :data:`STRATEGIES` names them and
:func:`get_strategy` returns one by name or alias.
"""

from __future__ import annotations

from .base import ANSWER_STYLES, ItemOutcome, Query, Strategy, StrategyConfig
from .catalog import STRATEGIES, get_strategy

__all__ = ["ANSWER_STYLES", "STRATEGIES", "ItemOutcome", "Query", "Strategy", "StrategyConfig", "get_strategy"]
