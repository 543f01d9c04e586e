"""``--vlmbench-report PATH``: the session's records as the HTML report, written at session end.

Registered in ``pytest_configure`` beside the other outputs. The path and matplotlib are checked in ``pytest_configure``, before any model
loads. At session end (controller only, after an interrupt too) the finished items are
written with :func:`pytest_vlmbench.report.write_report`; with a gate baseline
(``--vlmbench-baseline`` or ``--benchmark-compare``) the baseline run comes first and this
run's items carry the verdicts the gate gave them during the run.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ..gate.baseline import Run, SavedRecord
from ..gate.significance import DEFAULT_ALPHA
from ..gate.thresholds import merge_layers
from ..options import OptionError
from ..report import ReportError, check_can_draw, package_version, write_report
from ..report.environment import local_machine_info
from ..secrets import redact
from ..session.sinks import RecordStore, writable_output
from .gate import GatePlugin
from .outputs import is_worker, without_group


def register_report(config: pytest.Config, store: RecordStore) -> None:
    """Register the report writer when ``--vlmbench-report`` is given; a bad path or no matplotlib is a usage error."""
    given = config.getoption("vlmbench_report")
    if not given or is_worker(config):
        return
    try:
        path = writable_output(given, "--vlmbench-report")
        check_can_draw()
    except (OptionError, ReportError) as exc:
        raise pytest.UsageError(str(exc)) from None
    config.pluginmanager.register(ReportWriter(config, store, path), "vlmbench-report")


def commit_info() -> dict[str, Any]:
    """The checkout's commit, as pytest-benchmark records it in its own files (empty without git)."""
    try:
        from pytest_benchmark.utils import get_commit_info

        info = get_commit_info()  # type: ignore[no-untyped-call]
    except Exception:  # no pytest-benchmark, no git: the report says less, and is still written
        return {}
    return dict(info) if isinstance(info, dict) and not info.get("error") else {}


class ReportWriter:
    """Writes the report at session end and names it in the terminal summary."""

    def __init__(self, config: pytest.Config, store: RecordStore, path: Path) -> None:
        self.config = config
        self.store = store
        self.path = path
        self.message = ""

    def current_run(self) -> Run:
        entries = [SavedRecord(e.name, e.fullname, e.record) for e in self.store.entries]
        return Run(
            source="this pytest run", entries=entries, machine_info=local_machine_info(), commit_info=commit_info(),
            datetime=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )  # fmt: skip

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.store.entries:
            self.message = f"no vlmbench item finished, so no report was written to {self.path}"
            return
        gate = self.config.pluginmanager.get_plugin("vlmbench-gate")
        runs, thresholds, alpha, verdicts = [self.current_run()], {}, DEFAULT_ALPHA, None
        if isinstance(gate, GatePlugin) and gate.baseline is not None:
            runs.insert(0, gate.baseline)
            thresholds = merge_layers(gate.settings.ini, gate.settings.cli)
            alpha = gate.settings.cli_alpha or gate.settings.ini_alpha or DEFAULT_ALPHA
            verdicts = {without_group(v.nodeid): v for v in gate.final or gate.verdicts}  # keyed as the records are
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        args = " ".join(str(a) for a in self.config.invocation_params.args)
        produced_by = (
            f"Made by pytest-vlmbench {package_version()} on {stamp} at the end of the pytest run: pytest {args}"
            + (f" (status: {self.store.status})" if self.store.status != "complete" else "")
            + (f"; the first run is the gate's baseline, {runs[0].source}." if len(runs) > 1 else ".")
        )
        try:
            write_report(self.path, runs, thresholds=thresholds, alpha=alpha, produced_by=produced_by, verdicts=verdicts)
        except (ReportError, OSError) as exc:  # after the run: say so, and keep every other output
            self.message = f"the report could not be written to {self.path}: {exc}"
            return
        self.message = f"report written to {self.path}"

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.message:
            terminalreporter.write_line(redact(f"vlmbench: {self.message}"))
