"""The ``closed_set`` strategy: the class list goes into the prompt, asked several times.

The prompt is asked ``permutations`` times per item, with the classes in a different
seeded order each time (to cancel the model's bias towards the first or last option). The
prediction is the majority vote over the valid answers. Tie rule: among the classes with
the most votes, the one answered *first* (in asking order) wins. No valid answer at all:
invalid. Every question of every item goes to ``ask`` in one call (the channel batches it).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..datasets.base import Dataset, Item
from .answers import ClassMatcher
from .base import Ask, ItemOutcome, Query, Strategy, StrategyConfig, item_rng
from .prompts import CLOSED_SET_TEMPLATE, JSON_CLASS_SUFFIX, build_prompt, closed_set_template


def class_orders(classes: Sequence[str], count: int, rng: random.Random) -> list[list[str]]:
    """``count`` shuffles of ``classes``: all different while ``count <= n!``; beyond that, in
    rounds of ``n!`` different orders, so every order is used before any repeats.

    Each order is a ``rng.sample`` of the classes; one already used in the current round is
    drawn again until a new one comes (for ``n! = 2`` and ``count = 2`` that is a coin
    flip per draw; at ``count = n!`` the last order of a round takes about ``n!`` draws, cheap
    next to the prompts). Seeded by ``rng`` alone, so the orders are fixed by the seed; they
    are the ones earlier versions drew whenever those happened to be all different.
    """
    possible = math.factorial(len(classes))  # different orders (n!, less if a name repeats)
    for repeats in Counter(classes).values():
        possible //= math.factorial(repeats)
    orders: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for _ in range(count):
        if len(seen) >= possible:  # every order used: start a new round
            seen.clear()
        order = rng.sample(list(classes), len(classes))
        while tuple(order) in seen:
            order = rng.sample(list(classes), len(classes))
        seen.add(tuple(order))
        orders.append(order)
    return orders


def majority_vote(votes: Sequence[str | None]) -> str | None:
    """Most frequent valid vote; ties go to the tied class voted first; all invalid -> None."""
    valid = [v for v in votes if v is not None]
    if not valid:
        return None
    counts = Counter(valid)
    top = max(counts.values())
    return next(v for v in valid if counts[v] == top)


def closed_set(dataset: Dataset, items: Sequence[Item], channel: Ask, config: StrategyConfig) -> list[ItemOutcome]:
    """Ask each item ``config.permutations`` times with shuffled class lists; predict the vote."""
    matcher = ClassMatcher(dataset.classes)
    template = CLOSED_SET.template(config, dataset)
    per_item = [class_orders(dataset.classes, config.permutations, item_rng(config.seed, it, "closed_set")) for it in items]
    queries = [
        Query(item, build_prompt(template, item, config.exemplars, classes=", ".join(order)), exemplars=config.exemplars)
        for item, orders in zip(items, per_item)
        for order in orders
    ]
    answers = channel.ask(queries)
    index = {cls: i for i, cls in enumerate(dataset.classes)}
    outcomes = []
    p = config.permutations
    for k, (item, orders) in enumerate(zip(items, per_item)):
        raw = answers[k * p : (k + 1) * p]
        votes = [None if (text := config.answer_text(a)) is None else matcher.parse(text) for a in raw]
        outcomes.append(
            ItemOutcome(
                item,
                majority_vote(votes),
                raw,
                {"orders": [[index[c] for c in order] for order in orders], "votes": votes},
            )
        )
    return outcomes


def _settings(config: StrategyConfig) -> dict[str, Any]:
    return {"permutations": config.permutations}


CLOSED_SET = Strategy(
    name="closed_set",
    needs="generate",
    execute=closed_set,
    default_template=CLOSED_SET_TEMPLATE,
    json_suffix=JSON_CLASS_SUFFIX,
    settings=_settings,
    placeholder="{classes}",
    template_for=closed_set_template,
)
"""The ``closed_set`` declaration registered in ``STRATEGIES``."""
