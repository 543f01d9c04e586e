"""Planning a run: which (model, dataset, strategy[, class count, seed]) cases a suite gets.

One resolver decides every selection, in one order of precedence: the command line
(:class:`~pytest_vlmbench.options.RunOptions`) over the suite's declaration (its
``vlmbench`` marker, read into a :class:`Suite`) over the built-in default. Nothing here
imports pytest or loads a model or a dataset: a plan is made from registry entries alone.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..datasets.builtin import default_image_dataset
from ..datasets.catalog import canonical_spec, case_label, spec_is_offline, spec_task, spec_modality
from ..datasets.columns import Columns
from ..models.base import ModelSpec
from ..models.catalog import DEFAULT_MODELS, resolve_model
from ..options import RunOptions, split_names
from ..registry import UnknownNameError
from ..strategies.catalog import STRATEGIES, get_strategy
from ..strategies.prompts import PromptError, check_template
from ..tasks import NER, Task

SUITE_MODALITIES = ("image", "text")


class PlanError(ValueError):
    """A suite declaration that cannot be planned; the message is one sentence."""


@dataclass(frozen=True)
class Case:
    """One planned evaluation: one pytest item."""

    model: str
    dataset: str
    strategy: str
    seed: int = 0
    show_seed: bool = False
    """Put the seed in the id: only when several seeds run, so single-seed ids stay short and stable."""
    num_classes: int | None = None
    """A --num-classes subset (a sweep point); in the id as ``DATASET-21cls``."""
    question: str | None = None
    """The suite's question (its marker's ``question``); not in the id."""
    prompt_template: str | None = None
    """The suite's prompt template (its marker's ``prompt_template``); not in the id."""

    @property
    def id(self) -> str:
        base = f"{self.model}-{case_label(self.dataset, self.num_classes)}-{self.strategy}"
        return f"{base}-seed{self.seed}" if self.show_seed else base


@dataclass(frozen=True)
class Suite:
    """What a suite declares (its ``vlmbench`` marker): default selections and the data it is for."""

    models: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    strategies: tuple[str, ...] = ()
    modality: str | None = None
    """``image`` or ``text``: which datasets belong in this suite; the command line cannot change it."""
    question: str | None = None
    """The suite's question for closed_set (over the dataset's own)."""
    prompt_template: str | None = None
    """The suite's prompt template (over the question; ``--prompt-template`` wins over it)."""
    max_invalid_rate: tuple[tuple[str, float], ...] = ()
    """Ceilings on the share of answers that name no class, as ``(strategy, ceiling)`` pairs
    (strategy ``*``: every strategy without its own); an item over its ceiling fails."""

    def invalid_ceiling(self, strategy: str) -> float | None:
        """The most invalid answers ``strategy``'s items may give (a share), or ``None`` for no limit."""
        ceilings = dict(self.max_invalid_rate)
        return ceilings.get(strategy, ceilings.get("*"))

    @classmethod
    def from_marker(cls, kwargs: Mapping[str, Any]) -> Suite:
        unknown = set(kwargs) - {"models", "datasets", "strategies", "modality", "question", "prompt_template", "max_invalid_rate"}
        if "task" in unknown:  # renamed: "task" now names what is evaluated (classification, NER)
            raise PlanError("the vlmbench marker's task= is now question= (the question closed_set asks)")
        if unknown:
            raise PlanError(
                "the vlmbench marker takes models, datasets, strategies, modality, question, prompt_template and "
                f"max_invalid_rate, not {sorted(unknown)}"
            )
        for key in ("question", "prompt_template"):
            if kwargs.get(key) is not None and not isinstance(kwargs[key], str):
                raise PlanError(f"the vlmbench marker's {key} must be a string, not {kwargs[key]!r}")
        modality = kwargs.get("modality")
        if modality not in (None, *SUITE_MODALITIES):
            raise PlanError(f"the vlmbench marker's modality must be 'image' or 'text', not {modality!r}")
        return cls(
            models=split_names(kwargs.get("models")),
            datasets=split_names(kwargs.get("datasets")),
            strategies=split_names(kwargs.get("strategies")),
            modality=modality,
            question=kwargs.get("question"),
            prompt_template=kwargs.get("prompt_template"),
            max_invalid_rate=_ceilings(kwargs.get("max_invalid_rate")),
        )


def _ceilings(value: Any) -> tuple[tuple[str, float], ...]:
    """The marker's ``max_invalid_rate``: one share for every strategy, or a dict of them by strategy name."""
    if value is None:
        return ()
    pairs = list(value.items()) if isinstance(value, Mapping) else [("*", value)]
    out = []
    for strategy, ceiling in pairs:
        if isinstance(ceiling, bool) or not isinstance(ceiling, (int, float)) or not 0.0 <= ceiling <= 1.0:
            raise PlanError(
                f"the vlmbench marker's max_invalid_rate must be a share from 0 to 1, or a dict of them by strategy, not {value!r}"
            )
        try:  # canonical names, so that an alias ("yes-no") finds the items of its strategy
            name = strategy if strategy == "*" else STRATEGIES.get(strategy).name
        except UnknownNameError as exc:
            raise PlanError(f"the vlmbench marker's max_invalid_rate: {exc}") from None
        out.append((name, float(ceiling)))
    return tuple(out)


@dataclass(frozen=True)
class Selection:
    """The resolved, canonical selection of one suite."""

    models: tuple[ModelSpec, ...]
    datasets: tuple[str, ...]
    strategies: tuple[str, ...]
    """Empty: each model's own strategies."""


def select(options: RunOptions, suite: Suite) -> Selection:
    """Command line > suite > default, for models, datasets and strategies; names made canonical."""
    try:
        models = options.models or suite.models or DEFAULT_MODELS
        datasets = options.datasets or tuple(canonical_spec(d) for d in suite.datasets) or (default_image_dataset(),)
        # Canonical names, so a marker's aliases ("yes-no") select like the command line's.
        strategies = tuple(STRATEGIES.get(s).name for s in options.strategies or suite.strategies)
        specs = tuple(resolve_model(m) for m in models)
    except UnknownNameError as exc:
        raise PlanError(str(exc)) from None
    return Selection(specs, tuple(dict.fromkeys(datasets)), strategies)


def fits_suite(suite_modality: str | None, dataset_modality: str | None, model_modalities: frozenset[str]) -> bool:
    """Whether a dataset belongs in a suite declared for ``image`` or ``text`` data.

    An image suite takes every dataset with images (``image+text`` posts included), a text
    suite only text-only datasets, so that ``--dataset`` given to a run of several suites
    does not evaluate the same case twice. A path or hub id, whose modality is known only
    not decidable without loading it (a hub id), goes to the suites of the model's modalities.
    """
    if suite_modality is None:
        return True
    if dataset_modality is None:
        return suite_modality in model_modalities
    if suite_modality == "text":
        return dataset_modality == "text"
    return suite_modality in dataset_modality.split("+")


@dataclass(frozen=True)
class Plan:
    """The cases of one suite, grouped by model, and what was selected to make them."""

    cases: tuple[Case, ...]
    selection: Selection
    unreadable: tuple[str, ...] = ()
    """Model x dataset pairs left out because the model cannot read the data, each with why."""

    @property
    def strategies(self) -> frozenset[str]:
        """Strategies of the cases, to explain an explicit --strategy that fits no model."""
        return frozenset(c.strategy for c in self.cases)


def plan_suite(options: RunOptions, suite: Suite) -> Plan:
    """Expand the selection into cases: models x datasets x strategies x class counts x seeds."""
    selection = select(options, suite)
    columns = Columns(label=options.label_column, text=options.text_column, image=options.image_column)
    cases, unreadable = [], []
    # What a suite is for follows from its marker's strategies: the task they all serve, or any (None).
    suite_tasks = {get_strategy(s).task for s in suite.strategies}
    suite_task = suite_tasks.pop() if len(suite_tasks) == 1 else None
    for spec in selection.models:
        for dataset in selection.datasets:
            modality = spec_modality(dataset, columns)  # None for a hub id: known only once loaded
            if modality is not None and not any(part in spec.modalities for part in modality.split("+")):
                readable = " and ".join(sorted(spec.modalities))
                unreadable.append(f"{spec.name} on {case_label(dataset)}: it reads {readable}, the dataset holds {modality}")
                continue
            if not fits_suite(suite.modality, modality, spec.modalities):
                continue  # e.g. an image dataset given with --dataset, seen by the text suite
            if spec.trained_on is not None and not options.datasets and suite.datasets and dataset != spec.trained_on:
                continue  # a reference model knows its own dataset only: the suite's others are for the rest
            if suite_task is not None and spec_task(dataset) not in (None, suite_task):
                continue  # --dataset names NER and classification data: each goes to its own suite, once
            for strategy in selection.strategies or spec.strategies:
                if strategy not in spec.runnable or not task_fits(strategy, dataset):
                    continue
                if suite.prompt_template is not None and options.prompt_template is None:
                    try:  # a marker template without this strategy's placeholder: a collection error
                        placeholder = get_strategy(strategy).placeholder
                        if placeholder is not None:
                            check_template(suite.prompt_template, placeholder, strategy, "vlmbench marker's prompt_template")
                    except PromptError as exc:
                        raise PlanError(str(exc)) from None
                for num_classes in options.num_classes or (None,):
                    for seed in options.seeds:
                        cases.append(Case(spec.name, dataset, strategy, seed, len(options.seeds) > 1, num_classes,
                                          suite.question, suite.prompt_template))
    return Plan(tuple(cases), selection, tuple(unreadable))


def task_fits(strategy: str, dataset: str) -> bool:
    """A strategy only on datasets of its task (NER, classification); a hub id (unknown until loaded) fits both."""
    task = spec_task(dataset)
    return task is None or get_strategy(strategy).task is task


def strategy_misfit(options: RunOptions, plans: Sequence[Plan]) -> str | None:
    """The sentence for an explicit ``--strategy`` that no selected model supports, if there is one."""
    produced = {s for plan in plans for s in plan.strategies}
    models = {spec.name: spec.runnable for plan in plans for spec in plan.selection.models}
    for strategy in options.strategies:
        if strategy in produced or not models:
            continue
        if any(strategy in s for s in models.values()):  # a model takes it: the datasets do not
            return (
                f"--strategy {strategy} fits none of the selected datasets: {', '.join(_strategies_of(NER))} tag the tokens "
                f"of NER datasets (ner_generated, conll2003, wnut_17, wikiner, CoNLL files, tokens + ner_tags tables), "
                f"and NER datasets take no other strategy."
            )
        supported = "; ".join(f"{name} supports {', '.join(s)}" for name, s in models.items())
        return (
            f"--strategy {strategy} fits none of the selected models ({supported}): prompting strategies need a "
            f"generative model, direct needs a classifier (a head, CLIP/SigLIP or sentence embeddings), finetune a "
            f"classification head or a text LLM (LoRA), and linear_probe an encoder (CLIP/SigLIP or sentence embeddings)."
        )
    return None


def _package_installed(target: str) -> bool:
    return importlib.util.find_spec(target.split(":")[0].split(".")[0]) is not None


def model_needs_hub(spec: ModelSpec) -> bool:
    """Whether loading ``spec`` may need the model hub: not for tiny builds, local folders or weights shipped in a package."""
    if spec.is_tiny or os.path.isdir(spec.source):
        return False
    packaged = spec.packaged_weights
    return not (packaged is not None and _package_installed(packaged.locate))


def offline_variables(cases: Iterable[Case]) -> dict[str, str]:
    """The ``HF_*_OFFLINE`` variables to set for the cases that will run (none when there are none).

    Decided from what actually runs, so a suite whose marker selects a hub model or dataset
    may still download, and a session that runs no case changes nothing. The variables are
    read when huggingface_hub / datasets are imported: at the first model or dataset load.
    """
    cases = list(cases)
    if not cases:
        return {}
    models_offline = not any(model_needs_hub(resolve_model(name)) for name in {case.model for case in cases})
    datasets_offline = all(spec_is_offline(case.dataset) for case in cases)
    # huggingface_hub's switch binds the datasets library too: set it only when nothing needs the hub.
    if models_offline and datasets_offline:
        return {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return {"HF_DATASETS_OFFLINE": "1"} if datasets_offline else {}


def _strategies_of(task: Task) -> list[str]:
    """The registered strategies that serve ``task``, by name."""
    return [name for name in STRATEGIES.names() if get_strategy(name).task is task]
