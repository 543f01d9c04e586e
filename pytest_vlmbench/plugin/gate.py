"""The regression gate inside pytest: compare each evaluation with a baseline run.

Wiring (done by :mod:`pytest_vlmbench.plugin`): the options come from the one option table
(:data:`pytest_vlmbench.options.OPTIONS`), and ``config.pluginmanager.register(GatePlugin(config),
"vlmbench-gate")`` happens in its ``pytest_configure``. The plugin calls ``pytest_vlmbench_evaluated(item, record)``
after each evaluation; :class:`GatePlugin` implements it.

- Baseline: ``--vlmbench-baseline PATH``, else the run ``--benchmark-compare[=NUM]`` selects
  from pytest-benchmark's file storage (read with its ``FileStorage.query``, the same
  lookup its own comparison uses: ``.benchmarks/<machine id>/NNNN_*.json``, latest or NUM).
- Thresholds: ``--vlmbench-fail-on`` > ``@pytest.mark.vlmbench_gate(fail_on=...)`` > ini
  ``vlmbench_fail_on``, merged per metric. Alpha likewise (``--vlmbench-alpha``, marker
  ``alpha=``, ini ``vlmbench_alpha``, default 0.05).
- A regression fails its own item (``pytest.fail(..., pytrace=False)``, one line per
  metric), so ``--lf`` reruns exactly the regressed cases; the terminal summary is never
  where a failure is raised, so pytest's final line stays intact.

The comparison itself is the gate library's (:func:`pytest_vlmbench.gate.verdict.judge_record`);
its :class:`~pytest_vlmbench.gate.verdict.Verdict` objects ride on the test report
(``report.__dict__``, as plain JSON), so the summary is right under pytest-xdist too, where
evaluations run in workers. No torch is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..gate.baseline import Run, load_run
from ..gate.metrics import GateError
from ..gate.significance import DEFAULT_ALPHA
from ..gate.thresholds import Threshold, merge_layers, parse_alpha, parse_layer
from ..secrets import redact
from ..gate.verdict import Verdict, gate_report_lines, judge_record
from ..record import Record

REPORT_KEY = "vlmbench_gate"
"""Key of the gate's verdicts (as JSON) in a test report's ``__dict__``."""
VERDICTS = pytest.StashKey[list[Verdict]]()
MARKER = "vlmbench_gate"
MARKER_HELP = (
    "vlmbench_gate(fail_on=None, alpha=None): regression thresholds (METRIC:DROP or METRIC:N%, "
    "METRIC:off) and significance level for this test's comparison with the baseline; "
    "--vlmbench-fail-on and --vlmbench-alpha override them, they override the ini values."
)


def baseline_from_storage(config: pytest.Config, compare: Any) -> Run:
    """The run ``--benchmark-compare[=NUM]`` selects, read from pytest-benchmark's file storage."""
    from pytest_benchmark.storage.file import FileStorage
    from pytest_benchmark.utils import get_machine_id

    uri = str(config.getoption("benchmark_storage"))
    if "://" in uri and not uri.startswith("file://"):
        raise GateError(f"the gate reads only file storage, not {uri!r}; pass --vlmbench-baseline PATH instead.")
    # FileStorage is pytest-benchmark's own lookup (machine-id folder, NNNN_ prefix); the
    # files are then read by our loader, which says what is wrong with a bad one.
    machine_id = get_machine_id()  # type: ignore[no-untyped-call]
    storage = FileStorage(uri.removeprefix("file://"), logger=None, default_machine_id=machine_id)  # type: ignore[no-untyped-call]
    pattern = "[0-9][0-9][0-9][0-9]_" if compare is True else str(compare)
    try:
        files = storage.query(pattern)  # type: ignore[no-untyped-call]
    except ValueError as exc:  # a NUM with more than one "/" in it
        raise GateError(str(exc)) from None
    if not files:
        which = "" if compare is True else f" matching {compare!r}"
        raise GateError(f"there is no saved run{which} in {storage} to compare with.")
    return load_run(files[-1])


@dataclass
class GateSettings:
    """Settings resolved once per session; per-item ones are merged in :meth:`GatePlugin.settings_for`."""

    cli: dict[str, Threshold | None] = field(default_factory=dict)
    ini: dict[str, Threshold | None] = field(default_factory=dict)
    cli_alpha: float | None = None
    ini_alpha: float | None = None
    require_baseline: bool = False


class GatePlugin:
    """Compares each evaluation with the baseline and fails regressed items."""

    def __init__(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", MARKER_HELP)
        self.config = config
        self.baseline: Run | None = None
        self.baseline_origin = ""
        self.verdicts: list[Verdict] = []
        try:
            self.settings = GateSettings(
                cli=parse_layer(config.getoption("vlmbench_fail_on") or [], "--vlmbench-fail-on"),
                ini=parse_layer(config.getini("vlmbench_fail_on") or [], "ini vlmbench_fail_on"),
                require_baseline=bool(config.getoption("vlmbench_require_baseline")),
            )
            if config.getoption("vlmbench_alpha") is not None:
                self.settings.cli_alpha = parse_alpha(config.getoption("vlmbench_alpha"), "--vlmbench-alpha")
            if str(config.getini("vlmbench_alpha") or "").strip():
                self.settings.ini_alpha = parse_alpha(config.getini("vlmbench_alpha"), "ini vlmbench_alpha")
        except GateError as exc:
            raise pytest.UsageError(str(exc)) from None
        self._load_baseline(config)

    def _load_baseline(self, config: pytest.Config) -> None:
        path = config.getoption("vlmbench_baseline")
        compare = config.getoption("benchmark_compare", default=None)  # absent under -p no:benchmark
        try:
            if path:
                self.baseline, self.baseline_origin = load_run(Path(path)), "--vlmbench-baseline"
            elif compare:
                self.baseline, self.baseline_origin = baseline_from_storage(config, compare), "--benchmark-compare"
        except GateError as exc:
            option = "--vlmbench-baseline" if path else "--benchmark-compare"
            raise pytest.UsageError(f"{option}: {exc}") from None
        if self.baseline is None:
            for option, given in (
                ("--vlmbench-fail-on", bool(self.settings.cli)),
                ("--vlmbench-require-baseline", self.settings.require_baseline),
                ("--vlmbench-alpha", self.settings.cli_alpha is not None),
            ):
                if given:
                    raise pytest.UsageError(f"{option} needs a baseline: add --vlmbench-baseline PATH or --benchmark-compare.")

    # -- settings -----------------------------------------------------------------------

    def settings_for(self, item: pytest.Item) -> tuple[dict[str, Threshold], float]:
        """Thresholds and alpha for ``item``: CLI > marker > ini, per metric."""
        marker_layer, marker_alpha = marker_settings(item)
        thresholds = merge_layers(self.settings.ini, marker_layer, self.settings.cli)
        alpha = self.settings.cli_alpha or marker_alpha or self.settings.ini_alpha or DEFAULT_ALPHA
        return thresholds, alpha

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # A typo in a marker is found at collection, with or without a baseline.
        for item in items:
            try:
                marker_settings(item)
            except GateError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None

    # -- the comparison -----------------------------------------------------------------

    def pytest_vlmbench_evaluated(self, item: pytest.Item, record: Record) -> None:
        if self.baseline is None:
            return
        thresholds, alpha = self.settings_for(item)
        verdict = judge_record(
            record, self.baseline, thresholds, alpha, nodeid=item.nodeid, require_baseline=self.settings.require_baseline
        )
        item.stash.setdefault(VERDICTS, []).append(verdict)
        if verdict.fail:
            pytest.fail(redact("\n".join(verdict.fail)), pytrace=False)

    # -- reporting ----------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if call.when == "call" and VERDICTS in item.stash:
            report.__dict__[REPORT_KEY] = [v.to_json() for v in item.stash[VERDICTS]]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.verdicts.extend(Verdict.from_json(v) for v in report.__dict__.get(REPORT_KEY) or [])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.baseline is None:
            return
        terminalreporter.ensure_newline()  # else the first line after the title is blank
        for line in gate_report_lines(self.baseline, self.baseline_origin, self.verdicts):
            if line.startswith("=="):
                terminalreporter.section(line.strip("= "))
            else:
                terminalreporter.write_line(line)


def marker_settings(item: pytest.Item) -> tuple[dict[str, Threshold | None], float | None]:
    """The ``vlmbench_gate`` marker's thresholds and alpha (closest marker wins)."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return {}, None
    unknown = set(marker.kwargs) - {"fail_on", "alpha"}
    if unknown or marker.args:
        raise GateError(f"@pytest.mark.{MARKER} takes fail_on=[...] and alpha=..., not {sorted(unknown) or marker.args}.")
    fail_on = marker.kwargs.get("fail_on") or []
    layer = parse_layer([fail_on] if isinstance(fail_on, str) else fail_on, f"@pytest.mark.{MARKER}")
    alpha = marker.kwargs.get("alpha")
    return layer, parse_alpha(alpha, f"@pytest.mark.{MARKER}(alpha=...)") if alpha is not None else None
