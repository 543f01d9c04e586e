"""Training a case's classifier, then evaluating it: what the session and library users call.

The session (:func:`pytest_vlmbench.session.execution.run_case`) calls :func:`train_case` for a
strategy that declares a ``trainer`` and evaluates the classifier it returns; library users
call :func:`train_and_evaluate`::

    from pytest_vlmbench.training.pipeline import train_and_evaluate
    record = train_and_evaluate(model, load_dataset("bbc_news"), "linear_probe", EvalConfig())
    record.training.seconds, record.metrics.accuracy
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..datasets.base import Dataset
from ..evaluation.answer_cache import AnswerCache
from ..evaluation.config import EvalConfig
from ..evaluation.evaluate import evaluate
from ..models.base import DirectClassifier, GenerativeModel, LoadOptions
from ..options import RunOptions
from ..record import Record
from ..registry import Registry
from ..strategies.base import Strategy, StrategyConfig
from ..strategies.catalog import get_strategy
from .split import LoadSplit, training_split
from .trained import TrainedClassifier

Trainer = Callable[[GenerativeModel | DirectClassifier, Dataset, StrategyConfig, LoadOptions, dict[str, Any]], TrainedClassifier]
"""``(loaded model, training items, config, load options, how the items were chosen) -> the trained classifier``."""

TRAINERS: Registry[Trainer] = Registry("trainer")
"""The trainers that training strategies name (:attr:`~pytest_vlmbench.strategies.base.Strategy.trainer`),
registered here, above the strategies; a strategy of one's own adds its trainer with ``TRAINERS.register``."""
TRAINERS.register("finetune", "pytest_vlmbench.training.finetune:train_head")
TRAINERS.register("linear_probe", "pytest_vlmbench.training.probe:train_probe")
TRAINERS.register("ner_finetune", "pytest_vlmbench.training.ner_finetune:train_token_head")


def load_options_from(options: RunOptions) -> LoadOptions:
    """How a fine-tuned head is loaded for its evaluation: the run's device, dtype and remote-code choice."""
    return LoadOptions(device=options.device, dtype=options.dtype, trust_remote_code=options.trust_remote_code)


def train_case(
    strategy: Strategy,
    model: GenerativeModel | DirectClassifier,
    dataset: Dataset,
    config: StrategyConfig,
    load: LoadOptions,
    load_split: LoadSplit | None = None,
) -> tuple[TrainedClassifier, Dataset]:
    """The trained classifier and the dataset to evaluate it on (a hold-out leaves out what it trains on).

    Raises :class:`~.trained.TrainingError` or :class:`~pytest_vlmbench.datasets.base.DatasetError` with one sentence.
    """
    assert strategy.trainer is not None, f"strategy {strategy.name!r} does not train"
    evaluated, train, detail = training_split(dataset, config.training, load_split, config.seed)
    trainer = TRAINERS.get(strategy.trainer).load()
    return trainer(model, train, config, load, detail), evaluated


def train_and_evaluate(
    model: GenerativeModel | DirectClassifier,
    dataset: Dataset,
    strategy: str,
    config: EvalConfig,
    *,
    load: LoadOptions = LoadOptions(),
    load_split: LoadSplit | None = None,
    answers: AnswerCache | None = None,
) -> Record:
    """Train with a training strategy (``finetune``, ``linear_probe``), evaluate, and return the record.

    ``load_split(name)`` loads another split of ``dataset``'s source (to train on ``train``);
    without it, a seeded hold-out of ``dataset`` is trained on and the rest evaluated.
    """
    chosen = get_strategy(strategy)
    if chosen.trainer is None:
        raise ValueError(f"Strategy {chosen.name!r} does not train; call evaluate() for it.")
    trained, evaluated = train_case(chosen, model, dataset, config.strategy, load, load_split)
    try:
        return evaluate(trained, evaluated, chosen.name, config, answers=answers)
    finally:
        trained.close()


__all__ = ["TRAINERS", "Trainer", "load_options_from", "train_and_evaluate", "train_case"]
