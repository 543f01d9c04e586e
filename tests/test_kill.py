"""Killing a real pytest process mid-run: finished items survive, a resumed run asks nothing twice, and outputs never look current when they are not.

Each test starts ``python -m pytest`` on a small project (three slow scripted models on a
toy dataset), waits until the journal holds the first finished item, sends a signal, and
reads what was left on disk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import toy_conftest

pytestmark = pytest.mark.slow  # every test here runs pytest in a subprocess and signals it

CONFTEST = toy_conftest(n=6, extra="""
import time

def slow_model(name):
    def slow(request):
        time.sleep(0.15)
        with open("calls.txt", "a") as fh:  # every prompt that reached a model, in order
            fh.write(name + "\\n")
        return "It is a cat."
    return slow

for name in ("slow-a", "slow-b", "slow-c"):
    MODELS.register(name, scripted_spec(name, slow_model(name), modalities=frozenset({"text"})))
""")

SUITE = '''
import pytest
pytestmark = pytest.mark.vlmbench(models=["slow-a", "slow-b", "slow-c"], datasets=["toy"], strategies=["closed_set"])

def test_toy(vlmbench):
    vlmbench.run()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_suite.py").write_text(SUITE)
    # A stale result of an earlier run: it must not survive looking current.
    (tmp_path / "out.json").write_text('{"stale": true}')
    (tmp_path / "bench.json").write_text('{"stale": true}')
    return tmp_path


def start(project: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "VLMBENCH_CACHE_DIR": str(project / "cache")}  # this test's own answer cache
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", "--batch-size", "1",
            "--vlmbench-json", "out.json", "--benchmark-json", "bench.json", *extra]  # fmt: skip
    return subprocess.Popen(args, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def journal_lines(project: Path) -> list[dict[str, object]]:
    path = project / "out.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


def after_first_item(process: subprocess.Popen[str], project: Path, sig: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(journal_lines(project)) < 2:  # header + one item
        assert process.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.05)
    assert len(journal_lines(project)) >= 2, "no item finished within 60 s"
    process.send_signal(sig)
    out, _ = process.communicate(timeout=60)
    return out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_writes_every_output_marked_interrupted(project: Path, sig: int) -> None:
    process = start(project)
    out = after_first_item(process, project, sig)
    assert process.returncode == 2, out  # pytest's own code for an interrupt
    assert "Traceback" not in out and "min() arg" not in out, out
    ours = json.loads((project / "out.json").read_text())
    assert ours["vlmbench"]["status"] == "interrupted"
    finished = [b["extra_info"]["vlmbench"]["model"] for b in ours["benchmarks"]]
    assert 1 <= len(finished) < 3 and finished[0] == "slow-a"
    bench = json.loads((project / "bench.json").read_text())  # pytest-benchmark's, written too
    assert bench["vlmbench"]["status"] == "interrupted"
    assert [b["extra_info"]["vlmbench"]["model"] for b in bench["benchmarks"]] == finished
    lines = journal_lines(project)
    assert lines[-1] == {"vlmbench_journal_end": "interrupted"}
    assert [line["extra_info"]["vlmbench"]["model"] for line in lines[1:-1]] == finished  # type: ignore[index]


def test_a_killed_run_leaves_its_finished_items_in_the_journal_and_no_stale_file(project: Path) -> None:
    process = start(project)
    after_first_item(process, project, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert not (project / "out.json").exists() and not (project / "bench.json").exists()  # stale files removed
    lines = journal_lines(project)
    assert lines[0]["vlmbench_journal"] == 1 and "vlmbench_journal_end" not in lines[-1]
    records = [line["extra_info"]["vlmbench"] for line in lines[1:]]  # type: ignore[index]
    assert records and records[0]["model"] == "slow-a" and records[0]["n_items"] == 6
    from pytest_vlmbench.journal import read_journal

    document = read_journal(project / "out.jsonl")
    assert document["vlmbench"]["status"] == "running or killed"
    assert [b["extra_info"]["vlmbench"]["model"] for b in document["benchmarks"]] == [r["model"] for r in records]

    # Resume: the model is asked nothing it already answered before the kill.
    asked_before = (project / "calls.txt").read_text().split()
    (project / "calls.txt").unlink()
    resumed = start(project, "--vlmbench-resume")
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out
    asked_after = (project / "calls.txt").read_text().split()
    prompts_per_model = 6 * 3  # six items, three class orders each
    assert "slow-a" not in asked_after  # its item had finished before the kill
    # Each prompt asked once overall; at most the one in flight at the kill is asked again.
    assert 3 * prompts_per_model <= len(asked_before) + len(asked_after) <= 3 * prompts_per_model + 1
    final = json.loads((project / "out.json").read_text())
    hits = {b["extra_info"]["vlmbench"]["model"]: b["extra_info"]["vlmbench"]["throughput"].get("cache_hits") for b in final["benchmarks"]}
    assert hits["slow-a"] == prompts_per_model and final["vlmbench"]["status"] == "complete"


def test_a_run_that_completes_says_so(project: Path) -> None:
    process = start(project)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    ours = json.loads((project / "out.json").read_text())
    assert ours["vlmbench"]["status"] == "complete" and len(ours["benchmarks"]) == 3
    assert journal_lines(project)[-1] == {"vlmbench_journal_end": "complete"}
