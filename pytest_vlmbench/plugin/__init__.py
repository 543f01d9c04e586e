"""The pytest plugin: options, hooks and fixtures over the library's session layer.

Thin by design: planning is :mod:`pytest_vlmbench.session.plan`, running
:mod:`pytest_vlmbench.session.execution`, the JSON :mod:`pytest_vlmbench.session.sinks`.
Importing this module imports neither torch nor transformers; the model fixture does,
when the first model is actually loaded.

How items are made: a test function that asks for the ``vlmbench`` fixture is parametrized
by ``pytest_generate_tests`` over the planned cases. The model parameter feeds a
*session-scoped* fixture, so pytest groups the items of one model together, loads it once,
and tears it down (releasing GPU memory) before the next model's first item.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..models.base import LoadOptions
from ..evaluation.answer_cache import AnswerCache, AnswerCacheError
from ..options import (
    OptionError,
    RunOptions,
    add_pytest_options,
    check_device_available,
    read_cache_options,
    read_load_options,
    read_run_options,
)
from ..secrets import redact, redact_json, register_secret
from ..record import Record
from ..session.plan import Case, Plan, PlanError, Suite, offline_variables, plan_suite, strategy_misfit
from ..session.execution import CaseError, DatasetCache, LoadedModel, ModelLoader, run_case
from ..session.sinks import RECORD_KEY, RecordStore, writable_output
from ..session.pivot import pivot_lines
from ..session.summary import seed_spread, spread_lines, summary_lines
from . import hookspec
from .gate import GatePlugin
from .outputs import Outputs
from .report import register_report
from .progress import read_progress_mode, showing_progress
from .xdist import XdistHooks

MARKER_HELP = (
    "vlmbench(models=None, datasets=None, strategies=None, modality=None, question=None, prompt_template=None, "
    "max_invalid_rate=None): a suite's defaults (--model/--dataset/--strategy/--prompt-template override them), the data "
    "it is for ('image' or 'text', which --dataset cannot override) and the most invalid answers an item may give (a "
    "share, or a dict of them by strategy); docs/writing-suites.md."
)


@dataclass
class SessionState:
    """The run's state, kept in ``config.stash``."""

    options: RunOptions
    load_options: LoadOptions
    store: RecordStore
    outputs: Outputs
    answers: AnswerCache | None = None
    """The answer cache (``--vlmbench-cache``, ``--vlmbench-resume``), when one is open."""
    datasets: DatasetCache = field(default_factory=DatasetCache)
    plans: list[Plan] = field(default_factory=list)
    progress: str = "auto"  # --vlmbench-progress: auto, on or off (plugin/progress.py)


STATE = pytest.StashKey[SessionState]()



def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlmbench", "vlmbench: model benchmarks on classification tasks")
    add_pytest_options(group.addoption, parser.addini)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    try:
        options = read_run_options(config.getoption, config.getini)
        load_options = read_load_options(config.getoption, options)
        progress = read_progress_mode(config.getoption)
        if not config.getoption("collectonly"):
            check_device_available(options.device)
        # Checked before any model loads: a bad path must not cost a whole run.
        given = config.getoption("vlmbench_json")
        json_path = writable_output(given, "--vlmbench-json") if given else None
        if config.getoption("benchmark_json", None):  # pytest-benchmark's, when it is active
            writable_output(config.getoption("benchmark_json"), "--benchmark-json")
        cache = read_cache_options(config.getoption)
        # Opening creates the file: not for --collect-only. Default mode: write, so any run can be resumed.
        answers = None if config.getoption("collectonly") else AnswerCache.open(cache.mode, required=cache.explicit)
    except (OptionError, AnswerCacheError) as exc:
        raise pytest.UsageError(redact(str(exc))) from None
    register_secret(os.environ.get("HF_TOKEN"))  # never in a record, a message or a report
    store = RecordStore(options)
    outputs = Outputs(config, store, json_path)
    config.stash[STATE] = SessionState(options, load_options, store, outputs, answers, progress=progress)
    config.pluginmanager.register(outputs, "vlmbench-outputs")
    register_report(config, store)  # --vlmbench-report: the HTML report at session end
    config.pluginmanager.register(GatePlugin(config), "vlmbench-gate")
    if config.pluginmanager.hasplugin("xdist"):  # one worker per model, one GPU per worker
        config.pluginmanager.register(XdistHooks(config), "vlmbench-xdist")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vlmbench_model" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash[STATE]
    marker = metafunc.definition.get_closest_marker("vlmbench")
    try:
        plan = plan_suite(state.options, Suite.from_marker(marker.kwargs if marker else {}))
    except PlanError as exc:  # a bad name in a suite's marker: say where, in one sentence
        raise pytest.Collector.CollectError(f"{metafunc.definition.nodeid}: {exc}") from None
    state.plans.append(plan)
    grouped = metafunc.config.pluginmanager.hasplugin("xdist")
    params = [pytest.param(c.model, c, id=c.id, marks=[pytest.mark.xdist_group(c.model)] if grouped else []) for c in plan.cases]
    metafunc.parametrize(("vlmbench_model", "vlmbench_case"), params, indirect=["vlmbench_model"], scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A suite with no case for this selection (a model that reads only text meets only the
    # image suite) would show as a skipped "[NOTSET]" item: it is deselected instead.
    empty = [i for i in items if "vlmbench_model" in getattr(i, "fixturenames", ()) and "vlmbench_case" not in _params(i)]
    if empty:
        items[:] = [i for i in items if "vlmbench_case" in _params(i) or "vlmbench_model" not in getattr(i, "fixturenames", ())]
        config.hook.pytest_deselected(items=empty)


def _params(item: pytest.Item) -> dict[str, Any]:
    """The item's parameters when it is one of our cases; ``{}`` otherwise (a suite with no
    case for the selected models gets one item whose parameters pytest 9 fills with NOTSET)."""
    callspec = getattr(item, "callspec", None)
    params: dict[str, Any] = callspec.params if callspec is not None else {}
    return params if isinstance(params.get("vlmbench_case"), Case) else {}


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    misfit = strategy_misfit(state.options, state.plans)
    if misfit:
        raise pytest.UsageError(misfit)
    # Only now is it known what runs (after -k, -m and --lf): a session without our items
    # changes no environment.
    cases = [_params(item)["vlmbench_case"] for item in session.items if "vlmbench_case" in _params(item)]
    for name, value in offline_variables(cases).items():
        os.environ.setdefault(name, value)
    if cases and not session.config.getoption("collectonly"):
        state.outputs.start()


@pytest.fixture(scope="session")
def vlmbench_model(request: pytest.FixtureRequest) -> Iterator[LoadedModel]:
    """The model named by the item's parameter, loaded once and closed after its last item."""
    loader = ModelLoader(request.config.stash[STATE].load_options)
    loaded = loader.load(request.param)
    yield loaded
    loader.release(loaded)


class Evaluation:
    """What a suite's test receives: ``vlmbench.run()`` evaluates and returns the :class:`Record`."""

    def __init__(self, request: pytest.FixtureRequest, loaded: LoadedModel, case: Case) -> None:
        self._request = request
        self._loaded = loaded
        self.case = case
        self.record: Record | None = None

    def run(self) -> Record:
        """Evaluate the item's model on its dataset with its strategy (once), record and return it."""
        state = self._request.config.stash[STATE]
        benchmark = self._benchmark_fixture()
        failure = None
        try:
            with showing_progress(self._request.config, state.progress) as progress:
                if benchmark is None:  # -p no:benchmark: run once, plainly
                    record = run_case(self.case, self._loaded, state.options, state.datasets, answers=state.answers, progress=progress)
                else:
                    measure = lambda evaluation: benchmark.pedantic(evaluation, rounds=1, iterations=1)  # noqa: E731
                    record = run_case(self.case, self._loaded, state.options, state.datasets, measure, state.answers, progress)
        except CaseError as exc:
            failure = str(exc)
        if failure is not None:  # one sentence, no traceback (raised outside the except: no chained context)
            pytest.fail(redact(failure), pytrace=False)
        data = redact_json(record.to_json())
        if benchmark is not None:
            benchmark.extra_info[RECORD_KEY] = data  # mutate: pytest-benchmark keeps a reference
        item = self._request.node
        # On the report, so records reach the controller under xdist (and JUnit XML).
        item.user_properties.append((RECORD_KEY, json.dumps(data)))
        self.record = record
        item.config.hook.pytest_vlmbench_evaluated(item=item, record=record)
        marker = item.get_closest_marker("vlmbench")
        ceiling = Suite.from_marker(marker.kwargs if marker else {}).invalid_ceiling(self.case.strategy)
        if ceiling is not None and record.metrics.invalid_rate > ceiling:  # the record is saved: only the verdict changes
            pytest.fail(
                f"{record.model} on {record.dataset} ({record.strategy}) gave invalid answers for "
                f"{record.metrics.invalid_rate:.1%} of the items, over the suite's max_invalid_rate of {ceiling:.1%}.",
                pytrace=False,
            )
        return record

    def _benchmark_fixture(self) -> Any:
        if not self._request.config.pluginmanager.hasplugin("benchmark"):
            return None
        return self._request.getfixturevalue("benchmark")


@pytest.fixture
def vlmbench(request: pytest.FixtureRequest, vlmbench_model: LoadedModel, vlmbench_case: Case) -> Evaluation:
    """One (model, dataset, strategy) evaluation; call ``.run()`` in the test."""
    return Evaluation(request, vlmbench_model, vlmbench_case)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    unreadable = list(dict.fromkeys(line for plan in state.plans for line in plan.unreadable))
    if not state.store.entries and not unreadable:
        return
    records = state.store.records
    lines = summary_lines(records) if records else []
    lines += [f"not run: {line}" for line in unreadable]
    spread = seed_spread(records)
    if spread:
        lines += ["", "spread over seeds:", *spread_lines(spread)]
    lines += pivot_lines(records)  # a class-count sweep: models x strategies by class count
    if state.outputs.json_path is not None:
        lines.append(f"records written to {state.outputs.json_path}")
    if state.outputs.wrote_benchmark_json:
        lines.append(
            f"pytest-benchmark records nothing under xdist: {state.outputs.benchmark_json} was written by "
            "pytest-vlmbench from the workers' records (no timing statistics)."
        )
    if state.store.journal is not None:
        lines.append(f"journal of finished items: {state.store.journal.path}")
    terminalreporter.section("vlmbench results")
    for line in lines:
        terminalreporter.write_line(redact(line))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None and state.answers is not None:
        state.answers.close()
