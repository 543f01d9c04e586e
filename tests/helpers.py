"""Shared test helpers: a toy dataset, scripted answers, a toy project's conftest, synthetic records.

- :func:`toy_dataset`, :func:`oracle`, :func:`answer_as`, :func:`planted`: a small text dataset
  whose every item says its class (``item 4 is about a dog``), and responders for
  :class:`~pytest_vlmbench.models.scripted.ScriptedModel` that read the class back from the
  prompt and answer closed_set and binary prompts as a model would.
- :func:`toy_conftest`: the same, as the source of a ``conftest.py`` for a pytest run of its own
  (pytester, a subprocess), which registers the dataset as ``toy``.
- :func:`make_record`, :func:`with_predictions`, :func:`run_document`: synthetic records and
  runs, for the gate's tests and ``bench/gate_noise.py``. They are
  :class:`~pytest_vlmbench.record.Record` objects like :func:`pytest_vlmbench.evaluate` returns,
  with metrics computed from the given predictions, so the gate sees exactly what a real run
  would give it -- without loading a model.
- :class:`ScriptedChannel`: what a strategy is handed, answering from a function, for
  strategy tests that need no model.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.models.base import Request
from pytest_vlmbench.strategies.base import Query

from pytest_vlmbench.record import (
    SCHEMA_VERSION, Confusion, Label, LatencyMs, Memory, Metrics, ModelInfo, Prediction, Record, RecordConfig, Throughput,
)  # fmt: skip
from pytest_vlmbench.tasks import CLASSIFICATION



# -- a toy dataset and scripted answers ---------------------------------------------------------

TOY_CLASSES = ("cat", "dog", "bird")
TOY_TEXT = "item {k} is about a {label}"
"""Each toy item's text: its number and its class, which :func:`oracle` and :func:`planted` read back."""


def toy_items(n: int, classes: Sequence[str] = TOY_CLASSES, text: str = TOY_TEXT) -> list[Item]:
    """``n`` text items ``t0``, ``t1``, ... whose classes cycle through ``classes``."""
    return [Item(id=f"t{k}", label=classes[k % len(classes)], text=text.format(k=k, label=classes[k % len(classes)])) for k in range(n)]


def toy_dataset(
    n: int = 6, *, classes: Sequence[str] = TOY_CLASSES, name: str = "toy", text: str = TOY_TEXT, source: str = "generated"
) -> Dataset:
    """A text dataset of :func:`toy_items`."""
    return Dataset(name, tuple(classes), toy_items(n, classes, text), modality="text", source=source)


def answer_as(label: str, request: Request) -> str:
    """What a model that takes the item for a ``label`` answers: "Yes."/"No." to a binary prompt, else "It is a LABEL."."""
    if "yes or no" in request.prompt:
        return "Yes." if f"Is the {label} " in request.prompt or f" class {label}?" in request.prompt else "No."
    return f"It is a {label}."


def oracle(request: Request) -> str:
    """Always right: the class the prompt's item text names (``about a dog``), or ``?`` when it names none."""
    found = re.search(r"about a (\w+)", request.prompt)
    return answer_as(found.group(1) if found else "?", request)


def planted(request: Request) -> str:
    """Like :func:`oracle`, except for the item numbers listed in ``wrong.txt`` in the working folder: those are answered wrong."""
    found = re.search(r"item (\d+) is about a (\w+)", request.prompt)
    if found is None:
        return answer_as("?", request)
    k, label = found.groups()
    wrong = Path("wrong.txt").read_text().split() if Path("wrong.txt").exists() else []
    return answer_as(label if k not in wrong else ("dog" if label != "dog" else "cat"), request)


def toy_conftest(extra: str = "", *, n: int = 9, classes: Sequence[str] = TOY_CLASSES, text: str = TOY_TEXT) -> str:
    """The source of a ``conftest.py`` registering :func:`toy_dataset` ``n`` as ``toy``, then ``extra``.

    It defines :func:`answer_as`, :func:`oracle` and :func:`planted` (this module's own code) and
    imports ``re``, ``Path``, ``DATASETS``, ``MODELS``, ``Dataset``, ``Item``, ``ScriptedModel`` and
    ``scripted_spec`` for ``extra``, which registers the models. It imports nothing from the
    tests, so it also serves a pytest run in a subprocess.
    """
    responders = "\n\n".join(inspect.getsource(f) for f in (answer_as, oracle, planted))
    return (
        "from __future__ import annotations\n\n"
        "import re\n"
        "from pathlib import Path\n\n"
        "from pytest_vlmbench import DATASETS, MODELS\n"
        "from pytest_vlmbench.datasets.base import Dataset, Item\n"
        "from pytest_vlmbench.models.scripted import ScriptedModel, scripted_spec\n\n"
        f"CLASSES = {tuple(classes)!r}\n\n\n"
        "def toy():\n"
        f"    items = [Item(id=f't{{k}}', label=CLASSES[k % len(CLASSES)], text={text!r}.format(k=k, label=CLASSES[k % len(CLASSES)]))\n"
        f"             for k in range({n})]\n"
        "    return Dataset('toy', CLASSES, items, modality='text', source='generated')\n\n\n"
        "DATASETS.register('toy', toy, modality='text', offline=True, replace=True)\n\n\n"
        f"{responders}\n\n"
        f"{extra}"
    )



def _metrics(labels: Sequence[Label], predictions: Sequence[Label | None], classes: Sequence[str]) -> Metrics:
    """The metrics a real run gives for these predictions (the gate recomputes them on load)."""
    return CLASSIFICATION.score(labels, predictions, classes).metrics


def _throughput(n: int, items_per_s: float, latency_ms: float) -> Throughput:
    return Throughput(
        items_per_s=items_per_s,
        wall_s=n / items_per_s if items_per_s else 0.0,
        model_time_s=0.0,
        n_batches=1,
        n_requests=n,
        batch_latency_ms=LatencyMs(latency_ms, latency_ms, latency_ms, latency_ms, latency_ms),
        model_load_s=1.0,
    )


def _predictions(ids: Sequence[str], labels: Sequence[Label], predictions: Sequence[Label | None]) -> tuple[Prediction, ...]:
    return tuple(Prediction(str(i), t, p, p == t, (str(p),)) for i, t, p in zip(ids, labels, predictions))


def make_record(
    labels: Sequence[str],
    predictions: Sequence[str | None],
    *,
    classes: Sequence[str] | None = None,
    model: str = "fake-vlm",
    dataset: str = "digits",
    strategy: str = "closed_set",
    seed: int = 0,
    batch_size: int = 8,
    items_per_s: float = 50.0,
    latency_ms: float = 100.0,
    peak_rss_mb: float = 1000.0,
    device: str = "cpu",
    ids: Sequence[str] | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> Record:
    """A record whose metrics are computed from ``labels`` and ``predictions``.

    ``extra_config`` adds (or overrides) ``config`` entries: ``{"num_classes": 10}``. For
    anything else, ``dataclasses.replace`` the result.
    """
    classes = tuple(classes) if classes is not None else tuple(sorted(set(labels)))
    ids = list(ids) if ids is not None else [str(i) for i in range(len(labels))]
    config = RecordConfig.build(
        {"seed": seed, "permutations": 3, "prompt_template": "{classes}?"},
        batch_size=batch_size, max_new_tokens=8, limit=None, versions={"python": "3.11"}, **(extra_config or {}),
    )  # fmt: skip
    return Record(
        schema=SCHEMA_VERSION,
        model=model,
        model_info=ModelInfo(device=device),
        dataset=dataset,
        dataset_source="synthetic",
        strategy=strategy,
        n_items=len(labels),
        classes=classes,
        config=config,
        metrics=_metrics(labels, predictions, classes),
        confusion=Confusion(classes, (*classes, "invalid"), ()),
        throughput=_throughput(len(labels), items_per_s, latency_ms),
        memory=Memory(device=device, peak_rss_mb=peak_rss_mb),
        predictions=_predictions(ids, labels, predictions),
    )


def with_predictions(
    record: Record,
    predictions: Sequence[Label | None],
    *,
    items_per_s: float | None = None,
    latency_ms: float | None = None,
    batch_size: int | None = None,
    peak_rss_mb: float | None = None,
    **fields: Any,
) -> Record:
    """A copy of ``record`` with new predictions (same items) and recomputed metrics.

    ``items_per_s``, ``latency_ms``, ``batch_size`` and ``peak_rss_mb`` change the cost parts
    as in :func:`make_record`; other keywords are :class:`Record` fields to replace.
    """
    labels = [p.label for p in record.predictions]
    out = replace(
        record,
        predictions=_predictions([p.id for p in record.predictions], labels, predictions),
        metrics=_metrics(labels, predictions, record.classes),
        n_items=len(labels),
    )
    if items_per_s is not None or latency_ms is not None:
        speed = items_per_s if items_per_s is not None else record.throughput.items_per_s
        latency = latency_ms if latency_ms is not None else record.throughput.batch_latency_ms.p50
        out = replace(out, throughput=_throughput(len(labels), speed, latency))
    if batch_size is not None:
        out = replace(out, config=replace(out.config, batch_size=batch_size))
    if peak_rss_mb is not None:
        out = replace(out, memory=replace(out.memory, peak_rss_mb=peak_rss_mb))
    return replace(out, **fields)


def run_document(records: Sequence[Record], *, commit: str = "", names: Sequence[str] = ()) -> dict[str, Any]:
    """A pytest-benchmark-shaped JSON document holding ``records``."""
    benchmarks = []
    for i, record in enumerate(records):
        name = names[i] if i < len(names) else f"test_bench[{record.model}-{record.dataset}-{record.strategy}-{i}]"
        benchmarks.append(
            {
                "group": None,
                "name": name,
                "fullname": f"tests/test_bench.py::{name}",
                "params": None,
                "param": None,
                "extra_info": {"vlmbench": record.to_json()},
                "options": {},
                "stats": {"min": 1.0, "max": 1.0, "mean": 1.0, "stddev": 0.0, "rounds": 1, "median": 1.0,
                          "iqr": 0.0, "q1": 1.0, "q3": 1.0, "iqr_outliers": 0, "stddev_outliers": 0,
                          "outliers": "0;0", "ld15iqr": 1.0, "hd15iqr": 1.0, "ops": 1.0, "total": 1.0,
                          "iterations": 1},
            }
        )  # fmt: skip
    return {
        "machine_info": {"node": "test", "machine": "x86_64"},
        "commit_info": {"id": commit, "dirty": False} if commit else {},
        "benchmarks": benchmarks,
        "datetime": "2026-11-25T00:00:00",
        "version": "5.3.1",
        "vlmbench": {"schema": SCHEMA_VERSION, "options": {}, "models": {}},
    }


# -- a strategy's channel without a model -------------------------------------------------------


class ScriptedChannel:
    """What a strategy is handed (:class:`~pytest_vlmbench.strategies.base.ModelAccess`), without a model:
    ``answers`` answers each pass of queries (text for ``ask``, a class or ``None`` for ``classify``), and
    every pass is kept in ``asked``. ``batch_size`` and ``shares_prefix`` are the facts binary plans by."""

    def __init__(
        self, answers: Callable[[Sequence[Query]], Sequence[str | None]], batch_size: int = 1, shares_prefix: bool = False
    ) -> None:
        self.answers = answers
        self.batch_size = batch_size
        self.shares_prefix = shares_prefix
        self.asked: list[list[Query]] = []

    def ask(self, queries: Sequence[Query]) -> list[str]:
        self.asked.append(list(queries))
        return [a if a is not None else "" for a in self.answers(queries)]

    def classify(self, queries: Sequence[Query]) -> list[str | None]:
        self.asked.append(list(queries))
        return list(self.answers(queries))
