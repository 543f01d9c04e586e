"""The ``binary`` strategy: one yes/no question per class, stopping at the first yes.

The classes are asked in a seeded order per item. At most n-1 questions are asked: the
class left over (the dataset's background class when it has one, otherwise the last class
of the order) is predicted when every answer is *no*. If an answer was neither yes nor no
and no *yes* followed, the item is invalid: the left-over class would be a guess the model
never made. Questions are batched across items: ``ask`` receives every question of a
round at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..datasets.base import Dataset, Item
from .answers import parse_yes_no
from .base import Ask, ItemOutcome, Query, Strategy, StrategyConfig, item_rng
from .prompts import BINARY_TEMPLATE, JSON_YES_NO_SUFFIX, build_prompt


def binary_plan(dataset: Dataset, item: Item, seed: int) -> tuple[list[str], str]:
    """The classes to ask about, in order, and the class predicted when all answers are no."""
    background = dataset.background_class
    askable = [c for c in dataset.classes if c != background]
    order = item_rng(seed, item, "binary").sample(askable, len(askable))
    if background is not None:
        return order, background
    return order[:-1], order[-1]


def binary(dataset: Dataset, items: Sequence[Item], ask: Ask, config: StrategyConfig) -> list[ItemOutcome]:
    """Ask each item about one class per round until a yes, or until only one class is left."""
    template = BINARY.template(config)
    plans = [binary_plan(dataset, item, config.seed) for item in items]
    outcomes = [
        ItemOutcome(item, None if questions else fallback, [], {"questions": [], "fallback": fallback})
        for item, (questions, fallback) in zip(items, plans)
    ]
    invalid_seen = [False] * len(items)
    pending = [i for i, (questions, _) in enumerate(plans) if questions]
    round_ = 0
    while pending:
        asked = [plans[i][0][round_] for i in pending]
        answers = ask([Query(items[i], build_prompt(template, items[i], config.exemplars, cls=cls)) for i, cls in zip(pending, asked)])
        still_pending = []
        for i, cls, answer in zip(pending, asked, answers):
            outcome = outcomes[i]
            outcome.answers.append(answer)
            outcome.detail["questions"].append(cls)
            text = config.answer_text(answer)
            verdict = None if text is None else parse_yes_no(text)
            if verdict is True:
                outcome.prediction = cls
                continue
            invalid_seen[i] = invalid_seen[i] or verdict is None
            if round_ + 1 < len(plans[i][0]):
                still_pending.append(i)
            else:  # every question answered, none with a yes
                outcome.prediction = None if invalid_seen[i] else plans[i][1]
        pending = still_pending
        round_ += 1
    return outcomes


def _settings(config: StrategyConfig) -> dict[str, Any]:
    return {"question_order": "seeded per item"}


BINARY = Strategy(
    name="binary",
    needs="generate",
    run=binary,
    default_template=BINARY_TEMPLATE,
    json_suffix=JSON_YES_NO_SUFFIX,
    settings=_settings,
)
"""The ``binary`` declaration registered in ``STRATEGIES``."""
