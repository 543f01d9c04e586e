"""The pytest plugin: options, item generation, the model and evaluation fixtures, JSON, summary.

Thin by design: everything that computes lives in the library (``runner.evaluate``).
Importing this module imports neither torch nor transformers; the model fixture does,
when the first model is actually loaded.

How items are made: a test function that asks for the ``vlmbench`` fixture is parametrized
by ``pytest_generate_tests`` over (model, dataset, strategy). The model parameter feeds a
*session-scoped* fixture, so pytest groups the items of one model together, loads it once,
and tears it down (releasing GPU memory) before the next model's first item.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..models import catalog
from ..strategies.catalog import STRATEGIES
from . import gate as gate_plugin, hookspec
from ..options import OptionError, RunOptions, build_options, check_device_available, parse_label_map, split_names
from ..session.summary import seed_spread, spread_lines, summary_lines

if TYPE_CHECKING:
    from ..models.base import ModelSpec

RECORD_KEY = "vlmbench"
"""Key of the record in ``benchmark.extra_info``, in ``user_properties`` and in the JSON."""


@dataclass(frozen=True)
class Case:
    """One parametrized item."""

    model: str
    dataset: str
    strategy: str
    seed: int = 0
    show_seed: bool = False
    """Put the seed in the id: only when several seeds run, so single-seed ids stay short and stable."""
    num_classes: int | None = None
    """A --num-classes subset (a sweep point); in the id as ``DATASET-21cls``."""

    @property
    def id(self) -> str:
        from ..datasets.catalog import case_label

        base = f"{self.model}-{case_label(self.dataset, self.num_classes)}-{self.strategy}"
        return f"{base}-seed{self.seed}" if self.show_seed else base


@dataclass
class LoadedModel:
    name: str
    model: Any = None
    load_s: float | None = None
    load_id: str = ""
    error: str | None = None


@dataclass
class SessionState:
    options: RunOptions
    json_path: Path | None = None
    datasets: dict[str, Any] = field(default_factory=dict)
    """Loaded datasets (or the error message for one that failed), by name."""
    entries: list[dict[str, Any]] = field(default_factory=list)
    """One pytest-benchmark-shaped entry per evaluated item, from reports: in-process and from xdist workers alike."""
    produced_strategies: set[str] = field(default_factory=set)
    """Strategies of the collected cases, to explain an explicit --strategy that fits no model."""
    model_strategies: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def records(self) -> list[dict[str, Any]]:
        return [entry["extra_info"][RECORD_KEY] for entry in self.entries]


STATE = pytest.StashKey[SessionState]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlmbench", "vlmbench: model benchmarks on classification tasks")
    group.addoption(
        "--model", action="append", default=[], metavar="NAME",
        help="Model(s) to evaluate: a registry name or alias, tiny:NAME, or a local model directory. "
        "Repeat or separate with commas. Default: the suite's models, else tiny:qwen2-vl.",
    )  # fmt: skip
    group.addoption("--dataset", action="append", default=[], metavar="NAME", help="Dataset(s) to evaluate on (repeatable, comma-separated).")
    group.addoption("--strategy", action="append", default=[], metavar="NAME", help="Strategy(ies): closed_set, binary (generative models), direct (classifiers); repeatable, comma-separated.")
    group.addoption("--limit", type=int, default=None, metavar="N", help="Evaluate at most N items per dataset (the first N).")
    group.addoption("--seed", action="append", default=[], metavar="N", help="Seed(s) for class and question orders (default 0); several (0,1,2) give one item per seed and their mean and std.")
    group.addoption("--batch-size", type=int, default=8, metavar="N", help="Prompts per model call (default 8).")
    group.addoption("--permutations", type=int, default=3, metavar="P", help="closed_set: times each item is asked with shuffled classes (default 3).")
    group.addoption("--max-new-tokens", type=int, default=None, metavar="N", help="Tokens generated per answer (default 8; 32 with --answer-style json).")
    group.addoption("--answer-style", default="plain", metavar="STYLE", help="plain (default): free-text answers, parsed; json: the prompt asks for {\"answer\": ...} and anything else is invalid.")
    group.addoption("--device", default="auto", metavar="DEV", help="auto (default), cpu, cuda or cuda:N.")
    group.addoption("--dtype", default="auto", metavar="DTYPE", help="auto (default), bfloat16, float16 or float32.")
    group.addoption("--trust-remote-code", action="store_true", default=False, help="Allow models whose code lives on the hub (off by default).")
    group.addoption("--label-map", default="", metavar="LABEL=CLASS,...", help="Classifier heads: map the model's id2label names to the dataset's classes.")
    group.addoption("--api-base", default=None, metavar="URL", help="OpenAI-compatible API base URL (default $OPENAI_BASE_URL, else api.openai.com/v1).")
    group.addoption("--api-key-env", default="OPENAI_API_KEY", metavar="VAR", help="Environment variable that holds the API key (default OPENAI_API_KEY); the key is never recorded.")
    group.addoption("--api-concurrency", type=int, default=4, metavar="N", help="API requests in flight at once (default 4).")
    dataset_options(group)
    group.addoption("--vlmbench-json", default=None, metavar="PATH", help="Also write all records to PATH (works without pytest-benchmark and under xdist).")
    gate_plugin.add_options(parser)


def dataset_options(group: Any) -> None:
    """--split, the column names, class subsets and sweeps (docs/datasets.md)."""
    group.addoption("--split", default=None, metavar="NAME", help="Dataset split to evaluate (default: test, else validation, else train).")
    group.addoption("--text-column", default=None, metavar="COL", help="Text column of a table / hub dataset (default: detected).")
    group.addoption("--image-column", default=None, metavar="COL", help="Image column: an Image feature or file paths (default: detected).")
    group.addoption("--label-column", default=None, metavar="COL", help="Label column (default: the ClassLabel, else 'label').")
    group.addoption("--num-classes", action="append", default=[], metavar="N[,N...]", help="Evaluate N seeded classes (background kept); several (10,25,50) give one item per count.")
    group.addoption("--per-class", type=int, default=None, metavar="K", help="At most K items per class, seeded and balanced.")
    group.addoption("--background-class", default=None, metavar="NAME", help="The catch-all class: always kept in subsets, never asked about by binary.")
    group.addoption("--k-shot", type=int, default=0, metavar="K", help="Prompting strategies on text: show K labelled exemplars per class before each prompt (default 0, zero-shot).")
    group.addoption("--exemplar-split", default=None, metavar="NAME", help="Split the k-shot exemplars come from (default: K per class held out of the evaluated split).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "vlmbench(models=None, datasets=None, strategies=None, modality=None): the default models, "
        "datasets and strategies of a benchmark suite (--model/--dataset/--strategy override them), "
        "and the data it is for ('image' or 'text'), which --dataset cannot override.",
    )
    try:
        options = build_options(
            models=config.getoption("model"),
            datasets=config.getoption("dataset"),
            strategies=config.getoption("strategy"),
            limit=config.getoption("limit"),
            seeds=config.getoption("seed"),
            batch_size=config.getoption("batch_size"),
            permutations=config.getoption("permutations"),
            max_new_tokens=config.getoption("max_new_tokens"),
            answer_style=config.getoption("answer_style"),
            device=config.getoption("device"),
            dtype=config.getoption("dtype"),
            trust_remote_code=config.getoption("trust_remote_code"),
            split=config.getoption("split"),
            text_column=config.getoption("text_column"),
            image_column=config.getoption("image_column"),
            label_column=config.getoption("label_column"),
            num_classes=config.getoption("num_classes"),
            per_class=config.getoption("per_class"),
            background_class=config.getoption("background_class"),
            k_shot=config.getoption("k_shot"),
            exemplar_split=config.getoption("exemplar_split"),
        )
        parse_label_map(config.getoption("label_map"))  # checked here, used at load time
        if not config.getoption("collectonly"):
            check_device_available(options.device)
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    _default_offline(options)
    json_path = config.getoption("vlmbench_json")
    state = SessionState(options=options, json_path=Path(json_path) if json_path else None)
    config.stash[STATE] = state
    config.pluginmanager.register(RecordCollector(state), "vlmbench-records")
    config.pluginmanager.register(gate_plugin.GatePlugin(config), "vlmbench-gate")


def _default_offline(options: RunOptions) -> None:
    """Keep the hubs offline unless a selected model or dataset may need them.

    The default run, ``tiny:`` models, local directories and the built-in datasets never
    need the network, so nothing should even try it (and hang on a machine without one).
    The variables are read when huggingface_hub / datasets are imported, which happens
    later, at the first model or dataset load.
    """
    if all(m.startswith(catalog.TINY_PREFIX) or os.path.isdir(m) for m in options.models):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ..datasets.catalog import spec_is_offline

    if all(spec_is_offline(d) for d in options.datasets):
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def _marker_names(metafunc: pytest.Metafunc, key: str) -> tuple[str, ...]:
    marker = metafunc.definition.get_closest_marker("vlmbench")
    if marker is None:
        return ()
    value = marker.kwargs.get(key)
    return split_names([value] if isinstance(value, str) else value)


def fits_suite(suite_modality: str | None, dataset_modality: str | None, model_modalities: frozenset[str]) -> bool:
    """Whether a dataset belongs in a suite declared for ``image`` or ``text`` data.

    An image suite takes every dataset with images (``image+text`` posts included), a text
    suite only text-only datasets, so that ``--dataset`` given to a run of several suites
    does not evaluate the same case twice. A path or hub id, whose modality is known only
    once loaded, goes to the suites of the model's modalities.
    """
    if suite_modality is None:
        return True
    if dataset_modality is None:
        return suite_modality in model_modalities
    if suite_modality == "text":
        return dataset_modality == "text"
    return suite_modality in dataset_modality.split("+")


def suite_cases(metafunc: pytest.Metafunc, options: RunOptions) -> tuple[list[Case], list[ModelSpec]]:
    """The (model, dataset, strategy) combinations for one suite function, grouped by model,
    and the specs of the selected models (cases or not)."""
    from ..datasets.builtin import default_image_dataset
    from ..datasets.catalog import canonical_spec, spec_modality

    models = options.models or _marker_names(metafunc, "models") or catalog.DEFAULT_MODELS
    datasets = options.datasets or _marker_names(metafunc, "datasets") or (default_image_dataset(),)
    # Canonical names, so a marker's aliases ("yes-no") select like the command line's.
    strategies = tuple(STRATEGIES.get(s).name for s in options.strategies or _marker_names(metafunc, "strategies"))
    marker = metafunc.definition.get_closest_marker("vlmbench")
    suite_modality = marker.kwargs.get("modality") if marker is not None else None
    if suite_modality not in (None, "image", "text"):
        raise ValueError(f"the vlmbench marker's modality must be 'image' or 'text', not {suite_modality!r}")
    cases = []
    specs = [catalog.resolve_model(model) for model in models]
    for spec in specs:
        for dataset in datasets:
            modality = spec_modality(dataset)  # None for a path or hub id: known only once loaded
            if modality is not None and not any(part in spec.modalities for part in modality.split("+")):
                continue  # e.g. a text-only model on an image dataset
            if not fits_suite(suite_modality, modality, spec.modalities):
                continue  # e.g. an image dataset given with --dataset, seen by the text suite
            for strategy in strategies or spec.strategies:
                if strategy in spec.strategies:
                    for num_classes in options.num_classes or (None,):
                        for seed in options.seeds:
                            cases.append(
                                Case(spec.name, canonical_spec(dataset), strategy, seed, len(options.seeds) > 1, num_classes)
                            )
    return cases, specs


def adapter_options(config: pytest.Config) -> dict[str, Any]:
    """The adapter-specific load options (classifier label map, API endpoint) as LoadOptions fields."""
    return {
        "label_map": parse_label_map(config.getoption("label_map")),
        "api_base": config.getoption("api_base"),
        "api_key_env": config.getoption("api_key_env"),
        "api_concurrency": config.getoption("api_concurrency"),
    }


def check_strategies_fit(options: RunOptions, produced: set[str], models: dict[str, tuple[str, ...]]) -> None:
    """An explicit ``--strategy`` that no selected model supports is a usage error, with the reason."""
    for strategy in options.strategies:
        if strategy in produced or not models:
            continue
        supported = "; ".join(f"{name} supports {', '.join(s)}" for name, s in models.items())
        raise pytest.UsageError(
            f"--strategy {strategy} fits none of the selected models ({supported}): prompting strategies need a "
            f"generative model, and direct needs a classifier (a head, CLIP/SigLIP or sentence embeddings)."
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None:
        check_strategies_fit(state.options, state.produced_strategies, state.model_strategies)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vlmbench_model" not in metafunc.fixturenames:
        return
    options = metafunc.config.stash[STATE].options
    try:
        cases, specs = suite_cases(metafunc, options)
    except Exception as exc:  # a bad name in a suite's marker: say where
        # CollectError is shown as its message alone: one sentence, no traceback.
        raise pytest.Collector.CollectError(f"{metafunc.definition.nodeid}: {exc}") from None
    state = metafunc.config.stash[STATE]
    state.produced_strategies.update(c.strategy for c in cases)
    state.model_strategies.update((spec.name, spec.strategies) for spec in specs)
    metafunc.parametrize(
        ("vlmbench_model", "vlmbench_case"),
        [(c.model, c) for c in cases],
        indirect=["vlmbench_model"],
        ids=[c.id for c in cases],
        scope="session",
    )


@pytest.fixture(scope="session")
def vlmbench_model(request: pytest.FixtureRequest) -> Iterator[LoadedModel]:
    """The model named by the item's parameter, loaded once and closed after its last item."""
    from ..models.base import LoadOptions

    options = request.config.stash[STATE].options
    name: str = request.param
    loaded = LoadedModel(name=name, load_id=f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        spec = catalog.resolve_model(name)
        loaded.model, loaded.load_s = catalog.load_model(
            spec,
            LoadOptions(
                device=options.device,
                dtype=options.dtype,
                trust_remote_code=options.trust_remote_code,
                **adapter_options(request.config),
            ),
        )
    except Exception as exc:  # noqa: BLE001 - reported on each of the model's items instead
        loaded.error = f"Model {name!r} could not be loaded: {type(exc).__name__}: {exc}"
    yield loaded
    if loaded.model is not None:
        loaded.model.close()
        loaded.model = None


class Evaluation:
    """What a suite's test receives: ``vlmbench.run()`` evaluates and returns the record."""

    def __init__(self, request: pytest.FixtureRequest, loaded: LoadedModel, case: Case) -> None:
        self._request = request
        self._loaded = loaded
        self.case = case
        self.record: dict[str, Any] | None = None

    def _dataset(self, k_shot: int) -> tuple[Any, tuple[Any, ...]]:
        """The item's dataset and its k-shot exemplars (loaded once per spec and options)."""
        from ..datasets.base import DatasetError
        from ..datasets.resolve import DatasetOptions, with_exemplars

        options = self._request.config.stash[STATE].options
        dataset_options = DatasetOptions(
            split=options.split,
            text_column=options.text_column,
            image_column=options.image_column,
            label_column=options.label_column,
            num_classes=self.case.num_classes,
            per_class=options.per_class,
            background_class=options.background_class,
            seed=self.case.seed,  # the class subset is drawn with the item's seed
        )
        cache = self._request.config.stash[STATE].datasets
        key = f"{self.case.dataset}|{dataset_options}|k={k_shot}|{options.exemplar_split}"
        if key not in cache:
            try:
                cache[key] = with_exemplars(self.case.dataset, dataset_options, k_shot, options.exemplar_split)
            except DatasetError as exc:
                cache[key] = str(exc)
        value = cache[key]
        if isinstance(value, str):
            pytest.fail(value, pytrace=False)
        dataset, exemplars = value
        return dataset, exemplars

    def run(self) -> dict[str, Any]:
        """Evaluate the item's model on its dataset with its strategy (once), record and return it."""
        from ..evaluation.evaluate import AdapterError, EvalConfig, evaluate
        from ..strategies.prompting import StrategyConfig

        if self._loaded.error:
            pytest.fail(self._loaded.error, pytrace=False)
        options = self._request.config.stash[STATE].options
        # k-shot exemplars go into prompts; a direct classifier has none, so it keeps every item.
        prompting = STRATEGIES.get(self.case.strategy).meta.get("needs") == "generate"
        dataset, exemplars = self._dataset(options.k_shot if prompting else 0)
        config = EvalConfig(
            strategy=StrategyConfig(
                seed=self.case.seed,
                permutations=options.permutations,
                exemplars=exemplars,
                answer_style=options.answer_style,
            ),
            batch_size=options.batch_size,
            max_new_tokens=options.max_new_tokens,
            limit=options.limit,
        )

        def run_once() -> dict[str, Any]:
            return evaluate(self._loaded.model, dataset, self.case.strategy, config, model_load_s=self._loaded.load_s)

        benchmark = self._benchmark_fixture()
        try:
            record = benchmark.pedantic(run_once, rounds=1, iterations=1) if benchmark is not None else run_once()
        except AdapterError as exc:  # a model that breaks the adapter contract: one sentence, no traceback
            pytest.fail(str(exc), pytrace=False)
        record["model_load_id"] = self._loaded.load_id
        record["model"] = self.case.model
        record["options"] = options.as_json()
        if benchmark is not None:
            benchmark.extra_info[RECORD_KEY] = record  # mutate: pytest-benchmark keeps a reference
        item = self._request.node
        item.user_properties.append((RECORD_KEY, json.dumps(record)))
        self.record = record
        item.config.hook.pytest_vlmbench_evaluated(item=item, record=record)
        return record

    def _benchmark_fixture(self) -> Any:
        if not self._request.config.pluginmanager.hasplugin("benchmark"):
            return None  # -p no:benchmark: run once, plainly
        return self._request.getfixturevalue("benchmark")


@pytest.fixture
def vlmbench(request: pytest.FixtureRequest, vlmbench_model: LoadedModel, vlmbench_case: Case) -> Evaluation:
    """One (model, dataset, strategy) evaluation; call ``.run()`` in the test."""
    return Evaluation(request, vlmbench_model, vlmbench_case)


def _record_from_report(report: pytest.TestReport) -> dict[str, Any] | None:
    for key, value in report.user_properties:
        if key == RECORD_KEY and isinstance(value, str):
            record: dict[str, Any] = json.loads(value)
            return record
    return None


class RecordCollector:
    """Collects records from test reports, so they arrive from xdist workers too."""

    def __init__(self, state: SessionState) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        record = _record_from_report(report)
        if record is None:
            return
        self.state.entries.append(
            {
                "name": report.nodeid.split("::")[-1],
                "fullname": report.nodeid,
                "outcome": report.outcome,
                "extra_info": {RECORD_KEY: record},
            }
        )


def top_level_block(state: SessionState) -> dict[str, Any]:
    """The ``vlmbench`` key at the top of the JSON: schema, options, per-model loads."""
    from ..evaluation.evaluate import SCHEMA_VERSION

    models: dict[str, dict[str, Any]] = {}
    for record in state.records:
        info = models.setdefault(record["model"], {"load_ids": [], "load_s": []})
        if record.get("model_load_id") not in info["load_ids"]:
            info["load_ids"].append(record.get("model_load_id"))
            info["load_s"].append(record["throughput"].get("model_load_s"))
    return {
        "schema": SCHEMA_VERSION,
        "options": state.options.as_json(),
        "models": {name: {"loads": len(v["load_ids"]), "load_s": v["load_s"]} for name, v in models.items()},
        "seed_spread": seed_spread(state.records),
    }


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        output_json[RECORD_KEY] = top_level_block(state)


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None or state.json_path is None or hasattr(session.config, "workerinput"):
        return
    from ..evaluation.evaluate import plain_json

    payload = {RECORD_KEY: top_level_block(state), "benchmarks": state.entries}
    state.json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = state.json_path.with_suffix(state.json_path.suffix + ".tmp")
    tmp.write_text(json.dumps(plain_json(payload), indent=2, allow_nan=False))
    tmp.replace(state.json_path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.records:
        return
    terminalreporter.section("vlmbench results")
    for line in summary_lines(state.records):
        terminalreporter.write_line(line)
    spread = seed_spread(state.records)
    if spread:
        terminalreporter.write_line("")
        terminalreporter.write_line("spread over seeds:")
        for line in spread_lines(spread):
            terminalreporter.write_line(line)
    if state.json_path is not None:
        terminalreporter.write_line(f"records written to {state.json_path}")
