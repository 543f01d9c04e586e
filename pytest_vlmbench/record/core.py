"""The record of one evaluation: typed, frozen, and the one place its JSON shape is defined.

A :class:`Record` is what :func:`pytest_vlmbench.evaluate` returns, what the plugin stores
in ``benchmark.extra_info["vlmbench"]`` and ``--vlmbench-json``, and what the gate,
``vlmbench compare`` and the terminal summary read back. Everything else reads it by
attribute, so a renamed field is a type error, not a silently missing key.

JSON: :meth:`Record.to_json` writes the schema-2 layout documented in docs/results.md;
:meth:`Record.from_json` reads it back, and reads schema-1 records as schema 2 (their task
told from the class names, NER tags split into lists), and raises :class:`RecordError` with
one sentence naming the first bad field. ``Record.from_json(r.to_json()) == r`` for every
record, and for a record written by this version ``Record.from_json(d).to_json() == d``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .jsonio import FLATTEN, OMIT_IF_NONE, Reader, RecordError, dump_dataclass, plain_json
from .cost import Cost, Energy
from .model_info import ModelInfo
from .ner import NerScores
from .training import Training
from .tokens import Tokens

__all__ = [  # re-exported by the package
    "READABLE_SCHEMAS", "SCHEMA_VERSION", "TASKS", "ClassScores", "Confusion", "Cost", "Energy", "Label", "LatencyMs",
    "Memory", "Metrics", "Prediction", "label_text",
    "Record", "RecordConfig", "RecordError", "Throughput", "Tokens", "Unreadable", "check_schema", "plain_json",
]  # fmt: skip

SCHEMA_VERSION = 2
"""Version of the record layout. Bump it only for a change that old readers would misread.

2: the record names its ``task``; a NER record's labels and predictions are lists of tags
(schema 1 joined them with spaces and left the task to be guessed from the class names)."""

READABLE_SCHEMAS = (1, 2)
"""Layouts :meth:`Record.from_json` reads; older ones are converted to this version's on reading."""

TASKS = ("classification", "ner")
"""What a record's ``task`` may say (the task objects themselves are :mod:`pytest_vlmbench.tasks`)."""

Label = str | tuple[str, ...]
"""An item's gold answer: a class name (classification), or one tag per token (NER)."""


def label_text(label: Label) -> str:
    """A label as people read it: the class name, or (NER) the tags separated by spaces."""
    return label if isinstance(label, str) else " ".join(label)


def check_schema(value: Any, where: str) -> None:
    """:class:`RecordError` unless ``value`` (a ``schema`` entry read from ``where``) is one this version reads."""
    if value not in READABLE_SCHEMAS:
        raise RecordError(
            f"{where} holds vlmbench schema {value!r} results, but this pytest-vlmbench reads "
            f"schema {', '.join(map(str, READABLE_SCHEMAS))}; re-create it with this version."
        )


def _is_tag_set(classes: Sequence[str]) -> bool:
    """Schema 1 only: IOB tags (``O``, ``B-X``, ``I-X``) as classes mark a NER record, which that layout did not name."""
    return "O" in classes and all(c == "O" or c[:2] in ("B-", "I-") for c in classes)


def _label(value: Any, r: Reader, key: str, tags: bool) -> Label:
    """A label (or prediction) as read: a tag list for NER (schema 1: the tags joined by spaces), else a class name."""
    if tags:
        if isinstance(value, str):
            return tuple(value.split(" "))
        if isinstance(value, list) and all(isinstance(t, str) for t in value):
            return tuple(value)
        raise r._fail(key, "a list of tags")
    if not isinstance(value, str):
        raise r._fail(key, "a class name")
    return value


@dataclass(frozen=True)
class Metrics:
    """Quality over the scored items; an invalid answer counts as wrong (docs/results.md)."""

    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    invalid_rate: float
    """Share of items whose answer named no class."""
    classes_without_items: tuple[str, ...] = ()
    """Classes with no evaluated item (e.g. under ``--limit``), left out of the macro averages;
    absent from the JSON when there are none."""

    @classmethod
    def from_json(cls, r: Reader) -> Metrics:
        rates = {f.name: r.num(f.name) for f in fields(cls) if f.name != "classes_without_items"}
        return cls(**rates, classes_without_items=r.strings("classes_without_items"))


@dataclass(frozen=True)
class ClassScores:
    """One row of the per-class report."""

    precision: float
    recall: float
    f1: float
    support: int
    """Items whose true class this is."""

    @classmethod
    def from_json(cls, r: Reader) -> ClassScores:
        return cls(r.num("precision"), r.num("recall"), r.num("f1"), r.whole("support"))


@dataclass(frozen=True)
class Confusion:
    """Counts of (true class, answer); the last column counts invalid answers."""

    rows: tuple[str, ...]
    columns: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]

    @classmethod
    def from_json(cls, r: Reader) -> Confusion:
        return cls(r.strings("rows"), r.strings("columns"), tuple(tuple(int(v) for v in row) for row in r.array("matrix")))


@dataclass(frozen=True)
class LatencyMs:
    """Per-batch latency in milliseconds."""

    mean: float
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def from_json(cls, r: Reader) -> LatencyMs:
        return cls(*(r.num(f.name) for f in fields(cls)))


@dataclass(frozen=True)
class Throughput:
    """Speed of the evaluation (model load excluded from items/s)."""

    items_per_s: float
    wall_s: float
    model_time_s: float
    """Seconds inside the model's calls (CUDA-synchronised)."""
    n_batches: int
    n_requests: int
    """Prompts sent: items x permutations for closed_set, questions asked for binary."""
    batch_latency_ms: LatencyMs
    model_load_s: float | None
    oom_retries: int | None = field(default=None, metadata=OMIT_IF_NONE)
    """Times a batch was halved after running out of accelerator memory."""
    final_batch_size: int | None = field(default=None, metadata=OMIT_IF_NONE)
    cache_hits: int | None = field(default=None, metadata=OMIT_IF_NONE)
    """Prompts answered from the answer cache instead of the model; present when the cache was read."""

    @property
    def resumed(self) -> bool:
        """Some answers came from an earlier run's cache (``--vlmbench-resume``, ``--vlmbench-cache read*``)."""
        return bool(self.cache_hits)

    @classmethod
    def from_json(cls, r: Reader) -> Throughput:
        return cls(
            r.num("items_per_s"), r.num("wall_s"), r.num("model_time_s"), r.whole("n_batches"), r.whole("n_requests"),
            LatencyMs.from_json(r.obj("batch_latency_ms")), r.opt_num("model_load_s"),
            r.opt_whole("oom_retries"), r.opt_whole("final_batch_size"), r.opt_whole("cache_hits"),
        )  # fmt: skip


@dataclass(frozen=True)
class Memory:
    """Memory high-water marks; the CUDA ones only on CUDA."""

    device: str
    peak_rss_mb: float
    """The process's peak resident set size: a high-water mark for the whole process."""
    gpu_name: str | None = field(default=None, metadata=OMIT_IF_NONE)
    torch_peak_mb: float | None = field(default=None, metadata=OMIT_IF_NONE)
    torch_peak_reserved_mb: float | None = field(default=None, metadata=OMIT_IF_NONE)
    nvml_peak_mb: float | None = field(default=None, metadata=OMIT_IF_NONE)

    @property
    def peak_mb(self) -> float:
        """The one rule for "peak memory": torch's peak on CUDA (what the model needed), else the process's RSS."""
        return self.torch_peak_mb if self.torch_peak_mb is not None else self.peak_rss_mb

    @classmethod
    def from_json(cls, r: Reader) -> Memory:
        return cls(
            r.text("device", ""), r.num("peak_rss_mb"), r.opt_text("gpu_name"), r.opt_num("torch_peak_mb"),
            r.opt_num("torch_peak_reserved_mb"), r.opt_num("nvml_peak_mb"),
        )  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    """What was decided for one item, with the raw answers behind it."""

    id: str
    """The item's stable id: predictions are paired across runs by it."""
    label: Label
    """The gold class, or (NER) the gold tag of each token."""
    prediction: Label | None
    """The predicted class (NER: tags); ``None`` when no answer named a class (NER: could not be parsed)."""
    correct: bool
    answers: tuple[str, ...]
    detail: Mapping[str, Any] = field(default_factory=dict, metadata=FLATTEN)
    """Strategy-specific: closed_set's ``orders`` and ``votes``, binary's ``questions`` and ``fallback``."""
    tokens: Tokens | None = field(default=None, metadata=OMIT_IF_NONE)
    """The item's tokens, when the adapter counts them (:mod:`~pytest_vlmbench.tokens`)."""

    @classmethod
    def from_json(cls, r: Reader, tags: bool = False) -> Prediction:
        """One prediction; ``tags``: of a NER record (labels and predictions are tag lists)."""
        known = {"id", "label", "prediction", "correct", "answers", "tokens"}
        correct = r.data.get("correct")
        if not isinstance(correct, bool):
            raise r._fail("correct", "true or false")
        predicted = r.data.get("prediction")
        return cls(
            str(r.data.get("id")), _label(r.data.get("label"), r, "label", tags),
            None if predicted is None else _label(predicted, r, "prediction", tags), correct,
            tuple(str(a) for a in r.array("answers")),
            {k: v for k, v in r.data.items() if k not in known}, Tokens.from_json(t) if (t := r.opt_obj("tokens")) else None,
        )  # fmt: skip


@dataclass(frozen=True)
class Unreadable:
    """An item left out of the metrics because its input could not be read (a corrupt image)."""

    id: str
    error: str

    @classmethod
    def from_json(cls, r: Reader) -> Unreadable:
        return cls(str(r.data.get("id")), r.text("error", ""))


@dataclass(frozen=True)
class RecordConfig:
    """Everything besides model and data that the result depends on: the baseline matching key.

    The strategy-specific fields are ``None`` (and absent from the JSON) for strategies
    that have no such setting; keys this version does not know are kept in ``extra``.
    """

    seed: int
    permutations: int | None = field(default=None, metadata=OMIT_IF_NONE)
    question_order: str | None = field(default=None, metadata=OMIT_IF_NONE)
    prompt_template: str | None = field(default=None, metadata=OMIT_IF_NONE)
    """The template exactly as sent, with its ``{placeholders}``."""
    answer_style: str | None = field(default=None, metadata=OMIT_IF_NONE)
    exemplar_ids: tuple[str, ...] | None = field(default=None, metadata=OMIT_IF_NONE)
    exemplar_template: str | None = field(default=None, metadata=OMIT_IF_NONE)
    batch_size: int = 8
    max_new_tokens: int = 8
    limit: int | None = None
    num_classes: int | None = None
    per_class: int | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict, metadata=FLATTEN)
    """Config keys this version does not know (written by a newer version or a custom strategy)."""

    NOT_IN_KEY = ("versions", "batch_size")
    """Left out of the matching key: library versions are what a nightly gate exists to
    catch changing, and the batch size changes speed, not which answer an item gets."""

    @classmethod
    def build(cls, strategy_fields: Mapping[str, Any], **common: Any) -> RecordConfig:
        """From a strategy's described settings plus the common ones; unknown keys go to ``extra``."""
        known = {f.name for f in fields(cls)} - {"extra"}
        merged = {**strategy_fields, **common}
        values = {k: v for k, v in merged.items() if k in known}
        if values.get("exemplar_ids") is not None:
            values["exemplar_ids"] = tuple(str(i) for i in values["exemplar_ids"])
        return cls(**values, extra={k: v for k, v in merged.items() if k not in known})

    @classmethod
    def from_json(cls, r: Reader) -> RecordConfig:
        try:
            config = cls.build(r.data)
        except TypeError as exc:  # a known field of the wrong kind surfaces in __init__ or below
            raise RecordError(f"{r.where}: 'config' is malformed ({exc}).") from None
        r.whole("seed")  # the one field every strategy records
        for name in ("batch_size", "max_new_tokens"):
            if name in r.data:
                r.whole(name)
        return config

    def key_json(self) -> dict[str, Any]:
        """The config as it enters the matching key."""
        return {k: v for k, v in dump_dataclass(self).items() if k not in self.NOT_IN_KEY}


@dataclass(frozen=True)
class Record:
    """One (model, dataset, strategy[, class count, seed]) evaluation."""

    model: str
    """The model's name as the item id shows it (``tiny:qwen2-vl``, ``qwen2-vl``)."""
    dataset: str
    strategy: str
    config: RecordConfig
    metrics: Metrics
    throughput: Throughput
    memory: Memory
    predictions: tuple[Prediction, ...]
    schema: int = SCHEMA_VERSION
    task: str = "classification"
    """What was evaluated: ``classification`` (one class per item) or ``ner`` (one tag per token): :data:`TASKS`."""
    model_info: ModelInfo = field(default_factory=ModelInfo)
    """Facts from the adapter: resolved source, family, architecture, device, dtype, parameters."""
    dataset_source: str = ""
    n_items: int = 0
    """Items scored (unreadable ones excluded)."""
    n_errors: int = 0
    errors: tuple[Unreadable, ...] = ()
    classes: tuple[str, ...] = ()
    background_class: str | None = None
    dataset_fingerprint: Mapping[str, Any] | None = None
    """Beside ``config``, not in it: a changed dataset must read as changed data, not as "no baseline"."""
    per_class: Mapping[str, ClassScores] = field(default_factory=dict)
    confusion: Confusion = Confusion((), (), ())
    energy: Energy | None = field(default=None, metadata=OMIT_IF_NONE)
    tokens: Tokens | None = field(default=None, metadata=OMIT_IF_NONE)
    """Tokens of the whole evaluation, when the adapter counts them (per item: ``Prediction.tokens``)."""
    model_load_id: str | None = field(default=None, metadata=OMIT_IF_NONE)
    """Which load of the model served this item (``pid-random``): equal ids, one load."""
    options: Mapping[str, Any] | None = field(default=None, metadata=OMIT_IF_NONE)
    """The run's options (``RunOptions.as_json()``), written by the session."""
    training: Training | None = field(default=None, metadata=OMIT_IF_NONE)
    """How the evaluated classifier was trained (finetune, linear_probe): :mod:`.training`."""
    ner: NerScores | None = field(default=None, metadata=OMIT_IF_NONE)
    """Entity-level scores of a NER run (seqeval, strict IOB2): :mod:`.ner`."""
    cost: Cost | None = field(default=None, metadata=OMIT_IF_NONE)
    """US dollars, when the run was given a price (:mod:`.cost`, :mod:`pytest_vlmbench.evaluation.pricing`)."""

    # -- identity -------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """A short human name for the case: ``model dataset strategy``."""
        return f"{self.model} {self.dataset} {self.strategy}"

    def match_key(self) -> str:
        """What must be equal for two records to be the same case, as canonical JSON.

        Model, dataset, strategy and the config except :attr:`RecordConfig.NOT_IN_KEY`.
        Node ids are not part of it: renaming a test does not lose its baseline.
        """
        key = {"model": self.model, "dataset": self.dataset, "strategy": self.strategy, "config": self.config.key_json()}
        return json.dumps(key, sort_keys=True, default=str)

    def case_name(self, with_seed: bool = True) -> str:
        """The case as its item id names it: ``model-dataset[-Ncls]-strategy[-seedS]``."""
        options = self.options or {}
        dataset = self.dataset + (f"-{len(self.classes)}cls" if options.get("num_classes") else "")
        name = f"{self.model}-{dataset}-{self.strategy}"
        if with_seed and len(options.get("seeds", ())) > 1:
            name += f"-seed{self.config.seed}"
        return name

    @property
    def device(self) -> str:
        """The device the model ran on (``cpu``, ``cuda:0`` ...), from the adapter, else the meter."""
        return str(self.model_info.device or self.memory.device or "")

    @property
    def gpu_name(self) -> str | None:
        value = self.memory.gpu_name or self.model_info.gpu_name
        return str(value) if value else None

    # -- JSON -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The plain-JSON record (schema 2): what the files hold."""
        out = dump_dataclass(self)
        # The layout predates this class: keep the keys in the order readers have seen.
        order = ("schema", "model", "model_info", "dataset", "dataset_source", "strategy", "task", "n_items", "n_errors",
                 "errors", "classes", "background_class", "dataset_fingerprint", "config", "metrics", "per_class",
                 "confusion", "throughput", "memory", "tokens", "predictions", "energy", "cost", "model_load_id", "options", "training", "ner")  # fmt: skip
        if not self.metrics.classes_without_items:
            del out["metrics"]["classes_without_items"]  # optional: records without it read the same
        return {k: out[k] for k in order if k in out}

    @classmethod
    def from_json(cls, data: Any, where: str = "record") -> Record:
        """Read a record; :class:`RecordError` names ``where`` and the first bad field."""
        r = Reader(data, where)
        schema = r.data.get("schema")
        check_schema(schema, where)
        classes = r.strings("classes")
        task = r.text("task") if schema != 1 else "ner" if _is_tag_set(classes) else "classification"
        if task not in TASKS:
            raise r._fail("task", f"one of {', '.join(TASKS)}")
        energy = r.opt_obj("energy")
        per_class = r.obj("per_class") if "per_class" in r.data else None
        confusion = r.obj("confusion") if "confusion" in r.data else None
        return cls(
            model=r.text("model"),
            dataset=r.text("dataset"),
            strategy=r.text("strategy"),
            config=RecordConfig.from_json(r.obj("config")),
            metrics=Metrics.from_json(r.obj("metrics")),
            throughput=Throughput.from_json(r.obj("throughput")),
            memory=Memory.from_json(r.obj("memory")),
            predictions=tuple(
                Prediction.from_json(Reader(p, where, f"predictions[{i}]"), tags=task == "ner") for i, p in enumerate(r.array("predictions"))
            ),
            task=task,
            model_info=ModelInfo.from_json(info) if (info := r.opt_obj("model_info")) is not None else ModelInfo(),
            dataset_source=r.text("dataset_source", ""),
            n_items=r.whole("n_items", 0),
            n_errors=r.whole("n_errors", 0),
            errors=tuple(Unreadable.from_json(Reader(e, where, f"errors[{i}]")) for i, e in enumerate(r.array("errors"))),
            classes=classes,
            background_class=r.opt_text("background_class"),
            dataset_fingerprint=r.mapping("dataset_fingerprint") if r.data.get("dataset_fingerprint") is not None else None,
            per_class={k: ClassScores.from_json(per_class.obj(k)) for k in per_class.data} if per_class else {},
            confusion=Confusion.from_json(confusion) if confusion else Confusion((), (), ()),
            energy=Energy.from_json(energy) if energy else None,
            tokens=Tokens.from_json(tokens) if (tokens := r.opt_obj("tokens")) else None,
            model_load_id=r.opt_text("model_load_id"),
            options=r.mapping("options") if r.data.get("options") is not None else None,
            training=Training.from_json(training) if (training := r.opt_obj("training")) else None,
            ner=NerScores.from_json(ner) if (ner := r.opt_obj("ner")) else None,
            cost=Cost.from_json(cost) if (cost := r.opt_obj("cost")) else None,
        )
