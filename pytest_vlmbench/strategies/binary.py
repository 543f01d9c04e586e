"""The ``binary`` strategy: one yes/no question per class, stopping at the first yes.

The classes are asked in a seeded order per item. At most n-1 questions are asked: the
class left over (the dataset's background class when it has one, otherwise the last class
of the order) is predicted when every answer is *no*. If an answer was neither yes nor no
and no *yes* followed, the item is invalid: the left-over class would be a guess the model
never made. Questions are batched across items: ``ask`` receives every question of a
round at once.

Asking ahead is a scheduling choice that changes neither the recorded questions (those up to
the first yes) nor the prediction: a round may ask an item its next few questions at once,
and the answers after the first yes are dropped. When the channel shares an item's prefix
(its image and prompt computed once for all its questions), each item is asked as many
questions at once as the items decided so far needed on average (a batch's worth before
the first is decided), and items go through their rounds a few at a time
(:func:`items_per_round`), so each round of an item continues from the prefix pass of its
previous round. Without sharing it asks ahead only to fill batch slots that would stay
empty once few items are left. A plain-style question stops generating at a complete first word yes/no
(:func:`~.answers.yes_no_decided`), which decides the answer whatever follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..datasets.base import Dataset, Item
from .answers import parse_yes_no, yes_no_decided
from .base import Ask, ItemOutcome, Query, Strategy, StrategyConfig, item_rng
from .prompts import BINARY_TEMPLATE, JSON_YES_NO_SUFFIX, build_prompt, binary_template


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
    template = BINARY.template(config, dataset)
    plans = [binary_plan(dataset, item, config.seed) for item in items]
    outcomes = [
        ItemOutcome(item, None if questions else fallback, [], {"questions": [], "fallback": fallback})
        for item, (questions, fallback) in zip(items, plans)
    ]
    invalid_seen = [False] * len(items)
    decided = yes_no_decided if config.answer_style == "plain" else None
    queue = [i for i, (questions, _) in enumerate(plans) if questions]
    asked_so_far = [0] * len(items)
    active: list[int] = []
    recorded = finished_items = 0  # questions up to each decided item's answer, and those items
    while queue or active:
        expected = -(-recorded // finished_items) if finished_items else None
        ahead = questions_ahead(ask, len(active) + len(queue), expected)
        room = items_per_round(ask, ahead, len(active) + len(queue))
        while queue and len(active) < room:
            active.append(queue.pop(0))
        finished = _round(active, items, plans, outcomes, invalid_seen, asked_so_far, ask, template, decided, config, ahead)
        recorded += sum(asked_so_far[i] for i in finished)
        finished_items += len(finished)
        active = [i for i in active if i not in finished]
    return outcomes


def _round(
    pending: list[int], items: Sequence[Item], plans: list[tuple[list[str], str]], outcomes: list[ItemOutcome],
    invalid_seen: list[bool], asked_so_far: list[int], ask: Ask, template: str, decided: Any, config: StrategyConfig,
    ahead: int,
) -> set[int]:  # fmt: skip
    """Ask each of the ``pending`` items its next ``ahead`` questions; returns the items now decided."""
    asked = [(i, cls) for i in pending for cls in plans[i][0][asked_so_far[i] : asked_so_far[i] + ahead]]
    prompts = [(i, build_prompt(template, items[i], config.exemplars, cls=cls)) for i, cls in asked]
    answers = ask([Query(items[i], prompt, decided, config.exemplars) for i, prompt in prompts])
    finished: set[int] = set()
    for (i, cls), answer in zip(asked, answers):
        if i in finished:  # asked ahead, after this item's yes: not part of the record
            continue
        outcome = outcomes[i]
        outcome.answers.append(answer)
        outcome.detail["questions"].append(cls)
        asked_so_far[i] += 1
        text = config.answer_text(answer)
        verdict = None if text is None else parse_yes_no(text)
        if verdict is True:
            outcome.prediction = cls
            finished.add(i)
            continue
        invalid_seen[i] = invalid_seen[i] or verdict is None
        if asked_so_far[i] == len(plans[i][0]):  # every question answered, none with a yes
            outcome.prediction = None if invalid_seen[i] else plans[i][1]
            finished.add(i)
    return finished


def questions_ahead(ask: Ask, undecided: int, expected: int | None) -> int:
    """Questions to ask each item in the next round (see the module's docstring).

    Without a shared prefix: one, or more only to fill batch slots that would stay empty
    once fewer items than a batch are left. With one: as many as the items decided so far
    needed on average (``expected``; a full batch before any is decided), since a question
    asked after the yes is wasted work -- a model that says yes early (or a small image
    whose prefix costs little) should not pay for a whole class list per item.
    """
    batch = int(getattr(ask, "batch_size", 1))
    if getattr(ask, "shares_prefix", False):
        return max(1, min(batch, expected if expected is not None else batch))
    return max(1, batch // max(1, undecided))


def items_per_round(ask: Ask, ahead: int, undecided: int) -> int:
    """How many items are asked together in a round.

    All of them, unless the channel shares prefixes: then just enough items to fill a batch
    with ``ahead`` questions each, so that an item's next round comes in the very next call
    and continues from its kept prefix pass (:mod:`~pytest_vlmbench.models.hf_generate`)
    instead of computing its image and prompt again.
    """
    if not getattr(ask, "shares_prefix", False):
        return max(1, undecided)
    return max(1, int(getattr(ask, "batch_size", 1)) // ahead)


def _settings(config: StrategyConfig) -> dict[str, Any]:
    return {"question_order": "seeded per item"}


BINARY = Strategy(
    name="binary",
    needs="generate",
    run=binary,
    default_template=BINARY_TEMPLATE,
    json_suffix=JSON_YES_NO_SUFFIX,
    settings=_settings,
    placeholder="{cls}",
    template_for=binary_template,
)
"""The ``binary`` declaration registered in ``STRATEGIES``."""
