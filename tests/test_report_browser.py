"""The HTML report of a real run, opened in a real browser (headless Chromium driven by Playwright).

The records come from the shipped image suite on the tiny Qwen2-VL (a class-count sweep on
digits, written by ``--vlmbench-report`` at the end of the run); a second report puts a
later night beside it, made from the same records with half their answers flipped, so the
history figures and the gate's marks are drawn too. Playwright's own browser download is
unreachable here, so it drives the system's Chromium (``make install`` installs Debian's
``chromium`` when run as root); without one the browser test is skipped and says why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_vlmbench.cli import main
from pytest_vlmbench.gate.baseline import load_run
from helpers import run_document, with_predictions

ROOT = Path(__file__).resolve().parent.parent
CLASS_COUNTS = (3, 10)
STRATEGIES = ("closed_set", "binary")

pytestmark = pytest.mark.slow  # pytest in a subprocess on the tiny VLM, then a browser


@dataclass(frozen=True)
class Reports:
    single: Path
    """Written by ``--vlmbench-report`` at the end of the pytest run."""
    history: Path
    """``vlmbench report`` of that run and a later one."""
    n_items: int
    """Items (records) per run."""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    folder = tmp_path_factory.mktemp("report-run")
    counts = ",".join(map(str, CLASS_COUNTS))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(ROOT / "suites" / "test_image_classification.py"),
         "--model", "tiny:qwen2-vl", "--dataset", "digits", "--num-classes", counts, "--limit", "12", "--vlmbench-cache", "off",
         "--benchmark-json", str(folder / "bench.json"), "--vlmbench-report", str(folder / "report.html")],
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    n_items = len(CLASS_COUNTS) * len(STRATEGIES)
    assert result.returncode == 0 and f"{n_items} passed" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"vlmbench: report written to {folder / 'report.html'}" in result.stdout
    first = load_run(folder / "bench.json")
    later = []
    for entry in first:  # the next night: every other item answered right, the rest left invalid
        record = entry.record
        flipped = [p.label if i % 2 == 0 else None for i, p in enumerate(record.predictions)]
        later.append(with_predictions(record, flipped))
    names = [entry.name for entry in first]
    (folder / "later.json").write_text(json.dumps(run_document(later, commit="b" * 40, names=names)))
    args = [str(folder / "bench.json"), str(folder / "later.json"), "-o", str(folder / "history.html")]
    assert main(["report", *args]) == 0
    return Reports(folder / "report.html", folder / "history.html", n_items)


def test_the_pytest_run_report_holds_every_item(reports: Reports) -> None:
    page = reports.single.read_text()
    assert page.count("<tr><td class=\"text\">tiny:qwen2-vl-digits-") == reports.n_items
    for count in CLASS_COUNTS:
        for strategy in STRATEGIES:
            assert f"tiny:qwen2-vl-digits-{count}cls-{strategy}" in page
    assert "Qwen2VLForConditionalGeneration" in page  # the environment: the model as the adapter reported it
    assert "version: transformers" in page and "option: num_classes" in page


@pytest.fixture(scope="module")
def browser_path() -> str:
    """The system's Chromium; module-scoped and asked for before ``reports``, so a skip costs no run."""
    path = chromium()
    if path is None:
        pytest.skip("no Chromium on PATH: `make install` as root installs Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]' (or make install)")
    return path


@pytest.mark.parametrize("which", ["single", "history"])
def test_report_renders_in_a_real_browser(browser_path: str, reports: Reports, which: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    path: Path = getattr(reports, which)
    runs = 2 if which == "history" else 1
    errors: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda request: fetched.append(request.url))
            page.goto(path.as_uri(), wait_until="load")

            figures = page.locator("figure.plot svg")
            kinds = page.locator("figure.plot").evaluate_all("nodes => nodes.map(n => n.dataset.kind)")
            assert kinds.count("confusion") == kinds.count("f1") == reports.n_items  # per item of the last run
            assert kinds.count("sweep") == 1 and kinds.count("cost") == 1
            assert (kinds.count("history") > 0) == (which == "history")
            for i in range(figures.count()):
                figure = figures.nth(i)
                figure.scroll_into_view_if_needed()
                assert figure.is_visible(), f"figure {i} ({kinds[i]}) is not visible"
                box = figure.bounding_box()
                assert box is not None and box["width"] > 250 and box["height"] > 150, (kinds[i], box)

            rows = page.locator("#summary-table tbody tr")
            assert rows.count() == reports.n_items * runs  # every item of every run
            # Sortable: a click on "accuracy" puts the rows in ascending order of their value.
            header = page.locator("#summary-table thead th", has_text="accuracy")
            header.click()
            column = page.locator("#summary-table thead th").all_inner_texts().index("accuracy")
            values = [float(v) for v in page.locator(f"#summary-table tbody tr td:nth-child({column + 1})").all_inner_texts()]
            assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"

            shot = tmp_path / f"report-{which}.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in fetched), fetched  # nothing from the network
    assert shot.stat().st_size > 20_000
