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
- Correction (``--vlmbench-correction``, ini ``vlmbench_correction``; default ``holm``): the
  run's compared items are one family (:mod:`pytest_vlmbench.gate.multiplicity`). A marker's
  ``correction="none"`` takes its item out of the family (judged at its own alpha).
- Floors (``--vlmbench-min`` > marker ``min=`` > ini ``vlmbench_min``, per metric) are checked
  with or without a baseline.
- A regression fails its own item (``pytest.fail(..., pytrace=False)``, one line per
  metric), so ``--lf`` reruns exactly the regressed cases -- when its raw p is small enough to
  fail under the correction whatever the other items show. The others are decided when the
  run ends: the gate section lists them, the exit status becomes 1 and they are added to
  ``--lf``'s list; the terminal summary is never where a failure is raised, so pytest's final
  line stays intact.

The comparison itself is the gate library's (:func:`pytest_vlmbench.gate.verdict.judge_record`);
its :class:`~pytest_vlmbench.gate.verdict.Verdict` objects ride on the test report
(``report.__dict__``, as plain JSON), so the summary is right under pytest-xdist too, where
evaluations run in workers. No torch is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from ..gate.baseline import Run, load_run
from ..gate.calibration import read_snippet
from ..gate.metrics import GateError
from ..gate.multiplicity import DEFAULT_CORRECTION, Correction, parse_correction, sure_alpha
from ..gate.significance import DEFAULT_ALPHA
from ..gate.thresholds import Floor, Threshold, merge_layers, parse_alpha, parse_floors, parse_layer
from ..gate.verdict import Verdict, gate_report_lines, judge_record, resolve_verdicts
from ..record import Record
from ..secrets import redact

REPORT_KEY = "vlmbench_gate"
"""Key of the gate's verdicts (as JSON) in a test report's ``__dict__``."""
VERDICTS = pytest.StashKey[list[Verdict]]()
MARKER = "vlmbench_gate"
MARKER_HELP = (
    "vlmbench_gate(fail_on=None, alpha=None, min=None, correction=None): regression thresholds (METRIC:DROP or "
    "METRIC:N%, METRIC:off), significance level and floors (METRIC:VALUE) for this test; correction='none' takes "
    "it out of the run's multiple-testing family. --vlmbench-fail-on, --vlmbench-alpha and --vlmbench-min override "
    "them, they override the ini values."
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
    correction: Correction = DEFAULT_CORRECTION
    cli_min: dict[str, Floor] = field(default_factory=dict)
    ini_min: dict[str, Floor] = field(default_factory=dict)


class GatePlugin:
    """Compares each evaluation with the baseline and fails regressed items."""

    def __init__(self, config: pytest.Config) -> None:
        config.addinivalue_line("markers", MARKER_HELP)
        self.config = config
        self.baseline: Run | None = None
        self.baseline_origin = ""
        self.verdicts: list[Verdict] = []
        self.final: list[Verdict] = []
        """The verdicts after the correction (set when the run ends)."""
        self.family_max = 0
        """The family's size if every collected item is compared (:func:`~pytest_vlmbench.gate.multiplicity.sure_alpha`)."""
        self.alone: set[str] = set()
        """Node ids out of the family (marker ``correction="none"``)."""
        self.marker_floors = False
        """Some collected item's marker sets floors (found at collection)."""
        try:
            self.settings = read_settings(config)
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
                ("--vlmbench-correction", config.getoption("vlmbench_correction") is not None),
            ):
                if given:
                    raise pytest.UsageError(f"{option} needs a baseline: add --vlmbench-baseline PATH or --benchmark-compare.")

    # -- settings -----------------------------------------------------------------------

    def settings_for(self, item: pytest.Item) -> tuple[dict[str, Threshold], float, dict[str, Floor]]:
        """Thresholds, alpha and floors for ``item``: CLI > marker > ini, per metric."""
        marker = marker_settings(item)
        thresholds = merge_layers(self.settings.ini, marker.fail_on, self.settings.cli)
        alpha = self.settings.cli_alpha or marker.alpha or self.settings.ini_alpha or DEFAULT_ALPHA
        return thresholds, alpha, {**self.settings.ini_min, **marker.floors, **self.settings.cli_min}

    @property
    def active(self) -> bool:
        """Something to judge: a baseline, or floors (which need none)."""
        return self.baseline is not None or bool(self.settings.ini_min or self.settings.cli_min) or self.marker_floors

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # A typo in a marker is found at collection, with or without a baseline; then the
        # family's largest size: every collected evaluation's gated quality metrics.
        self.family_max = 0
        for item in items:
            try:
                marker = marker_settings(item)
            except GateError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
            if marker.correction not in (None, "none", self.settings.correction):
                raise pytest.UsageError(
                    f"{item.nodeid}: the correction is run-wide ({self.settings.correction}, from --vlmbench-correction "
                    f"or the ini); a marker can only take its item out of the family, with correction='none'."
                )
            self.marker_floors = self.marker_floors or bool(marker.floors)
            if marker.correction == "none" or self.settings.correction == "none":
                self.alone.add(item.nodeid)
            elif "vlmbench_case" in getattr(item, "fixturenames", ()):
                self.family_max += sum(1 for t in self.settings_for(item)[0].values() if t.metric.quality)

    # -- the comparison -----------------------------------------------------------------

    def pytest_vlmbench_evaluated(self, item: pytest.Item, record: Record) -> None:
        if not self.active:
            return
        thresholds, alpha, floors = self.settings_for(item)
        alone = item.nodeid in self.alone
        verdict = judge_record(
            record, self.baseline, thresholds, alpha, nodeid=item.nodeid, require_baseline=self.settings.require_baseline,
            floors=floors, sure=None if alone else sure_alpha(alpha, self.family_max, self.settings.correction),
            run_file=self.run_file,
        )  # fmt: skip
        verdict = replace(verdict, alone=alone)  # rides to the xdist controller, which collected nothing
        item.stash.setdefault(VERDICTS, []).append(verdict)
        if verdict.fail:
            pytest.fail(redact("\n".join(verdict.fail)), pytrace=False)

    @property
    def run_file(self) -> str | None:
        """Where this run's records are saved, for the ``vlmbench diff`` command a regression prints."""
        for dest in ("vlmbench_json", "benchmark_json"):
            value = self.config.getoption(dest, None)
            if value:
                return str(value)
        return None

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

    @pytest.hookimpl(tryfirst=True)  # before the last-failed plugin saves its list, and before the summary
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.active or hasattr(self.config, "workerinput"):  # an xdist worker: the controller decides
            return
        inside = [not v.alone for v in self.verdicts]
        family = iter(resolve_verdicts([v for v, i in zip(self.verdicts, inside) if i], self.settings.correction))
        alone = iter(resolve_verdicts([v for v, i in zip(self.verdicts, inside) if not i], "none"))  # each at its own alpha
        self.final = [next(family) if i else next(alone) for i in inside]
        late = [v.nodeid for v in self.final if v.late]
        if not late:
            return
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        lastfailed = getattr(self.config.pluginmanager.get_plugin("lfplugin"), "lastfailed", None)
        if isinstance(lastfailed, dict):  # so that --lf reruns them too
            lastfailed.update(dict.fromkeys(late, True))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.active:
            return
        terminalreporter.ensure_newline()  # else the first line after the title is blank
        lines = gate_report_lines(self.baseline, self.baseline_origin, self.final or self.verdicts, self.settings.correction)
        late = sum(1 for v in self.final if v.late)
        if late:
            lines.append(f"{late} item(s) regressed after the correction: the run fails (exit status 1).")
        for line in lines:
            if line.startswith("=="):
                terminalreporter.section(line.strip("= "))
            else:
                terminalreporter.write_line(line)


@dataclass(frozen=True)
class MarkerSettings:
    """What an item's ``vlmbench_gate`` marker sets."""

    fail_on: dict[str, Threshold | None] = field(default_factory=dict)
    alpha: float | None = None
    floors: dict[str, Floor] = field(default_factory=dict)
    correction: Correction | None = None


def marker_settings(item: pytest.Item) -> MarkerSettings:
    """The ``vlmbench_gate`` marker's settings (closest marker wins)."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return MarkerSettings()
    where = f"@pytest.mark.{MARKER}"
    unknown = set(marker.kwargs) - {"fail_on", "alpha", "min", "correction"}
    if unknown or marker.args:
        raise GateError(f"{where} takes fail_on=[...], alpha=..., min=[...] and correction=..., not {sorted(unknown) or marker.args}.")
    fail_on, floors = marker.kwargs.get("fail_on") or [], marker.kwargs.get("min") or []
    alpha, correction = marker.kwargs.get("alpha"), marker.kwargs.get("correction")
    return MarkerSettings(
        parse_layer([fail_on] if isinstance(fail_on, str) else fail_on, where),
        parse_alpha(alpha, f"{where}(alpha=...)") if alpha is not None else None,
        parse_floors([floors] if isinstance(floors, str) else floors, f"{where}(min=...)"),
        parse_correction(correction, f"{where}(correction=...)") if correction is not None else None,
    )


def read_settings(config: pytest.Config) -> GateSettings:
    """The session's gate settings from the flags, the ini and a calibration file; :class:`GateError` for bad ones."""
    settings = GateSettings(
        cli=parse_layer(config.getoption("vlmbench_fail_on") or [], "--vlmbench-fail-on"),
        ini=parse_layer(config.getini("vlmbench_fail_on") or [], "ini vlmbench_fail_on"),
        require_baseline=bool(config.getoption("vlmbench_require_baseline")),
        cli_min=parse_floors(config.getoption("vlmbench_min") or [], "--vlmbench-min"),
        ini_min=parse_floors(config.getini("vlmbench_min") or [], "ini vlmbench_min"),
    )
    if config.getoption("vlmbench_alpha") is not None:
        settings.cli_alpha = parse_alpha(config.getoption("vlmbench_alpha"), "--vlmbench-alpha")
    if str(config.getini("vlmbench_alpha") or "").strip():
        settings.ini_alpha = parse_alpha(config.getini("vlmbench_alpha"), "ini vlmbench_alpha")
    calibration = config.getoption("vlmbench_calibration") or str(config.getini("vlmbench_calibration") or "").strip()
    if calibration:  # in place of the ini's thresholds and alpha
        lines, alpha = read_snippet(Path(calibration))
        settings.ini = parse_layer(lines, f"the calibration file {calibration}")
        settings.ini_alpha = alpha if alpha is not None else settings.ini_alpha
    correction = config.getoption("vlmbench_correction") or str(config.getini("vlmbench_correction") or "").strip()
    if correction:
        settings.correction = parse_correction(correction, "--vlmbench-correction")
    return settings
