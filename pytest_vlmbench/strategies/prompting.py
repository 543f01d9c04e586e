"""Prompting strategies: how a generative model is asked to classify an item.

``closed_set``
    The class list goes into the prompt, which is asked ``permutations`` times with the
    classes in a different seeded order each time (to cancel the model's bias towards the
    first or last option). The prediction is the majority vote over the valid answers.
    Tie rule: among the classes with the most votes, the one answered *first* (in asking
    order) wins. No valid answer at all: invalid.

``binary``
    One yes/no question per class, in a seeded order per item, stopping at the first *yes*.
    At most n-1 questions are asked: the class left over (the dataset's background class
    when it has one, otherwise the last class of the order) is predicted when every answer
    is *no*. If an answer was neither yes nor no and no *yes* followed, the item is invalid:
    the left-over class would be a guess the model never made.

Both batch across items: ``ask`` receives every question of a round at once.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .answers import ClassMatcher, json_answer, parse_yes_no
from ..datasets.base import Dataset, Item

CLOSED_SET_TEMPLATE = (
    "Question: Answer this question in one word: What type of object is in this photo? "
    "Choose one from {classes}. Answer:"
)
BINARY_TEMPLATE = "Answer the question in one word: yes or no. Is the {cls} in this photo?"
TEXT_PREFIX = "Text: {text}\n"
EXEMPLAR = "Text: {text}\nClass: {label}\n\n"
JSON_CLASS_SUFFIX = ' Respond only with JSON: {{"answer": "<one of the classes>"}}'
JSON_YES_NO_SUFFIX = ' Respond only with JSON: {{"answer": "yes"}} or {{"answer": "no"}}'
ANSWER_STYLES = ("plain", "json")
"""One k-shot example, shown before the item: the exemplar's text and its true class."""


@dataclass(frozen=True)
class Query:
    """A prompt about one item; the runner loads the item's image when the batch is sent."""

    item: Item
    prompt: str


Ask = Callable[[Sequence[Query]], list[str]]
"""Sends queries to the model in batches and returns raw answers in order."""


@dataclass(frozen=True)
class StrategyConfig:
    seed: int = 0
    permutations: int = 3
    closed_set_template: str = CLOSED_SET_TEMPLATE
    binary_template: str = BINARY_TEMPLATE
    exemplars: tuple[Item, ...] = ()
    """k-shot examples (text items), shown before every prompt; empty = zero-shot."""
    answer_style: str = "plain"
    """``plain`` (free text, parsed) or ``json`` (the prompt asks for ``{"answer": ...}``; anything else is invalid)."""

    def template(self, strategy: str) -> str:
        """The prompt template, with the JSON instruction appended for the JSON style."""
        base = self.closed_set_template if strategy == "closed_set" else self.binary_template
        if self.answer_style != "json":
            return base
        return base + (JSON_CLASS_SUFFIX if strategy == "closed_set" else JSON_YES_NO_SUFFIX)

    def answer_text(self, raw: str) -> str | None:
        """What to parse of a raw answer: all of it (plain), or its JSON ``answer`` (json; ``None`` = invalid)."""
        return json_answer(raw) if self.answer_style == "json" else raw

    def describe(self, strategy: str) -> dict[str, Any]:
        """The parts of the configuration that a strategy's results depend on."""
        shots: dict[str, Any] = {}
        if self.exemplars:
            shots = {"exemplar_ids": [e.id for e in self.exemplars], "exemplar_template": EXEMPLAR}
        if strategy == "closed_set":
            return {
                "seed": self.seed,
                "permutations": self.permutations,
                "prompt_template": self.template(strategy),
                "answer_style": self.answer_style,
                **shots,
            }
        if strategy == "binary":
            return {
                "seed": self.seed,
                "question_order": "seeded per item",
                "prompt_template": self.template(strategy),
                "answer_style": self.answer_style,
                **shots,
            }
        return {"seed": self.seed}


@dataclass
class ItemOutcome:
    """What a strategy decided for one item."""

    item: Item
    prediction: str | None
    answers: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)
    """Strategy-specific record: the class orders of closed_set, the questions of binary."""


def _rng(seed: int, item: Item, purpose: str) -> random.Random:
    # A string seed is hashed with SHA-512 by `random`, so this is stable across processes
    # and Python versions (unlike hash()), and independent of the item's position.
    return random.Random(f"{seed}:{purpose}:{item.id}")


def _prompt(template: str, item: Item, config: StrategyConfig, **fields: str) -> str:
    question = template.format(**fields)
    shots = "".join(EXEMPLAR.format(text=e.text, label=e.label) for e in config.exemplars)
    return shots + (TEXT_PREFIX.format(text=item.text) + question if item.text else question)


def class_orders(classes: Sequence[str], count: int, rng: random.Random) -> list[list[str]]:
    """``count`` shuffles of ``classes``, all different while enough different ones exist."""
    orders: list[list[str]] = []
    possible = 1
    for k in range(2, len(classes) + 1):
        possible *= k
        if possible >= count:
            break
    for _ in range(count):
        order = rng.sample(list(classes), len(classes))
        tries = 0
        while order in orders and len(orders) < possible and tries < 100:
            order = rng.sample(list(classes), len(classes))
            tries += 1
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


def closed_set(dataset: Dataset, items: Sequence[Item], ask: Ask, config: StrategyConfig) -> list[ItemOutcome]:
    matcher = ClassMatcher(dataset.classes)
    per_item = [class_orders(dataset.classes, config.permutations, _rng(config.seed, it, "closed_set")) for it in items]
    queries = [
        Query(item, _prompt(config.template("closed_set"), item, config, classes=", ".join(order)))
        for item, orders in zip(items, per_item)
        for order in orders
    ]
    answers = ask(queries)
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


def binary_plan(dataset: Dataset, item: Item, seed: int) -> tuple[list[str], str]:
    """The classes to ask about, in order, and the class predicted when all answers are no."""
    background = dataset.background_class
    askable = [c for c in dataset.classes if c != background]
    order = _rng(seed, item, "binary").sample(askable, len(askable))
    if background is not None:
        return order, background
    return order[:-1], order[-1]


def binary(dataset: Dataset, items: Sequence[Item], ask: Ask, config: StrategyConfig) -> list[ItemOutcome]:
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
        answers = ask([Query(items[i], _prompt(config.template("binary"), items[i], config, cls=cls)) for i, cls in zip(pending, asked)])
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


StrategyFn = Callable[[Dataset, Sequence[Item], Ask, StrategyConfig], list[ItemOutcome]]
