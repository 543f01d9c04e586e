"""The nightly GPU workflow (``.github/workflows/nightly-gpu.yml``): it parses, it is the one docs/ci.md
shows, and every ``make`` target, ``pytest`` option and ``vlmbench`` argument it uses exists.

A workflow cannot run here (it needs a self-hosted GPU runner), so what can rot silently --
a renamed option, a removed target, a docs copy that drifted -- is checked instead.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_vlmbench.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-gpu.yml"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
ENV = {"GPU": "h100", "GITHUB_STEP_SUMMARY": "summary.md"}
"""Values for the shell variables of the run scripts, so their commands can be parsed."""


@cache
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def steps() -> list[dict[str, Any]]:
    return list(workflow()["jobs"]["bench"]["steps"])


def run_lines() -> list[str]:
    """Every shell line of every ``run:`` script, backslash continuations joined."""
    lines: list[str] = []
    for step in steps():
        script = str(step.get("run", "")).replace("\\\n", " ")
        lines.extend(line.strip() for line in script.splitlines() if line.strip())
    return lines


def vlmbench_commands() -> list[list[str]]:
    """Each ``vlmbench`` call as argv (shell variables filled in, redirections and ``|| true`` cut off)."""
    out = []
    for line in run_lines():
        words = shlex.split(line)
        starts = [i for i, w in enumerate(words) if w.endswith("bin/vlmbench") or w == "vlmbench"]
        for start in starts:
            argv = []
            for word in words[start + 1 :]:
                if word in (">", ">>", "||", "&&", "|", ";"):
                    break
                argv.append(re.sub(r"\$(\w+)", lambda m: ENV[m.group(1)], word))
            out.append(argv)
    return out


@cache
def pytest_help() -> str:
    """``pytest --help`` with this package's plugin and pytest-benchmark loaded: every option pytest accepts."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_it_is_a_nightly_gpu_job_with_a_matrix_per_gpu_type() -> None:
    data = workflow()
    triggers = data.get("on", data.get(True)) or {}  # YAML 1.1 reads a bare `on` as true
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    job = data["jobs"]["bench"]
    assert {"self-hosted", "gpu", "${{ matrix.gpu }}"} <= set(job["runs-on"])
    assert job["strategy"]["matrix"]["gpu"] and job["strategy"]["fail-fast"] is False


def test_it_gates_publishes_the_report_and_promotes_only_green_runs() -> None:
    by_name = {step.get("name"): step for step in steps()}
    restore = by_name["Restore last good baseline"]
    assert restore["uses"].startswith("actions/cache/restore@") and "restore-keys" in restore["with"]
    run = by_name["Run the suites with the gate"]["run"]
    assert "--vlmbench-baseline baselines/$GPU.json" in run and "--vlmbench-report results/report.html" in run
    upload = by_name["Upload results and the report"]
    assert upload["if"] == "always()" and "results/" in upload["with"]["path"]  # the report is in results/
    for name in ("Promote baseline", "Save baseline"):
        assert by_name[name]["if"].startswith("success()"), name
    assert by_name["Save baseline"]["with"]["key"] == restore["with"]["key"]


def test_every_make_target_exists() -> None:
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    used = {target for line in run_lines() for target in re.findall(r"(?:^|\s)make\s+([A-Za-z0-9_.-]+)", line)}
    assert used, "the workflow installs through make"
    assert used <= targets, f"make targets used but not in the Makefile: {sorted(used - targets)}"


@pytest.mark.slow  # `pytest --help` in a subprocess
def test_every_pytest_option_exists() -> None:
    """Options on the pytest line and in the variables it expands (``$GATE``), looked up in ``pytest --help``."""
    pytest_scripts = [str(s["run"]) for s in steps() if "bin/pytest" in str(s.get("run", ""))]
    assert pytest_scripts
    lines = [line for script in pytest_scripts for line in script.splitlines() if "bin/vlmbench" not in line]
    flags = {flag for line in lines for flag in FLAG.findall(line)}
    assert {"--vlmbench-fail-on", "--benchmark-json", "--vlmbench-report"} <= flags
    known = set(FLAG.findall(pytest_help()))
    assert flags <= known, f"pytest options used by the workflow but unknown to pytest: {sorted(flags - known)}"


def test_every_vlmbench_call_parses() -> None:
    """Each call is parsed by the real ``vlmbench`` parser: a removed option or value exits 2 here."""
    calls = vlmbench_commands()
    assert {argv[0] for argv in calls} == {"compare", "diff"}
    parser = build_parser()
    for argv in calls:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"`vlmbench {' '.join(argv)}` does not parse", pytrace=False)


@pytest.mark.slow  # `pytest --help` in a subprocess
def test_the_checker_catches_unknown_names() -> None:
    """The lookups above would see a misspelt option: the help text and the parser refuse one."""
    assert "--vlmbench-fail-on" in FLAG.findall(pytest_help()) and "--vlmbench-fial-on" not in pytest_help()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "a.json", "b.json", "--format", "html"])


def test_docs_ci_shows_this_workflow() -> None:
    """docs/ci.md carries a copy of the file to read; it must be the file, word for word."""
    text = (ROOT / "docs" / "ci.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    assert WORKFLOW.read_text() in blocks, "docs/ci.md's yaml block differs from .github/workflows/nightly-gpu.yml"
