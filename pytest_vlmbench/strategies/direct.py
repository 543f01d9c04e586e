"""The ``direct`` strategy: the model picks the class itself, in one call per item.

For models that classify rather than generate (classification heads, CLIP/SigLIP,
sentence embeddings: :class:`~pytest_vlmbench.models.base.DirectClassifier`). There is no
prompt to vary and nothing to vote on: the query carries the item's text (or an empty
prompt for an image), and the answer is the predicted class, or ``None`` when the model
predicted a label that is none of the dataset's classes. It records only its seed, and
ignores k-shot exemplars, the answer style and any prompt template.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..datasets.base import Dataset, Item
from .base import Classify, ItemOutcome, Query, Strategy, StrategyConfig


def direct(dataset: Dataset, items: Sequence[Item], channel: Classify, config: StrategyConfig) -> list[ItemOutcome]:
    """One query per item; the classifier's answer is the prediction."""
    predictions = channel.classify([Query(item, item.text or "") for item in items])
    return [ItemOutcome(item, prediction, [prediction or ""]) for item, prediction in zip(items, predictions)]


DIRECT = Strategy(name="direct", needs="classify", execute=direct)
"""The ``direct`` declaration registered in ``STRATEGIES``."""
