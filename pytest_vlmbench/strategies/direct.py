"""The ``direct`` strategy: the model picks the class itself, in one call per item.

For models that classify rather than generate (classification heads, CLIP/SigLIP,
sentence embeddings: :class:`~pytest_vlmbench.models.base.DirectClassifier`). There is no
prompt to vary and nothing to vote on: the query carries the item's text (or an empty
prompt for an image), and the answer is the predicted class, or ``None`` when the model
predicted a label that is none of the dataset's classes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..datasets.base import Dataset, Item
from .prompting import ItemOutcome, Query, StrategyConfig

Classify = Callable[[Sequence[Query]], "list[str | None]"]
"""Sends queries to a direct classifier in batches; returns one class (or ``None``) per query."""


def direct(dataset: Dataset, items: Sequence[Item], ask: Classify, config: StrategyConfig) -> list[ItemOutcome]:
    predictions = ask([Query(item, item.text or "") for item in items])
    return [ItemOutcome(item, prediction, [prediction or ""]) for item, prediction in zip(items, predictions)]
