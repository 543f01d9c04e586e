"""The ``binary`` strategy: one yes/no question per class, stopping at the first yes.

The classes are asked in a seeded order per item. At most n-1 questions are asked: the
class left over (the dataset's background class when it has one, otherwise the last class
of the order) is predicted when every answer is *no*. If an answer was neither yes nor no
and no *yes* followed, the item is invalid: the left-over class would be a guess the model
never made. Questions are batched across items: the channel's ``ask`` receives every question of a
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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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


def binary(dataset: Dataset, items: Sequence[Item], channel: Ask, config: StrategyConfig) -> list[ItemOutcome]:
    """Ask each item about one class per round until a yes, or until only one class is left."""
    state = Questioning.start(dataset, items, config)
    queue = [i for i, (questions, _) in enumerate(state.plans) if questions]
    active: list[int] = []
    recorded = finished_items = 0  # questions up to each decided item's answer, and those items
    while queue or active:
        expected = -(-recorded // finished_items) if finished_items else None
        ahead = questions_ahead(channel, len(active) + len(queue), expected)
        room = items_per_round(channel, ahead, len(active) + len(queue))
        while queue and len(active) < room:
            active.append(queue.pop(0))
        finished = state.round(channel, active, ahead)
        recorded += sum(state.asked_so_far[i] for i in finished)
        finished_items += len(finished)
        active = [i for i in active if i not in finished]
    return state.outcomes


@dataclass
class Questioning:
    """One binary evaluation as it goes: each item's plan, its outcome so far and how far it was asked."""

    items: Sequence[Item]
    plans: list[tuple[list[str], str]]
    """Per item: the classes to ask about in order, and the class left over (:func:`binary_plan`)."""
    outcomes: list[ItemOutcome]
    config: StrategyConfig
    template: str
    decided: Callable[[str], bool] | None
    """When a partial answer is final (plain style: a complete first word yes/no); ``None``: never early."""
    asked_so_far: list[int] = field(init=False)
    """Per item: questions answered and recorded so far."""
    invalid_seen: list[bool] = field(init=False)
    """Per item: an answer was neither yes nor no (the left-over class is then no prediction)."""

    def __post_init__(self) -> None:
        self.asked_so_far = [0] * len(self.items)
        self.invalid_seen = [False] * len(self.items)

    @classmethod
    def start(cls, dataset: Dataset, items: Sequence[Item], config: StrategyConfig) -> Questioning:
        """Nothing asked yet; an item with no question to ask is decided at once (its left-over class)."""
        plans = [binary_plan(dataset, item, config.seed) for item in items]
        outcomes = [
            ItemOutcome(item, None if questions else fallback, [], {"questions": [], "fallback": fallback})
            for item, (questions, fallback) in zip(items, plans)
        ]
        decided = yes_no_decided if config.answer_style == "plain" else None
        return cls(items, plans, outcomes, config, BINARY.template(config, dataset), decided)

    def round(self, channel: Ask, pending: list[int], ahead: int) -> set[int]:
        """Ask each of the ``pending`` items its next ``ahead`` questions; returns the items now decided."""
        asked = [(i, cls) for i in pending for cls in self.plans[i][0][self.asked_so_far[i] : self.asked_so_far[i] + ahead]]
        exemplars = self.config.exemplars
        prompts = [(i, build_prompt(self.template, self.items[i], exemplars, cls=cls)) for i, cls in asked]
        answers = channel.ask([Query(self.items[i], prompt, self.decided, exemplars) for i, prompt in prompts])
        finished: set[int] = set()
        for (i, cls), answer in zip(asked, answers):
            if i in finished:  # asked ahead, after this item's yes: not part of the record
                continue
            outcome = self.outcomes[i]
            outcome.answers.append(answer)
            outcome.detail["questions"].append(cls)
            self.asked_so_far[i] += 1
            text = self.config.answer_text(answer)
            verdict = None if text is None else parse_yes_no(text)
            if verdict is True:
                outcome.prediction = cls
                finished.add(i)
                continue
            self.invalid_seen[i] = self.invalid_seen[i] or verdict is None
            if self.asked_so_far[i] == len(self.plans[i][0]):  # every question answered, none with a yes
                outcome.prediction = None if self.invalid_seen[i] else self.plans[i][1]
                finished.add(i)
        return finished


def questions_ahead(channel: Ask, undecided: int, expected: int | None) -> int:
    """Questions to ask each item in the next round (see the module's docstring).

    Without a shared prefix: one, or more only to fill batch slots that would stay empty
    once fewer items than a batch are left. With one: as many as the items decided so far
    needed on average (``expected``; a full batch before any is decided), since a question
    asked after the yes is wasted work -- a model that says yes early (or a small image
    whose prefix costs little) should not pay for a whole class list per item.
    """
    batch = channel.batch_size
    if channel.shares_prefix:
        return max(1, min(batch, expected if expected is not None else batch))
    return max(1, batch // max(1, undecided))


def items_per_round(channel: Ask, ahead: int, undecided: int) -> int:
    """How many items are asked together in a round.

    All of them, unless the channel shares prefixes: then just enough items to fill a batch
    with ``ahead`` questions each, so that an item's next round comes in the very next call
    and continues from its kept prefix pass (:mod:`~pytest_vlmbench.models.hf_generate`)
    instead of computing its image and prompt again.
    """
    if not channel.shares_prefix:
        return max(1, undecided)
    return max(1, channel.batch_size // ahead)


def _settings(config: StrategyConfig) -> dict[str, Any]:
    return {"question_order": "seeded per item"}


BINARY = Strategy(
    name="binary",
    needs="generate",
    execute=binary,
    default_template=BINARY_TEMPLATE,
    json_suffix=JSON_YES_NO_SUFFIX,
    settings=_settings,
    placeholder="{cls}",
    template_for=binary_template,
)
"""The ``binary`` declaration registered in ``STRATEGIES``."""
