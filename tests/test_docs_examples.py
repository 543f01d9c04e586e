"""The custom adapter and dataset example in docs/examples runs as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


@pytest.mark.slow  # pytest in a subprocess
def test_custom_adapter_example(pytester: pytest.Pytester) -> None:
    pytester.makeconftest((EXAMPLES / "conftest.py").read_text())
    pytester.makepyfile(test_headlines=(EXAMPLES / "test_headlines.py").read_text())
    result = pytester.runpytest("--vlmbench-json", "out.json", "-p", "no:benchmark")
    result.assert_outcomes(passed=2)
    benchmarks = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    records = {b["extra_info"]["vlmbench"]["strategy"]: b["extra_info"]["vlmbench"] for b in benchmarks}
    assert records["closed_set"]["metrics"]["accuracy"] == 0.75
    assert records["closed_set"]["metrics"]["invalid_rate"] == 0.25
    assert records["binary"]["metrics"]["accuracy"] >= 0.5
    # The alias works on the command line too (a fresh process: the registry is global).
    result = pytester.runpytest_subprocess("--model", "kw", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_headlines[[]keyword-headlines-closed_set[]]*"])
