"""The live progress of the running item on pytest's terminal (``--vlmbench-progress``).

A 10,000-item run is minutes of silence without it. While an item evaluates, a short
text at the end of pytest's current line (after the dots, or after the item id with
``-v``) shows the items answered, items/s, the ETA and the batch size (smaller after an
out-of-memory halving); it is erased before pytest writes the item's result, so the
output reads as it does without it. It is drawn at most four times a second.

Why at the end of the current line and not on a line of its own: pytest keeps track of
its own line (the dots of a file); the text is written raw, outside that tracking, and
taken back with backspaces, so pytest's line is exactly as pytest left it. Backspaces do
not climb wrapped lines, so the text is cut to the room left on the line (and left out
when fewer than :data:`MIN_ROOM` columns remain: widen the terminal, or use ``on`` in a log).

When it is shown:

- ``auto`` (default): on a terminal, with verbosity >= 0 (not with ``-q``);
- ``on``: also when the output is not a terminal (a CI or batch-job log): a plain line
  every :data:`LOG_INTERVAL_S` seconds, since a log cannot take a line back;
- ``off``: never.

Under pytest-xdist the items run in workers, which have no terminal: there it is never
shown (the controller's terminal gets the results as they come, as always).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, Protocol

import pytest

from ..evaluation.progress import Progress
from ..options import BY_DEST

TTY_INTERVAL_S = 0.25
"""At most four redraws a second: faster is flicker, and costs terminal writes."""
LOG_INTERVAL_S = 10.0
"""A log line every ten seconds at most, and none for an item shorter than that."""
MIN_ROOM = 20
"""Columns that must be left on the current line for the text to be drawn."""


def clock_text(seconds: float) -> str:
    """``12`` -> ``0:12``, ``228`` -> ``3:48``, ``3903`` -> ``1:05:03``."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_progress(progress: Progress, pass_elapsed_s: float) -> str:
    """One line: items answered, rate, ETA and batch size; binary's later rounds say which pass.

    The rate and the ETA are those of the current pass: closed_set and direct make one,
    binary one per question round, whose number depends on the answers.
    """
    done, todo = progress.pass_items_answered, progress.pass_items
    parts = [f"{done}/{todo} items"]
    if progress.pass_number > 1:
        parts = [f"pass {progress.pass_number}: {done}/{todo} items ({progress.finished_items}/{progress.total_items} finished)"]
    rate = done / pass_elapsed_s if done > 0 and pass_elapsed_s > 0 else None
    parts.append(f"{rate:.1f} items/s" if rate is not None else "- items/s")
    parts.append(f"ETA {clock_text((todo - done) / rate)}" if rate is not None else "ETA -")
    halved = f" (halved {progress.oom_retries}x)" if progress.oom_retries else ""
    parts.append(f"batch {progress.batch_size}{halved}")
    return " · ".join(parts)


def fit(text: str, room: int) -> str:
    """`` [text]`` in at most ``room`` columns: the last parts dropped first (the batch size,
    then the ETA ...), then cut."""
    parts = text.split(" · ")
    while len(parts) > 1 and len(" [" + " · ".join(parts) + "]") > room:
        parts.pop()
    return f" [{' · '.join(parts)}]"[:room]


class Display(Protocol):
    """Where the line goes."""

    def show(self, text: str) -> None: ...

    def clear(self) -> None: ...


class LineWriter(Protocol):
    """The part of pytest's terminal writer (``config.get_terminal_writer()``) used here."""

    @property
    def width_of_current_line(self) -> int: ...

    @property
    def fullwidth(self) -> int: ...

    def write_raw(self, msg: str, *, flush: bool = False) -> None: ...


class InlineDisplay:
    """The text at the end of the terminal's current line, redrawn in place with backspaces."""

    def __init__(self, writer: LineWriter) -> None:
        self.writer = writer
        self.shown = 0
        """Columns of text now on the screen, after :attr:`anchor`."""
        self.anchor = -1
        """The width of pytest's line when the text was drawn: if it changed, someone else wrote."""

    def show(self, text: str) -> None:
        width = self.writer.width_of_current_line  # -1: control characters on the line, width unknown
        if self.shown and width == self.anchor:
            back = "\b" * self.shown
        else:  # first draw, or pytest (or live logging) wrote since: start afresh where the line ends
            back, self.shown, self.anchor = "", 0, width
        room = self.writer.fullwidth - self.anchor - 1  # the last column would wrap on some terminals
        text = fit(text, room) if self.anchor >= 0 and room >= MIN_ROOM else ""
        pad = max(self.shown - len(text), 0)  # blank what the longer previous text left behind
        self.writer.write_raw(back + text + " " * pad + "\b" * pad, flush=True)
        self.shown = len(text)

    def clear(self) -> None:
        if self.shown and self.writer.width_of_current_line == self.anchor:
            n = self.shown
            self.writer.write_raw("\b" * n + " " * n + "\b" * n, flush=True)
        self.shown = 0


class LogDisplay:
    """A plain line per update, for output that is not a terminal."""

    def __init__(self, write_line: Callable[[str], None]) -> None:
        self.write_line = write_line

    def show(self, text: str) -> None:
        self.write_line(f"vlmbench progress: {text}")

    def clear(self) -> None:
        pass


class UncapturedDisplay:
    """Writes with pytest's output capture suspended: during a test, stdout is captured."""

    def __init__(self, display: Display, capture_manager: Any) -> None:
        self.display = display
        self.capture_manager = capture_manager

    def _uncaptured(self) -> Any:
        return self.capture_manager.global_and_fixture_disabled() if self.capture_manager is not None else nullcontext()

    def show(self, text: str) -> None:
        with self._uncaptured():
            self.display.show(text)

    def clear(self) -> None:
        with self._uncaptured():
            self.display.clear()


class TerminalProgress:
    """A :class:`~pytest_vlmbench.evaluation.progress.ProgressObserver` drawing on a :class:`Display`,
    at most once per ``interval_s`` (the first draw ``interval_s`` after the start)."""

    def __init__(self, display: Display, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.display = display
        self.interval_s = interval_s
        self.clock = clock
        self.last_draw = clock()
        self.pass_number = 0
        self.pass_started = self.last_draw
        self.drawn = False

    def on_start(self, total_items: int) -> None:
        self.last_draw = self.pass_started = self.clock()
        self.pass_number = 0

    def on_progress(self, progress: Progress) -> None:
        now = self.clock()
        if progress.pass_number != self.pass_number:
            self.pass_number, self.pass_started = progress.pass_number, now
        if now - self.last_draw >= self.interval_s:
            self.display.show(format_progress(progress, now - self.pass_started))
            self.last_draw, self.drawn = now, True

    def close(self) -> None:
        """Takes the text back, if any was drawn (an item shorter than ``interval_s`` draws none)."""
        if self.drawn:
            self.display.clear()
            self.drawn = False


def read_progress_mode(get: Callable[[str], Any]) -> str:
    """``--vlmbench-progress`` checked (``OptionError`` otherwise); not in the records: it changes no result."""
    option = BY_DEST["vlmbench_progress"]
    return str(option.parse(option.flag, get(option.dest)))


def progress_for(config: pytest.Config, mode: str) -> TerminalProgress | None:
    """The observer for this session's terminal, or ``None`` where nothing is to be shown."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if mode == "off" or reporter is None or hasattr(config, "workerinput") or os.environ.get("PYTEST_XDIST_WORKER"):
        return None
    tty = bool(reporter.isatty)
    if mode == "auto" and (not tty or config.get_verbosity() < 0):
        return None
    display: Display = InlineDisplay(config.get_terminal_writer()) if tty else LogDisplay(reporter.write_line)
    capture = config.pluginmanager.get_plugin("capturemanager")
    return TerminalProgress(UncapturedDisplay(display, capture), TTY_INTERVAL_S if tty else LOG_INTERVAL_S)


@contextmanager
def showing_progress(config: pytest.Config, mode: str) -> Iterator[TerminalProgress | None]:
    """The observer for one item's evaluation; its text is erased when the evaluation ends (or fails)."""
    progress = progress_for(config, mode)
    try:
        yield progress
    finally:
        if progress is not None:
            progress.close()
