"""Run one (model, dataset, strategy) evaluation and return its :class:`~pytest_vlmbench.record.Record`.

This is the whole library path; the pytest plugin only decides *which* evaluations run
and where the records go. Usable on its own::

    from pytest_vlmbench import evaluate, load_dataset, load_model, resolve_model, LoadOptions
    model, load_s = load_model(resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    record = evaluate(model, load_dataset("digits").limited(20), "closed_set", EvalConfig())
"""

from __future__ import annotations

import platform
from dataclasses import replace
from importlib import metadata
from typing import Any

from ..datasets.base import Dataset
from ..datasets.fingerprint import fingerprint
from ..models.base import DirectClassifier, GenerativeModel
from ..record import Prediction, Record, RecordConfig, Unreadable, plain_json
from ..record.training import Training
from ..strategies.base import ItemOutcome, Strategy
from ..strategies.catalog import get_strategy
from .answer_cache import AnswerCache
from .channel import AdapterError, Channel, TokenTally
from .config import EvalConfig
from .pricing import Pricing
from .progress import ProgressObserver

__all__ = ["AdapterError", "AnswerCache", "EvalConfig", "evaluate", "library_versions"]


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results, read without importing them."""
    out = {"python": platform.python_version()}
    for dist in ("pytest-vlmbench", "torch", "transformers", "scikit-learn", "pillow", "datasets"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def evaluate(
    model: GenerativeModel | DirectClassifier,
    dataset: Dataset,
    strategy: str,
    config: EvalConfig,
    *,
    model_load_s: float | None = None,
    answers: AnswerCache | None = None,
    progress: ProgressObserver | None = None,
    pricing: Pricing | None = None,
) -> Record:
    """Evaluate ``model`` on ``dataset`` with ``strategy``; returns the record (``model`` is ``model.name``).

    With ``answers``, prompts answered before are taken from that cache (mode ``read*``) and
    new answers are stored there as each batch returns (mode ``*write``); see
    :mod:`~.answer_cache`. The cache never enters ``config``: it does not change the result.
    ``progress`` is told how far the evaluation has come after each batch (:mod:`~.progress`).
    ``pricing`` (a price table, an hourly rate) adds the record's ``cost`` (:mod:`~.pricing`).
    """
    chosen = get_strategy(strategy)
    if chosen.task is not dataset.task:
        raise ValueError(
            f"Strategy {chosen.name!r} evaluates {chosen.task.name} and dataset {dataset.name!r} is a {dataset.task.name} "
            f"dataset; pick a {dataset.task.name} strategy (`vlmbench strategies` lists them)."
        )
    _check_exemplars(model, dataset, config)
    training = chosen.training_of(model)  # finetune/linear_probe: the trained classifier's section
    # Adapters that retry (the API) count over their whole life; the record holds this evaluation's.
    retries_at_start = model.retries
    dataset = dataset.limited(config.limit)
    items = list(dataset.items)
    channel = Channel(model, chosen.needs, dataset, config, answers, progress)  # its meter starts now
    outcomes = chosen.execute(dataset, items, channel, config.strategy)
    channel.meter.stop()
    errors, meter, tokens = channel.errors, channel.meter, channel.tokens
    outcomes = [o for o in outcomes if o.item.id not in errors]  # unreadable items: listed, not scored

    throughput = channel.throughput(len(items), model_load_s)  # items/s over the model's own work, without cached items
    unplaced = sum(len(o.detail.get("unplaced", ())) for o in outcomes)  # NER answers' entities not put on tokens
    scores = dataset.task.score([o.item.label for o in outcomes], [o.prediction for o in outcomes], dataset.classes, unplaced)
    model_info = model.info
    if retries_at_start is not None and model.retries is not None:
        model_info = replace(model_info, retries=model.retries - retries_at_start)
    record = Record(
        model=model.name,
        model_info=model_info,
        dataset=dataset.name,
        dataset_source=dataset.source,
        strategy=chosen.name,
        task=dataset.task.name,
        n_items=len(outcomes),
        n_errors=len(errors),
        errors=tuple(Unreadable(item_id, reason) for item_id, reason in errors.items()),
        classes=tuple(dataset.classes),
        background_class=dataset.background_class,
        # Beside config, not in it: config is the baseline key, and a changed dataset should
        # be reported as changed data, not turn into "no baseline".
        dataset_fingerprint=plain_json(fingerprint(dataset)),
        config=RecordConfig.build(
            plain_json(described(chosen, config, dataset, training)),
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens,
            limit=config.limit,
            num_classes=len(dataset.classes),
            per_class=dataset.provenance.get("selection", {}).get("per_class"),
            versions=library_versions(),
            # The engine an adapter names (vLLM: docs/scale.md) enters config, the baseline
            # key, so no Hugging Face run is ever compared with it unawares.
            **({"engine": plain_json(model_info.engine)} if model_info.engine is not None else {}),
        ),
        metrics=scores.metrics,
        per_class=scores.per_class,
        confusion=scores.confusion,
        throughput=throughput,
        memory=meter.memory(),
        energy=meter.energy(len(outcomes)),
        training=training,
        ner=scores.ner,
        tokens=tokens.total([o.item.id for o in outcomes]),
        predictions=tuple(_prediction(o, tokens) for o in outcomes),
    )
    return replace(record, cost=pricing.cost_of(record)) if pricing is not None else record


def described(strategy: Strategy, config: EvalConfig, dataset: Dataset, training: Training | None) -> dict[str, Any]:
    """The strategy's part of the record's ``config``; for a trained classifier with the ``train_*``
    settings it was trained with (the cache's, which LoRA extends with its own learning rate and
    adapter settings), so the baseline key says how the weights were made."""
    out = strategy.describe(config.strategy, dataset)
    if training is not None:
        out.update({k: v for k, v in training.hyperparameters.items() if k.startswith("train_")})
    return out


def _check_exemplars(model: GenerativeModel | DirectClassifier, dataset: Dataset, config: EvalConfig) -> None:
    """One sentence (:class:`AdapterError`) when exemplars cannot be shown: an evaluated item among
    them, or images for a model that takes one image per prompt."""
    exemplars = config.strategy.exemplars
    shared = sorted({e.id for e in exemplars} & {it.id for it in dataset.items})
    if shared:
        raise AdapterError(f"k-shot exemplar(s) {shared[:5]} are also evaluated items; draw the exemplars from another split.")
    if any(e.load_image is not None for e in exemplars) and not model.several_images:
        raise AdapterError(
            f"Model {model.name!r} takes one image per prompt, so it cannot be shown {len(exemplars)} image exemplars; "
            f"run it with --k-shot 0, or use a VLM that reads several images (Qwen2-VL, Idefics3/SmolVLM, LLaVA-NeXT, "
            f"Mllama, Gemma 3, LLaVA-OneVision, InternVL3)."
        )


def _prediction(outcome: ItemOutcome, tokens: TokenTally) -> Prediction:
    item = outcome.item
    return Prediction(
        id=item.id,
        label=item.label,
        prediction=outcome.prediction,
        correct=outcome.prediction == item.label,
        answers=tuple(str(a) for a in outcome.answers),
        detail=plain_json(outcome.detail),
        tokens=tokens.of_item(item.id),
    )
