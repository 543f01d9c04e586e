"""Live progress: what the library reports per pass, the terminal line, when it is shown."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_vlmbench import Request, evaluate
from pytest_vlmbench.evaluation import EvalConfig, Progress, ProgressObserver
from pytest_vlmbench.models.base import Answer
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.plugin.progress import (
    InlineDisplay,
    LogDisplay,
    TerminalProgress,
    clock_text,
    fit,
    format_progress,
)
from pytest_vlmbench.plugin import progress as plugin_progress
from pytest_vlmbench.strategies.base import StrategyConfig
from helpers import oracle, toy_conftest, toy_dataset

pytest_plugins = ["pytester"]

class Recorder:
    """An observer that keeps every report."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.reports: list[Progress] = []

    def on_start(self, total_items: int) -> None:
        self.started.append(total_items)

    def on_progress(self, progress: Progress) -> None:
        self.reports.append(progress)


def test_closed_set_counts_an_item_when_its_last_permutation_is_answered() -> None:
    seen = Recorder()
    assert isinstance(seen, ProgressObserver)
    config = EvalConfig(strategy=StrategyConfig(permutations=3), batch_size=4)
    record = evaluate(ScriptedModel("oracle", oracle), toy_dataset(6), "closed_set", config, progress=seen)
    assert record.metrics.accuracy == 1.0 and seen.started == [6]
    # 18 queries in batches of 4, one pass: reported at 0 and after each batch
    assert [p.pass_requests_answered for p in seen.reports] == [0, 4, 8, 12, 16, 18]
    assert [p.pass_items_answered for p in seen.reports] == [0, 1, 2, 4, 5, 6]  # item k is done at query 3k+3
    assert {(p.pass_number, p.pass_items, p.pass_requests, p.total_items, p.finished_items) for p in seen.reports} == {(1, 6, 18, 6, 0)}


def test_binary_reports_each_round_as_a_pass_and_the_items_it_no_longer_asks() -> None:
    seen = Recorder()

    def always_no(request: Request) -> str:  # three classes, no background: two questions per item
        return "No." if "about a cat" in request.prompt else oracle(request)

    evaluate(ScriptedModel("cautious", always_no), toy_dataset(6), "binary", EvalConfig(batch_size=8), progress=seen)
    first = [p for p in seen.reports if p.pass_number == 1]
    second = [p for p in seen.reports if p.pass_number == 2]
    assert first[-1].pass_items == first[-1].pass_items_answered == 6 and first[-1].finished_items == 0
    assert second, "the items not answered yes are asked a second round"
    last = second[-1]
    assert last.pass_items == last.pass_items_answered == 6 - last.finished_items
    assert 2 <= last.pass_items <= 6  # the two cat items are always asked again (they only hear "no")
    assert max(p.pass_number for p in seen.reports) == 2


class OutOfMemoryError(RuntimeError):
    """Named like ``torch.cuda.OutOfMemoryError``: the runner detects it by name."""


class Cramped(ScriptedModel):
    """Runs out of memory on batches larger than two."""

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if len(requests) > 2:
            raise OutOfMemoryError("CUDA out of memory")
        return super().generate(requests)


def test_the_halved_batch_size_is_reported_after_an_out_of_memory() -> None:
    seen = Recorder()
    record = evaluate(Cramped("cramped", oracle), toy_dataset(6), "closed_set", EvalConfig(batch_size=8), progress=seen)
    assert record.throughput.final_batch_size == 2
    assert seen.reports[0].batch_size == 8 and seen.reports[0].oom_retries == 0
    after = seen.reports[1]  # the first batch that returned: after halving 8 -> 4 -> 2
    assert (after.batch_size, after.oom_retries, after.pass_requests_answered) == (2, 2, 2)
    line = format_progress(after, 1.0)
    assert "batch 2 (halved 2x)" in line


def test_format_progress_gives_rate_and_eta_of_the_pass() -> None:
    first = Progress(total_items=100, pass_number=1, pass_items=100, pass_items_answered=25,
                     pass_requests=300, pass_requests_answered=75, batch_size=8, oom_retries=0)  # fmt: skip
    assert format_progress(first, 5.0) == "25/100 items · 5.0 items/s · ETA 0:15 · batch 8"
    start = Progress(100, 1, 100, 0, 300, 0, 8, 0)
    assert format_progress(start, 0.0) == "0/100 items · - items/s · ETA - · batch 8"
    later = Progress(100, 3, 40, 10, 40, 10, 4, 1)
    assert format_progress(later, 2.0) == "pass 3: 10/40 items (60/100 finished) · 5.0 items/s · ETA 0:06 · batch 4 (halved 1x)"
    assert [clock_text(s) for s in (12, 228, 3903)] == ["0:12", "3:48", "1:05:03"]


class Lines:
    def __init__(self) -> None:
        self.shown: list[str] = []
        self.cleared = 0

    def show(self, text: str) -> None:
        self.shown.append(text)

    def clear(self) -> None:
        self.cleared += 1


def test_terminal_progress_draws_at_most_once_per_interval() -> None:
    now = [0.0]
    lines = Lines()
    progress = TerminalProgress(lines, 0.25, clock=lambda: now[0])
    progress.on_start(100)
    for k, t in enumerate([0.0, 0.1, 0.2, 0.26, 0.3, 0.4, 0.52, 0.6]):
        now[0] = t
        progress.on_progress(Progress(100, 1, 100, k * 10, 100, k * 10, 8, 0))
    # drawn at 0.26 (30 items in 0.26 s) and 0.52 (60 items); never at the start of a short item
    assert lines.shown == [
        format_progress(Progress(100, 1, 100, 30, 100, 30, 8, 0), 0.26),
        format_progress(Progress(100, 1, 100, 60, 100, 60, 8, 0), 0.52),
    ]
    now[0] = 5.0
    progress.on_progress(Progress(100, 2, 10, 0, 10, 0, 8, 0))  # a new pass: its rate starts from zero
    now[0] = 7.0
    progress.on_progress(Progress(100, 2, 10, 4, 10, 4, 8, 0))
    assert lines.shown[-1].startswith("pass 2: 4/10 items (90/100 finished) · 2.0 items/s")
    progress.close()
    assert lines.cleared == 1
    short_lines = Lines()
    short = TerminalProgress(short_lines, 0.25, clock=lambda: 0.0)
    short.on_start(10)
    short.on_progress(Progress(10, 1, 10, 10, 10, 10, 8, 0))
    short.close()
    assert short_lines.shown == [] and short_lines.cleared == 0  # a short item touches the terminal not at all


class FakeWriter:
    """A terminal: applies backspaces, so the screen's last line can be read back."""

    def __init__(self, line: str, width: int = 80) -> None:
        self.screen = list(line)
        self.cursor = len(line)
        self.tracked = len(line)  # pytest's idea of the line: write_raw leaves it alone
        self.width = width

    @property
    def width_of_current_line(self) -> int:
        return self.tracked

    @property
    def fullwidth(self) -> int:
        return self.width

    def write_raw(self, msg: str, *, flush: bool = False) -> None:
        for ch in msg:
            if ch == "\b":
                self.cursor -= 1
                continue
            if self.cursor == len(self.screen):
                self.screen.append(ch)
            else:
                self.screen[self.cursor] = ch
            self.cursor += 1

    @property
    def text(self) -> str:
        return "".join(self.screen).rstrip()


def test_inline_display_redraws_in_place_and_leaves_pytests_line_as_it_was() -> None:
    writer = FakeWriter("suites/test_image.py ..")
    display = InlineDisplay(writer)
    display.show("1/10 items · 2.0 items/s · ETA 0:05 · batch 8")
    assert writer.text == "suites/test_image.py .. [1/10 items · 2.0 items/s · ETA 0:05 · batch 8]"
    display.show("9/10 items")  # shorter: what the longer text left is blanked
    assert writer.text == "suites/test_image.py .. [9/10 items]"
    display.clear()
    assert writer.text == "suites/test_image.py .." and writer.cursor == len("suites/test_image.py ..")


def test_inline_display_fits_the_line_and_gives_way_when_full() -> None:
    writer = FakeWriter("x" * 40, width=76)
    display = InlineDisplay(writer)
    display.show("123/10000 items · 38.5 items/s · ETA 3:48 · batch 8")
    assert writer.text == "x" * 40 + " [123/10000 items · 38.5 items/s]"  # the parts that fit in 75 columns
    assert fit("123/10000 items · 38.5 items/s", 10) == " [123/1000"  # cut at the last column but one: no wrap
    full = FakeWriter("x" * 70, width=80)
    InlineDisplay(full).show("123/10000 items")
    assert full.text == "x" * 70  # fewer than MIN_ROOM columns left: nothing drawn


def test_log_display_writes_whole_lines() -> None:
    written: list[str] = []
    LogDisplay(written.append).show("5/10 items")
    assert written == ["vlmbench progress: 5/10 items"]


# -- through pytest ----------------------------------------------------------------------------

CONFTEST = toy_conftest(n=12, extra="""
import time

def slow(request):
    time.sleep(0.1)  # a batch of 6 takes 0.6 s: the test shortens the log interval to 0.4 s
    return oracle(request)

MODELS.register("slow", scripted_spec("slow", slow, modalities=frozenset({"text"})), replace=True)
""")

SUITE = '''
import pytest
pytestmark = pytest.mark.vlmbench(datasets=["toy"], models=["slow"], strategies=["closed_set"])

def test_toy(vlmbench):
    vlmbench.run()
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


ARGS = ("--permutations", "1", "--batch-size", "6", "--limit", "12", "-p", "no:benchmark", "--vlmbench-cache", "off")


def test_on_writes_progress_lines_when_the_output_is_not_a_terminal(suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin_progress, "LOG_INTERVAL_S", 0.4)  # pytester runs in this process
    result = suite.runpytest(*ARGS, "--vlmbench-progress", "on")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["vlmbench progress: 6/12 items · * items/s · ETA 0:0* · batch 6"])


@pytest.mark.parametrize(
    "extra",
    [(), ("--vlmbench-progress", "off"), pytest.param(("--vlmbench-progress", "on", "-p", "xdist", "-n", "1"), marks=pytest.mark.slow)],
)
def test_silent_without_a_terminal_when_off_and_in_xdist_workers(suite: pytest.Pytester, extra: tuple[str, ...]) -> None:
    if "xdist" in extra:
        pytest.importorskip("xdist")
    result = suite.runpytest(*ARGS, *extra)
    result.assert_outcomes(passed=1)
    assert "vlmbench progress" not in result.stdout.str()


def test_auto_is_silent_with_q_and_a_bad_value_is_a_usage_error(suite: pytest.Pytester) -> None:
    assert "vlmbench progress" not in suite.runpytest(*ARGS, "-q").stdout.str()
    result = suite.runpytest(*ARGS, "--vlmbench-progress", "sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vlmbench-progress must be one of auto, on, off, got 'sometimes'.*"])
