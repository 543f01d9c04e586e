"""The HTML report's pivots, page, ``vlmbench report`` and ``--vlmbench-report`` (no browser, no torch model).

The browser checks of the page built from a real tiny-model run are in ``test_report_browser.py``.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_vlmbench.cli import main
from pytest_vlmbench.gate.baseline import load_run, parse_run
from helpers import make_record, run_document, toy_conftest, with_predictions
from pytest_vlmbench.gate.thresholds import merge_layers, parse_layer
from pytest_vlmbench.gate.verdict import Verdict
from pytest_vlmbench.record import ModelInfo, Record
from pytest_vlmbench.record.cost import Cost
from pytest_vlmbench.secrets import register_secret
from pytest_vlmbench.report import build_data, render_page, write_report
from pytest_vlmbench.report.data import item_scores, sweep_lines

pytest_plugins = ["pytester"]

CLASSES = ["cat", "dog", "bird"]


class PageParser(HTMLParser):
    """What a test needs to know of a page: rows of the summary table, figures, links and fetches."""

    def __init__(self) -> None:
        super().__init__()
        self.summary_rows = 0
        self.figures: list[str] = []
        self.svgs = 0
        self.fetching: list[str] = []
        self.links = 0
        self._table: str | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table == "summary-table":
            self.summary_rows += 1
        elif tag == "figure":
            self.figures.append(str(a.get("data-kind")))
        elif tag == "svg":
            self.svgs += 1
        elif tag == "a":
            self.links += 1
        for name in ("src", "href"):
            value = a.get(name) or a.get(f"xlink:{name}")
            if value and not value.startswith(("data:", "#")):
                self.fetching.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False


def parse(page: str) -> PageParser:
    parser = PageParser()
    parser.feed(page)
    return parser


def _records(rng: random.Random, n: int = 200) -> list[Record]:
    labels = [rng.choice(CLASSES) for _ in range(n)]
    out = []
    for strategy, right in (("closed_set", 0.9), ("binary", 0.7)):
        preds = [t if rng.random() < right else rng.choice([*CLASSES, None]) for t in labels]
        out.append(make_record(labels, preds, classes=CLASSES, strategy=strategy))
    return out


def _nights(tmp_path: Path) -> list[str]:
    """Three saved runs of two cases: unchanged, then closed_set loses 30 right answers."""
    rng = random.Random(3)
    closed, binary = _records(rng)
    worse = [p.prediction for p in closed.predictions]
    for i in [i for i, p in enumerate(closed.predictions) if p.correct][:30]:
        worse[i] = None
    nights = [[closed, binary], [closed, binary], [with_predictions(closed, worse), binary]]
    paths = []
    for i, records in enumerate(nights):
        path = tmp_path / f"night{i + 1}.json"
        path.write_text(json.dumps(run_document(records, commit=f"{i + 1}" * 40)))
        paths.append(str(path))
    return paths


# -- the pivots ------------------------------------------------------------------------------


def test_item_scores_count_the_invalid_column_and_give_sklearns_f1() -> None:
    from sklearn.metrics import f1_score

    rng = random.Random(1)
    labels = [rng.choice(CLASSES) for _ in range(300)]
    preds = [t if rng.random() < 0.6 else rng.choice([*CLASSES, None, None]) for t in labels]
    scores = item_scores(make_record(labels, preds, classes=CLASSES))
    assert scores.columns == (*CLASSES, "invalid")
    assert sum(map(sum, scores.matrix)) == 300
    assert [row[-1] for row in scores.matrix] == [sum(1 for t, p in zip(labels, preds) if t == c and p is None) for c in CLASSES]
    assert scores.matrix[0][1] == sum(1 for t, p in zip(labels, preds) if t == "cat" and p == "dog")
    expected = f1_score(labels, ["-" if p is None else p for p in preds], labels=CLASSES, average=None, zero_division=0)
    assert scores.f1 == pytest.approx(list(expected))
    assert scores.support == tuple(labels.count(c) for c in CLASSES)


def test_sweep_lines_average_seeds_per_class_count() -> None:
    def rec(strategy: str, n_classes: int, seed: int, right: int) -> Record:
        classes = [f"c{i}" for i in range(n_classes)]
        labels = [classes[i % n_classes] for i in range(10)]
        preds = [t if i < right else None for i, t in enumerate(labels)]
        return make_record(labels, preds, classes=classes, strategy=strategy, seed=seed)

    records = [rec("closed_set", 10, 0, 4), rec("closed_set", 3, 0, 9), rec("closed_set", 3, 1, 7), rec("binary", 3, 0, 5)]
    lines = {line.label: line for line in sweep_lines(records)}
    assert set(lines) == {"fake-vlm closed_set", "fake-vlm binary"}
    closed = lines["fake-vlm closed_set"].points
    assert [p.num_classes for p in closed] == [3, 10]  # sorted, whatever the order of the records
    assert closed[0].accuracy == pytest.approx(0.8) and closed[0].seeds == 2
    assert closed[0].accuracy_std == pytest.approx(0.1414, abs=1e-4)  # sample std of 0.9 and 0.7
    assert closed[1].accuracy == pytest.approx(0.4) and closed[1].accuracy_std == 0.0


def test_history_marks_the_gates_findings_per_run(tmp_path: Path) -> None:
    runs = [load_run(p) for p in _nights(tmp_path)]
    data = build_data(runs, thresholds=merge_layers(parse_layer(["accuracy:0.02"], "test")))
    by_case = {case.label: case for case in data.history}
    closed = by_case["fake-vlm-digits-closed_set"].metrics["accuracy"]
    assert [step.status for step in closed] == [None, "ok", "regression"]
    assert closed[2].line.startswith("accuracy 0.") and "> 0.02, p=" in closed[2].line
    assert [step.status for step in by_case["fake-vlm-digits-binary"].metrics["accuracy"]] == [None, "ok", "ok"]
    verdicts = {(row.run, row.record.strategy): row.verdict for row in data.summary}
    assert verdicts[("3: 33333333", "closed_set")] == "regressed"
    assert verdicts[("2: 22222222", "closed_set")] == "ok" and verdicts[("1: 11111111", "binary")] is None


def test_verdicts_given_by_a_pytest_run_are_shown_as_given(tmp_path: Path) -> None:
    runs = [load_run(p) for p in _nights(tmp_path)[1:]]
    entry = runs[1].entries[0]
    given = Verdict(entry.fullname, entry.record.label, "improved", improvements=("accuracy 0.1 -> 0.9",))
    data = build_data(runs, verdicts={entry.fullname: given})
    row = next(r for r in data.summary if r.run.startswith("2:") and r.record.strategy == "closed_set")
    assert row.verdict == "improved" and row.verdict_lines == ("accuracy 0.1 -> 0.9",)


def test_a_case_on_other_hardware_is_marked_not_compared() -> None:
    record = make_record(["cat", "dog"] * 20, ["cat", "dog"] * 20, classes=CLASSES)
    on_gpu = replace(record, model_info=ModelInfo(device="cuda:0", gpu_name="NVIDIA H100"))
    runs = [parse_run(run_document([r]), f"run{i}") for i, r in enumerate((record, on_gpu))]
    steps = build_data(runs).history[0].metrics["accuracy"]
    assert steps[1].status == "not compared" and "measured on" in steps[1].line


# -- the page ---------------------------------------------------------------------------------


def test_page_is_self_contained_with_every_item_and_figure(tmp_path: Path) -> None:
    runs = [load_run(p) for p in _nights(tmp_path)]
    page = render_page(build_data(runs, thresholds=merge_layers(parse_layer(["accuracy:0.02"], "test"))))
    parsed = parse(page)
    assert parsed.summary_rows == 6  # every item of every run
    assert parsed.links == 0 and parsed.fetching == []  # nothing to follow, nothing to fetch
    assert not re.search(r"https?://(?!www\.w3\.org/)", page)  # only SVG's namespace URIs
    kinds = parsed.figures
    assert kinds.count("confusion") == kinds.count("f1") == 2  # per item of the last run
    assert kinds.count("sweep") == 1 and kinds.count("cost") == 1 and kinds.count("history") == 6  # standard metrics
    assert parsed.svgs >= len(kinds)
    assert 'class="text regressed"' in page  # the gate's verdict in the table
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) > 100  # several inline SVGs, and no id (clip path, marker) used twice


def test_the_written_page_is_redacted(tmp_path: Path) -> None:
    secret = "report-test-secret-7f3a9c"
    register_secret(secret)
    out = tmp_path / "r.html"
    write_report(out, [load_run(_nights(tmp_path)[0])], produced_by=f"pytest --api-base https://me:pw@host/v1 {secret}")
    page = out.read_text()
    assert secret not in page and "me:pw" not in page and "https://***@host/v1 ***" in page


def test_page_of_one_run_has_no_history_and_no_gate_column(tmp_path: Path) -> None:
    page = render_page(build_data([load_run(_nights(tmp_path)[0])]))
    assert 'id="history"' not in page and ">gate<" not in page and parse(page).summary_rows == 2


def test_priced_items_show_dollars_in_the_table_and_the_cost_figure(tmp_path: Path) -> None:
    closed, binary = _records(random.Random(5))
    costs = [Cost("tokens", 0.3, 1.5, "12000 prompt tokens x $0.50/M (price for api:x)"),
             Cost("hourly", 0.02, 0.1, "72.0 s x $1/h (--vlmbench-hour-usd)")]  # fmt: skip
    priced = [replace(closed, cost=costs[0]), replace(binary, cost=costs[1])]
    page = render_page(build_data([parse_run(run_document(priced), "priced.json")]))
    assert "<th>USD/1k items</th>" in page and 'data-sort="1.5">1.50</td>' in page and 'data-sort="0.1">0.100</td>' in page
    assert "US dollars per 1,000 items (lower is cheaper)" in page  # the figure's axis: dollars, not speed
    basis = re.search(r'<ul class="note" id="cost-basis">(.*?)</ul>', page)
    assert basis and basis.group(1).count("<li>") == 2 and "$0.50/M (price for api:x)" in basis.group(1)

    one_priced = render_page(build_data([parse_run(run_document([priced[0], binary]), "half.json")]))
    assert "items/s (higher is cheaper)" in one_priced and "Some items have no price" in one_priced
    assert 'data-sort="-1e+300">-</td>' in one_priced  # the unpriced item: a dash that sorts below every price

    unpriced = render_page(build_data([parse_run(run_document([closed, binary]), "plain.json")]))
    assert "USD/1k items" not in unpriced and 'id="cost-basis"' not in unpriced and "--vlmbench-price" in unpriced


# -- vlmbench report ----------------------------------------------------------------------------


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _nights(tmp_path)
    out = tmp_path / "out" / "report.html"
    assert main(["report", *paths, "-o", str(out), "--fail-on", "accuracy:0.02", "--title", "nightly"]) == 0  # not a gate
    assert f"report of 3 run(s) written to {out}" in capsys.readouterr().out
    page = out.read_text()
    assert "<title>nightly</title>" in page and "accuracy:0.02" in page
    assert f"vlmbench report {' '.join(paths)} -o {out}" in page  # how it was made
    assert not out.with_name("report.html.tmp").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "File 'missing.json' does not exist."),
        (["RUN", "--fail-on", "acuracy:0.02"], "Unknown metric 'acuracy' in --fail-on; did you mean 'accuracy'?"),
        (["RUN", "--alpha", "2"], "--alpha"),
    ],
)
def test_cli_bad_input_is_one_sentence_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    run = _nights(tmp_path)[0]
    assert main(["report", *(run if a == "RUN" else a for a in args), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vlmbench: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_cli_refuses_a_folder_as_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", _nights(tmp_path)[0], "-o", str(tmp_path)]) == 2
    assert "is a folder; give a file path" in capsys.readouterr().err


def test_missing_matplotlib_says_which_extra(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import pytest_vlmbench.report as report

    monkeypatch.setattr(report, "find_spec", lambda name: None)
    assert main(["report", _nights(tmp_path)[0], "-o", str(tmp_path / "r.html")]) == 2
    assert "pip install 'pytest-vlmbench[report]'" in capsys.readouterr().err


# -- --vlmbench-report ---------------------------------------------------------------------------

CONFTEST = toy_conftest('MODELS.register("planted", scripted_spec("planted", planted, modalities=frozenset({"text"})), replace=True)\n', n=60)

SUITE = """
import pytest
pytestmark = pytest.mark.vlmbench(datasets=["toy"], models=["planted"], strategies=["closed_set", "binary"])

def test_toy(vlmbench):
    vlmbench.run()
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def test_pytest_run_writes_the_report_with_the_gates_verdicts(project: pytest.Pytester) -> None:
    project.runpytest("--vlmbench-json", "base.json", "--vlmbench-cache", "off").assert_outcomes(passed=2)
    project.path.joinpath("wrong.txt").write_text(" ".join(str(k) for k in range(0, 40, 2)))
    result = project.runpytest(
        "--vlmbench-baseline", "base.json", "--vlmbench-report", "out/report.html", "--vlmbench-cache", "off"
    )
    result.assert_outcomes(failed=2)  # both regressed: the report is written all the same
    result.stdout.fnmatch_lines(["vlmbench: report written to out/report.html"])
    page = (project.path / "out" / "report.html").read_text()
    parsed = parse(page)
    assert parsed.summary_rows == 4  # the baseline's two items, then this run's two
    assert page.count('class="text regressed"') == 2
    assert "the first run is the gate&#x27;s baseline, &#x27;base.json&#x27;" in page
    assert "pytest --vlmbench-baseline base.json --vlmbench-report out/report.html" in page
    assert parsed.figures.count("history") >= 1 and parsed.fetching == []


def test_report_path_is_checked_before_anything_runs(project: pytest.Pytester) -> None:
    project.mkdir("folder")
    result = project.runpytest("--vlmbench-report", "folder")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vlmbench-report folder is a folder; give a file path*"])


def test_no_item_no_report(project: pytest.Pytester) -> None:
    result = project.runpytest("--vlmbench-report", "r.html", "-k", "nothing-matches")
    result.stdout.fnmatch_lines(["*no vlmbench item finished, so no report was written to r.html"])
    assert not (project.path / "r.html").exists()
