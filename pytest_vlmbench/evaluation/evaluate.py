"""Run one (model, dataset, strategy) evaluation and return its :class:`~pytest_vlmbench.record.Record`.

This is the whole library path; the pytest plugin only decides *which* evaluations run
and where the records go. Usable on its own::

    from pytest_vlmbench import evaluate, load_dataset, load_model, resolve_model, LoadOptions
    model, load_s = load_model(resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    record = evaluate(model, load_dataset("digits").limited(20), "closed_set", EvalConfig())
"""

from __future__ import annotations

import platform
from importlib import metadata

from ..datasets.base import Dataset
from ..datasets.fingerprint import fingerprint
from ..models.base import DirectClassifier, GenerativeModel
from ..record import Prediction, Record, RecordConfig, Unreadable, plain_json
from ..strategies.base import ItemOutcome
from ..strategies.catalog import get_strategy
from .answer_cache import AnswerCache
from .batching import BatchPlan
from .channel import AdapterError, CacheUse, make_channel
from .config import EvalConfig
from .cost import CostMeter
from .progress import ProgressObserver, observe
from .scores import classification_report
from .token_use import TokenUse

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
) -> Record:
    """Evaluate ``model`` on ``dataset`` with ``strategy``; returns the record (``model`` is ``model.name``).

    With ``answers``, prompts answered before are taken from that cache (mode ``read*``) and
    new answers are stored there as each batch returns (mode ``*write``); see
    :mod:`~.answer_cache`. The cache never enters ``config``: it does not change the result.
    ``progress`` is told how far the evaluation has come after each batch (:mod:`~.progress`).
    """
    chosen = get_strategy(strategy)
    training = chosen.training_of(model)  # finetune/linear_probe: the trained classifier's section
    # Adapters that retry (the API) count over their whole life; the record holds this evaluation's.
    retries_at_start = getattr(model, "retries", None)
    dataset = dataset.limited(config.limit)
    items = list(dataset.items)
    meter = CostMeter(device=str(model.info.get("device", "cpu")))
    meter.start()
    errors: dict[str, str] = {}
    plan = BatchPlan(config.batch_size)
    use = CacheUse.start(answers, model, chosen.needs, dataset.classes)
    tracker = observe(progress, len(items), plan)
    tokens = TokenUse.start(model)
    channel = make_channel(model, chosen.needs, dataset.classes, config, meter, errors, plan, use, tracker, tokens)
    outcomes = chosen.run(dataset, items, channel, config.strategy)
    meter.stop()
    outcomes = [o for o in outcomes if o.item.id not in errors]  # unreadable items: listed, not scored

    throughput = plan.apply_to(meter.throughput(len(items), model_load_s))
    if use is not None:  # items/s over the model's own work: see CacheUse.apply_to
        throughput = use.apply_to(throughput, len(items))
    report = classification_report([o.item.label for o in outcomes], [o.prediction for o in outcomes], dataset.classes)
    model_info = plain_json(model.info)
    if isinstance(retries_at_start, int):
        model_info["retries"] = int(getattr(model, "retries")) - retries_at_start
    return Record(
        model=model.name,
        model_info=model_info,
        dataset=dataset.name,
        dataset_source=dataset.source,
        strategy=chosen.name,
        n_items=len(outcomes),
        n_errors=len(errors),
        errors=tuple(Unreadable(item_id, reason) for item_id, reason in errors.items()),
        classes=tuple(dataset.classes),
        background_class=dataset.background_class,
        # Beside config, not in it: config is the baseline key, and a changed dataset should
        # be reported as changed data, not turn into "no baseline".
        dataset_fingerprint=plain_json(fingerprint(dataset)),
        config=RecordConfig.build(
            plain_json(chosen.describe(config.strategy)),
            batch_size=config.batch_size,
            max_new_tokens=config.max_new_tokens,
            limit=config.limit,
            num_classes=len(dataset.classes),
            per_class=dataset.provenance.get("selection", {}).get("per_class"),
            versions=library_versions(),
            # The engine an adapter names (vLLM: docs/scale.md) enters config, the baseline
            # key, so no Hugging Face run is ever compared with it unawares.
            **({"engine": model_info["engine"]} if model_info.get("engine") else {}),
        ),
        metrics=report.metrics,
        per_class=report.per_class,
        confusion=report.confusion,
        throughput=throughput,
        memory=meter.memory(),
        energy=meter.energy(),
        training=training,
        tokens=tokens.total([o.item.id for o in outcomes]),
        predictions=tuple(_prediction(o, tokens) for o in outcomes),
    )


def _prediction(outcome: ItemOutcome, tokens: TokenUse) -> Prediction:
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
