"""Running planned cases: models loaded once, datasets loaded once, one record per case.

The collaborators are handed in, not reached for (as pytest-benchmark's fixture is handed
``add_stats`` and ``logger``): a :class:`ModelLoader`, a :class:`DatasetCache`, and a
``measure`` callable that times the evaluation (pytest-benchmark's ``pedantic`` in the
plugin, a plain call elsewhere). :func:`run_cases` runs a whole plan without pytest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from ..datasets.base import Dataset, DatasetError, Item
from ..datasets.resolve import DatasetOptions, load_dataset, with_exemplars
from ..evaluation.answer_cache import AnswerCache
from ..evaluation.evaluate import AdapterError, EvalConfig, evaluate
from ..evaluation.progress import ProgressObserver
from ..models.base import DirectClassifier, GenerativeModel, LoadOptions
from ..models.catalog import load_model, resolve_model
from ..models.labels import ModelInputError
from ..options import RunOptions
from ..record import Record
from ..secrets import redact
from ..strategies.base import Strategy, StrategyConfig
from ..strategies.catalog import get_strategy
from ..strategies.prompts import PromptError
from ..training.pipeline import load_options_from, train_case
from ..training.trained import TrainingError
from .plan import Case

Measure = Callable[[Callable[[], Record]], Record]
"""Runs the evaluation once and returns its record (e.g. ``benchmark.pedantic`` with one round)."""


class CaseError(Exception):
    """A case that cannot run (its model failed to load, its dataset is unusable, its adapter
    broke the contract); the message is one sentence, and the other cases go on."""


@dataclass
class LoadedModel:
    """A model loaded for a session, or the sentence saying why it could not be."""

    name: str
    model: GenerativeModel | DirectClassifier | None = None
    load_s: float | None = None
    load_id: str = ""
    """``worker-pid-random``: records with the same id were served by the same load."""
    error: str | None = None


class ModelLoader:
    """Loads models by name with the session's load options; a failure is kept, not raised."""

    def __init__(self, options: LoadOptions) -> None:
        self.options = options

    def load(self, name: str) -> LoadedModel:
        # Who loaded it (xdist worker or main process), which process, which load: the run's
        # JSON counts loads per model and names the workers from these ids.
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        loaded = LoadedModel(name=name, load_id=f"{worker}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            loaded.model, loaded.load_s = load_model(resolve_model(name), self.options)
        except Exception as exc:  # noqa: BLE001 - reported on each of the model's items instead
            loaded.error = redact(f"Model {name!r} could not be loaded: {type(exc).__name__}: {exc}")
        return loaded

    @staticmethod
    def release(loaded: LoadedModel) -> None:
        """Free the model's weights and accelerator memory before the next model loads."""
        if loaded.model is not None:
            loaded.model.close()
            loaded.model = None


@dataclass(frozen=True)
class DatasetKey:
    """What a loaded dataset depends on: the spec, its subset options and the k-shot draw."""

    spec: str
    options: DatasetOptions
    k_shot: int
    exemplar_split: str | None
    k_shot_per_class: bool = False
    """``k_shot`` counts exemplars per class (``--k-shot-per-class``), not in all."""


class DatasetCache:
    """Each (dataset, subset, exemplars) loaded once per session; a failure is remembered too,
    so the items that share a broken dataset fail with the same sentence without reloading it."""

    def __init__(self, load: Callable[..., tuple[Dataset, tuple[Item, ...]]] = with_exemplars) -> None:
        self._load = load
        self._loaded: dict[DatasetKey, tuple[Dataset, tuple[Item, ...]] | DatasetError] = {}

    def get(self, key: DatasetKey) -> tuple[Dataset, tuple[Item, ...]]:
        if key not in self._loaded:
            try:
                self._loaded[key] = self._load(key.spec, key.options, key.k_shot, key.exemplar_split, key.k_shot_per_class)
            except DatasetError as exc:
                self._loaded[key] = exc
        value = self._loaded[key]
        if isinstance(value, DatasetError):
            raise CaseError(str(value))
        return value


def dataset_key(case: Case, options: RunOptions, k_shot: int) -> DatasetKey:
    subset = DatasetOptions(
        split=options.split,
        text_column=options.text_column,
        image_column=options.image_column,
        label_column=options.label_column,
        num_classes=case.num_classes,
        per_class=options.per_class,
        background_class=options.background_class,
        seed=case.seed,  # the class subset is drawn with the item's seed
    )
    return DatasetKey(case.dataset, subset, k_shot, options.exemplar_split, bool(k_shot and options.k_shot_per_class))


def _call(evaluation: Callable[[], Record]) -> Record:
    return evaluation()


def run_case(
    case: Case,
    loaded: LoadedModel,
    options: RunOptions,
    datasets: DatasetCache,
    measure: Measure = _call,
    answers: AnswerCache | None = None,
    progress: ProgressObserver | None = None,
) -> Record:
    """Evaluate one case; raises :class:`CaseError` (one sentence) when it cannot run.

    ``answers``: the session's answer cache (``AnswerCache.open``), or ``None`` for none;
    ``progress``: told how far the evaluation has come (the plugin's terminal line).
    """
    if loaded.error or loaded.model is None:
        raise CaseError(loaded.error or f"Model {loaded.name!r} was released before its case ran.")
    strategy = get_strategy(case.strategy)
    # k-shot exemplars go into prompts; a direct classifier has none, so it keeps every item.
    k_shot = (options.k_shot or options.k_shot_per_class) if strategy.needs == "generate" else 0
    dataset, exemplars = datasets.get(dataset_key(case, options, k_shot))
    config = EvalConfig(
        strategy=StrategyConfig(
            seed=case.seed, permutations=options.permutations, exemplars=exemplars, answer_style=options.answer_style,
            training=options.training, question=case.question,
            # --prompt-template over the suite marker's (issue #12); the strategy checks its placeholder.
            prompt_template=options.prompt_template if options.prompt_template is not None else case.prompt_template,
        ),
        batch_size=options.batch_size,
        max_new_tokens=options.max_new_tokens_for(case.strategy),
        limit=options.limit,
        prefix_sharing=options.prefix_sharing,
    )
    model: GenerativeModel | DirectClassifier = loaded.model
    if strategy.trainer is not None:  # finetune, linear_probe: train first (not timed as the evaluation), then evaluate
        model, dataset = _train(case, strategy, loaded.model, dataset, config, options)
    try:
        record = measure(lambda: evaluate(model, dataset, case.strategy, config, model_load_s=loaded.load_s, answers=answers, progress=progress,
                                          pricing=options.pricing))
    except (AdapterError, ModelInputError, PromptError) as exc:  # a broken adapter contract, a bad --label-map or template: one sentence
        raise CaseError(str(exc)) from None
    finally:
        if model is not loaded.model:
            model.close()  # the trained classifier: its weights are cached on disk, not kept in memory
    return replace(record, model=case.model, model_load_id=loaded.load_id, options=options.as_json())


def _train(
    case: Case, strategy: Strategy, model: GenerativeModel | DirectClassifier, dataset: Dataset, config: EvalConfig, options: RunOptions
) -> tuple[DirectClassifier, Dataset]:
    """The trained classifier of a training case and the dataset to evaluate it on; :class:`CaseError` when it cannot train."""
    key = dataset_key(case, options, 0)

    def load_split(name: str) -> Dataset:  # the training split: all its items of the evaluated classes
        return load_dataset(key.spec, replace(key.options, split=name, num_classes=None, per_class=None))

    try:
        return train_case(strategy, model, dataset, config.strategy, load_options_from(options), load_split)
    except (DatasetError, TrainingError) as exc:
        raise CaseError(str(exc)) from None


def by_model(cases: Iterable[Case]) -> Iterator[tuple[str, list[Case]]]:
    """Cases grouped by model, in first-seen order: one load per model."""
    groups: dict[str, list[Case]] = {}
    for case in cases:
        groups.setdefault(case.model, []).append(case)
    yield from groups.items()


def run_cases(
    cases: Iterable[Case],
    options: RunOptions,
    loader: ModelLoader,
    datasets: DatasetCache | None = None,
    on_error: Callable[[Case, str], None] | None = None,
    answers: AnswerCache | None = None,
) -> list[Record]:
    """Run a plan without pytest: each model loaded once and released before the next.

    A case that cannot run is reported to ``on_error`` (or raised, without it); the others go on.
    """
    datasets = datasets or DatasetCache()
    records = []
    for name, group in by_model(cases):
        loaded = loader.load(name)
        try:
            for case in group:
                try:
                    records.append(run_case(case, loaded, options, datasets, answers=answers))
                except CaseError as exc:
                    if on_error is None:
                        raise
                    on_error(case, str(exc))
        finally:
            loader.release(loaded)
    return records
