"""The pytest plugin: options, hooks and fixtures over the library's session layer.

Thin by design: planning is :mod:`pytest_vlmbench.session.plan`, running
:mod:`pytest_vlmbench.session.run`, the JSON :mod:`pytest_vlmbench.session.sinks`.
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
from pathlib import Path
from typing import Any

import pytest

from ..models.base import LoadOptions
from ..options import OptionError, RunOptions, add_pytest_options, check_device_available, read_load_options, read_run_options
from ..record import Record
from ..session.plan import Case, Plan, PlanError, Suite, offline_variables, plan_suite, strategy_misfit
from ..session.run import CaseError, DatasetCache, LoadedModel, ModelLoader, run_case
from ..session.sinks import RECORD_KEY, RecordStore
from ..session.summary import seed_spread, spread_lines, summary_lines
from . import hookspec
from .gate import GatePlugin

MARKER_HELP = (
    "vlmbench(models=None, datasets=None, strategies=None, modality=None): the default models, "
    "datasets and strategies of a benchmark suite (--model/--dataset/--strategy override them), "
    "and the data it is for ('image' or 'text'), which --dataset cannot override."
)


@dataclass
class SessionState:
    """The run's state, kept in ``config.stash``."""

    options: RunOptions
    load_options: LoadOptions
    store: RecordStore
    json_path: Path | None = None
    datasets: DatasetCache = field(default_factory=DatasetCache)
    plans: list[Plan] = field(default_factory=list)


STATE = pytest.StashKey[SessionState]()



def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vlmbench", "vlmbench: model benchmarks on classification tasks")
    add_pytest_options(group.addoption, parser.addini)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    try:
        options = read_run_options(config.getoption)
        load_options = read_load_options(config.getoption, options)
        if not config.getoption("collectonly"):
            check_device_available(options.device)
    except OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    json_path = config.getoption("vlmbench_json")
    state = SessionState(options, load_options, RecordStore(options), Path(json_path) if json_path else None)
    config.stash[STATE] = state
    config.pluginmanager.register(RecordCollector(state.store), "vlmbench-records")
    config.pluginmanager.register(GatePlugin(config), "vlmbench-gate")


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
    metafunc.parametrize(
        ("vlmbench_model", "vlmbench_case"),
        [(c.model, c) for c in plan.cases],
        indirect=["vlmbench_model"],
        ids=[c.id for c in plan.cases],
        scope="session",
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    misfit = strategy_misfit(state.options, state.plans)
    if misfit:
        raise pytest.UsageError(misfit)
    # Only now is it known what runs (after -k, -m and --lf): a session without our items
    # changes no environment.
    params = [getattr(item, "callspec", None) for item in session.items]
    cases = [p.params["vlmbench_case"] for p in params if p is not None and "vlmbench_case" in p.params]
    for name, value in offline_variables(cases).items():
        os.environ.setdefault(name, value)


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
        try:
            if benchmark is None:  # -p no:benchmark: run once, plainly
                record = run_case(self.case, self._loaded, state.options, state.datasets)
            else:
                measure = lambda evaluation: benchmark.pedantic(evaluation, rounds=1, iterations=1)  # noqa: E731
                record = run_case(self.case, self._loaded, state.options, state.datasets, measure)
        except CaseError as exc:  # one sentence, no traceback
            pytest.fail(str(exc), pytrace=False)
        data = record.to_json()
        if benchmark is not None:
            benchmark.extra_info[RECORD_KEY] = data  # mutate: pytest-benchmark keeps a reference
        item = self._request.node
        # On the report, so records reach the controller under xdist (and JUnit XML).
        item.user_properties.append((RECORD_KEY, json.dumps(data)))
        self.record = record
        item.config.hook.pytest_vlmbench_evaluated(item=item, record=record)
        return record

    def _benchmark_fixture(self) -> Any:
        if not self._request.config.pluginmanager.hasplugin("benchmark"):
            return None
        return self._request.getfixturevalue("benchmark")


@pytest.fixture
def vlmbench(request: pytest.FixtureRequest, vlmbench_model: LoadedModel, vlmbench_case: Case) -> Evaluation:
    """One (model, dataset, strategy) evaluation; call ``.run()`` in the test."""
    return Evaluation(request, vlmbench_model, vlmbench_case)


class RecordCollector:
    """Collects records from test reports, so they arrive from xdist workers too."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == RECORD_KEY and isinstance(value, str):
                record = Record.from_json(json.loads(value), report.nodeid)
                self.store.add(record, fullname=report.nodeid, outcome=report.outcome)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        output_json[RECORD_KEY] = state.store.run_block()


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is not None and state.json_path is not None and not hasattr(session.config, "workerinput"):
        state.store.write_json(state.json_path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not state.store.entries:
        return
    records = state.store.records
    terminalreporter.section("vlmbench results")
    for line in summary_lines(records):
        terminalreporter.write_line(line)
    spread = seed_spread(records)
    if spread:
        terminalreporter.write_line("")
        terminalreporter.write_line("spread over seeds:")
        for line in spread_lines(spread):
            terminalreporter.write_line(line)
    if state.json_path is not None:
        terminalreporter.write_line(f"records written to {state.json_path}")
