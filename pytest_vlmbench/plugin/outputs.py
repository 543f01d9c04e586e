"""The plugin's outputs, safe against bad paths, kills and xdist.

- Output paths are checked in ``pytest_configure``, before any model loads.
- Once collection planned our items (controller only), a stale ``--vlmbench-json`` /
  ``--benchmark-json`` from an earlier run is removed and the journal opened: each finished
  item's record is on disk the moment its report arrives (:mod:`pytest_vlmbench.journal`).
- At session end, even after Ctrl-C or SIGTERM: the run is marked ``complete`` or
  ``interrupted``, pytest-benchmark is kept from crashing on the interrupted item's empty
  timing (its ``finish()`` would raise "min() arg is an empty sequence" and lose every
  output), and every file is written. Under xdist, where pytest-benchmark records nothing,
  ``--benchmark-json`` is written from the workers' records.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from ..journal import Journal, journal_path
from ..record import Record, plain_json
from ..secrets import redact_json
from ..session.sinks import RECORD_KEY, RecordStore

TERMINATE = getattr(signal, "SIGTERM", None)


def _as_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (a CI timeout, `kill`, a preempted machine) ends the run like Ctrl-C: pytest
    # then finishes the session, writes every output and exits with its interrupt code, 2.
    raise KeyboardInterrupt(f"signal {signum}")


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class Outputs:
    """Collects records from test reports (so they arrive from xdist workers too), journals
    them, and writes the JSON files at the end."""

    def __init__(self, config: pytest.Config, store: RecordStore, json_path: Path | None) -> None:
        self.config = config
        self.store = store
        self.json_path = json_path
        value = config.getoption("benchmark_json", None)  # absent under -p no:benchmark
        self.benchmark_json = Path(value) if value else None
        self.wrote_benchmark_json = False
        self._previous_sigterm: Any = None
        if TERMINATE is not None and not is_worker(config) and signal.getsignal(TERMINATE) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(TERMINATE, _as_interrupt)

    def start(self) -> None:
        """Our items are about to run: no stale file may look current, and the journal opens."""
        if is_worker(self.config):
            return
        for path in (self.json_path, self.benchmark_json):
            if path is not None and path.is_file():
                path.unlink()
        base = self.json_path or self.benchmark_json
        if base is not None:
            self.store.journal = Journal(journal_path(base), self.store.options.as_json())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == RECORD_KEY and isinstance(value, str):
                record = Record.from_json(json.loads(value), report.nodeid)
                self.store.add(record, fullname=without_group(report.nodeid), outcome=report.outcome)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Iterator[None]:
        # tryfirst wrapper: this runs before pytest-benchmark's own wrapper calls finish().
        if not is_worker(self.config):
            self.store.finish("interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else "complete")
            drop_unfinished_benchmarks(self.config)
            if self.json_path is not None:
                self.store.write_json(self.json_path)
            if self.benchmark_json is not None and self.config.pluginmanager.hasplugin("dsession") and self.store.entries:
                self.store.write_json(self.benchmark_json)  # pytest-benchmark is disabled under xdist
                self.wrote_benchmark_json = True
        if self._previous_sigterm is not None and TERMINATE is not None:
            signal.signal(TERMINATE, self._previous_sigterm)
        return (yield)

    @pytest.hookimpl(optionalhook=True)
    def pytest_benchmark_update_json(self, config: pytest.Config, benchmarks: Any, output_json: dict[str, Any]) -> None:
        output_json[RECORD_KEY] = redact_json(plain_json(self.store.run_block()))
        for bench in output_json.get("benchmarks", []):  # the records pytest-benchmark copies from extra_info
            if isinstance(bench, dict):
                bench.update(redact_json(bench))


def without_group(nodeid: str) -> str:
    """The node id without xdist's ``@GROUP`` suffix: the JSON names items as a run without -n does."""
    head, bracket, tail = nodeid.rpartition("]")
    return head + bracket if bracket and tail.startswith("@") else nodeid


def drop_unfinished_benchmarks(config: pytest.Config) -> None:
    """Remove pytest-benchmark entries without timings (the item a Ctrl-C stopped).

    pytest-benchmark keeps its session on a private attribute; without this, its
    ``finish()`` raises on the empty entry and no output at all is written.
    """
    session = getattr(config, "_benchmarksession", None)
    benchmarks = getattr(session, "benchmarks", None)
    if isinstance(benchmarks, list):
        benchmarks[:] = [bench for bench in benchmarks if bench]
