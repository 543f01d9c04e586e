"""The plugin's offline variables: decided from what runs, and nothing where nothing of ours runs.

Each run is a subprocess with the HF_* variables removed, so what the plugin sets is seen
alone (tests/conftest.py sets them for this process).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.slow  # every test runs pytest in a subprocess

REPORT = """
import os

def test_environment():
    print("HUB=" + os.environ.get("HF_HUB_OFFLINE", "unset"), "DATASETS=" + os.environ.get("HF_DATASETS_OFFLINE", "unset"))
"""


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)


def test_a_session_without_vlmbench_items_sets_nothing(pytester: pytest.Pytester, clean_env: None) -> None:
    pytester.makepyfile(test_plain=REPORT)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HUB=unset DATASETS=unset*"])


def run_suite(pytester: pytest.Pytester, datasets: str, *args: str) -> pytest.RunResult:
    """A suite of the tiny model on ``datasets`` plus a test that prints the variables, in a subprocess."""
    suite = f"""
import pytest
pytestmark = pytest.mark.vlmbench(models=["tiny:qwen2-vl"], datasets=["{datasets}"])
def test_bench(vlmbench):
    pass
"""
    pytester.makepyfile(test_suite=suite + REPORT)
    return pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider", *args)


def test_offline_default_sets_both(pytester: pytest.Pytester, clean_env: None) -> None:
    run_suite(pytester, "digits").stdout.fnmatch_lines(["*HUB=1 DATASETS=1*"])


def test_deselected_vlmbench_items_set_nothing(pytester: pytest.Pytester, clean_env: None) -> None:
    run_suite(pytester, "digits", "-k", "environment").stdout.fnmatch_lines(["*HUB=unset DATASETS=unset*"])


def test_a_marker_selected_hub_dataset_may_download(pytester: pytest.Pytester, clean_env: None) -> None:
    run_suite(pytester, "cifar10").stdout.fnmatch_lines(["*HUB=unset DATASETS=unset*"])
