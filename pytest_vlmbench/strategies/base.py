"""What every strategy shares: the query, the outcome, the configuration and the declaration.

A strategy module declares itself once, as a :class:`Strategy`: its name, what it needs
from the model (``"generate"``: text answers to prompts; ``"classify"``: a class per
item), the function that executes it, its default prompt template and JSON-answer suffix where
it prompts, and the strategy-specific settings it records. The function reaches the model
only through what :class:`Ask` and :class:`Classify` declare (the evaluation's channel
implements both: :class:`~pytest_vlmbench.evaluation.channel.Channel`). Callers look a strategy up with
:func:`~pytest_vlmbench.strategies.catalog.get_strategy` and ask the object; nothing
outside a strategy's own module decides anything from its name.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from ..datasets.base import Dataset, Item
from ..record import Label
from ..record.training import Training
from ..tasks import CLASSIFICATION, Task
from .answers import json_answer
from .prompts import EXEMPLAR, IMAGE_EXEMPLAR, check_template
from .train_settings import TrainSettings

Needs = Literal["generate", "classify"]
"""What a strategy needs from the model: prompts answered in text, or a class per item."""

ANSWER_STYLES = ("plain", "json")
"""The values :attr:`StrategyConfig.answer_style` may take."""


@dataclass(frozen=True)
class Query:
    """A prompt about one item; the runner loads the item's image when the batch is sent."""

    item: Item
    """The item asked about."""
    prompt: str
    """The full prompt text (empty for an image sent to a classifier)."""
    decided: Callable[[str], bool] | None = field(default=None, compare=False)
    """True once a partial answer can no longer change how the strategy reads it: the model
    may stop generating there (binary: :func:`~.answers.yes_no_decided`)."""
    exemplars: tuple[Item, ...] = ()
    """The k-shot exemplars shown in ``prompt``: the channel sends the images of those that have one."""


class Ask(Protocol):
    """What a prompting strategy (``needs="generate"``) may use to reach the model, with two facts to plan by."""

    @property
    def batch_size(self) -> int:
        """Queries sent to the model at once, now (smaller than configured after an out-of-memory halving)."""
        ...

    @property
    def shares_prefix(self) -> bool:
        """One item's queries sent together share their prefix (image and prompt start computed once),
        so asking an item several questions at once is cheap."""
        ...

    def ask(self, queries: Sequence[Query]) -> list[str]:
        """The model's raw answer to each query, in order (sent in batches; an unreadable item's answer is ``""``)."""
        ...


class Classify(Protocol):
    """What a classifying strategy (``needs="classify"``) may use to reach the model."""

    def classify(self, queries: Sequence[Query]) -> list[str | None]:
        """The class the model picks for each query (``None``: none of the dataset's), in order."""
        ...


class ModelAccess(Ask, Classify, Protocol):
    """What the evaluation hands every strategy: its channel, which answers either way
    (a strategy uses the half its :attr:`Strategy.needs` names)."""


@runtime_checkable
class TrainedModel(Protocol):
    """A classifier that a training strategy made (:class:`pytest_vlmbench.training.trained.TrainedClassifier`):
    it carries its record's ``training`` section."""

    training: Training


@dataclass(frozen=True)
class StrategyConfig:
    """The settings a strategy runs with (the same object for every strategy)."""

    seed: int = 0
    """Seeds the class orders (closed_set) and question orders (binary), per item."""
    permutations: int = 3
    """How many differently ordered class lists closed_set asks per item."""
    exemplars: tuple[Item, ...] = ()
    """k-shot examples, shown before every prompt (with their images, for image items); empty = zero-shot."""
    answer_style: str = "plain"
    """``plain`` (free text, parsed) or ``json`` (the prompt asks for ``{"answer": ...}``; anything else is invalid)."""
    prompt_template: str | None = None
    """Replaces the strategy's default template (``None``: keep the default); recorded as given."""
    question: str | None = None
    """The suite's question (closed_set): replaces the dataset's own and the modality's default question."""
    training: TrainSettings = field(default_factory=TrainSettings)
    """The training strategies' hyperparameters (finetune, linear_probe); the others ignore them."""

    def answer_text(self, raw: str) -> str | None:
        """What to parse of a raw answer: all of it (plain), or its JSON ``answer`` (json; ``None`` = invalid)."""
        return json_answer(raw) if self.answer_style == "json" else raw


@dataclass
class ItemOutcome:
    """What a strategy decided for one item."""

    item: Item
    """The item."""
    prediction: Label | None
    """The predicted class (NER: tags, one per token), or ``None`` for an invalid answer."""
    answers: list[str] = field(default_factory=list)
    """The model's raw answers, in asking order."""
    detail: dict[str, Any] = field(default_factory=dict)
    """Strategy-specific record: the class orders of closed_set, the questions of binary."""


ExecuteStrategy = Callable[[Dataset, Sequence[Item], ModelAccess, StrategyConfig], list[ItemOutcome]]
"""A strategy's function: ``(dataset, items, channel, config) -> one outcome per item``, in order. A function
typed with an :class:`Ask` or a :class:`Classify` for its channel fits (it uses less than it is given)."""


def no_settings(config: StrategyConfig) -> dict[str, Any]:
    """The :attr:`Strategy.settings` of a strategy that records nothing beyond the common keys."""
    return {}


@dataclass(frozen=True)
class Strategy:
    """One strategy, declared once in its module and registered in ``STRATEGIES``."""

    name: str
    """Canonical name: what ``--strategy`` and the record's ``strategy`` say."""
    needs: Needs
    """``"generate"``: ``execute`` calls its channel's :meth:`Ask.ask`; ``"classify"``: :meth:`Classify.classify`."""
    execute: ExecuteStrategy
    """Executes the strategy on the items of one evaluation and returns one :class:`ItemOutcome` per item."""
    default_template: str | None = None
    """The prompt template when :attr:`StrategyConfig.prompt_template` is not set; ``None``: no prompt."""
    json_suffix: str | None = None
    """Appended to the template for the JSON answer style; ``None``: the template is used as is."""
    settings: Callable[[StrategyConfig], dict[str, Any]] = no_settings
    """Strategy-specific entries of the record's ``config``, placed right after ``seed``."""
    placeholder: str | None = None
    """What a template must hold for this strategy to fill in (``{classes}``, ``{cls}``); checked on overrides."""
    template_for: Callable[[str, str | None], str] | None = None
    """``(dataset modality, question) -> template``: the default per dataset; ``None``: :attr:`default_template`."""
    task: Task = CLASSIFICATION
    """The task it serves: it runs on that task's datasets only (:mod:`pytest_vlmbench.tasks`)."""
    trainer: str | None = None
    """The name of the function that trains the classifier this strategy evaluates (finetune, linear_probe),
    as :data:`pytest_vlmbench.training.pipeline.TRAINERS` registers it from above (strategies sit below training);
    ``None``: the model is evaluated as loaded."""

    def __call__(self, dataset: Dataset, items: Sequence[Item], channel: ModelAccess, config: StrategyConfig) -> list[ItemOutcome]:
        """Same as ``self.execute(dataset, items, channel, config)``."""
        return self.execute(dataset, items, channel, config)

    def training_of(self, model: object) -> Training | None:
        """The record's ``training`` section: the trained classifier's own; ``None`` for strategies that do not train.

        Raises ``ValueError`` when a training strategy is handed a model it did not train.
        """
        if self.trainer is None:
            return None
        if not isinstance(model, TrainedModel) or not isinstance(model.training, Training):
            raise ValueError(
                f"Strategy {self.name!r} evaluates a classifier it trains first; run it with "
                f"pytest_vlmbench.training.train_and_evaluate() (or the plugin), not evaluate() on the loaded model."
            )
        return model.training

    def template(self, config: StrategyConfig, dataset: Dataset | None = None) -> str:
        """The template prompts are built from, exactly as sent (placeholders aside): the override,
        else the default for ``dataset`` (its modality and question; the image wording without one),
        plus the JSON suffix for that style. Raises :class:`~.prompts.PromptError` for an override
        without the strategy's placeholder."""
        if self.default_template is None:
            raise ValueError(f"Strategy {self.name!r} has no prompt template.")
        if config.prompt_template is not None:
            base = config.prompt_template
            if self.placeholder is not None:
                check_template(base, self.placeholder, self.name)
        elif self.template_for is not None:
            modality = dataset.modality if dataset is not None else "image"
            question = config.question if config.question is not None else (dataset.question if dataset is not None else None)
            base = self.template_for(modality, question)
        else:
            base = self.default_template
        if config.answer_style == "json" and self.json_suffix is not None:
            return base + self.json_suffix
        return base

    def describe(self, config: StrategyConfig, dataset: Dataset | None = None) -> dict[str, Any]:
        """The parts of ``config`` this strategy's results depend on, as recorded in the record's ``config``.

        Always ``seed``, then :attr:`settings`; for a strategy with a prompt also
        ``prompt_template`` (as sent, JSON suffix included), ``answer_style`` and, for
        k-shot, ``exemplar_ids`` and ``exemplar_template``.
        """
        out: dict[str, Any] = {"seed": config.seed, **self.settings(config)}
        if self.default_template is None:
            return out
        out["prompt_template"] = self.template(config, dataset)
        out["answer_style"] = config.answer_style
        if config.exemplars:
            out["exemplar_ids"] = [e.id for e in config.exemplars]
            with_images = any(e.load_image is not None for e in config.exemplars)
            out["exemplar_template"] = IMAGE_EXEMPLAR if with_images else EXEMPLAR
        return out


def item_rng(seed: int, item: Item, purpose: str) -> random.Random:
    """A random generator for one item, fixed by ``(seed, purpose, item id)``.

    A string seed is hashed with SHA-512 by ``random``, so this is stable across processes
    and Python versions (unlike ``hash()``), and independent of the item's position.
    """
    return random.Random(f"{seed}:{purpose}:{item.id}")
