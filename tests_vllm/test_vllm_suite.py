"""The issue's acceptance run: a suite on the in-process engine through the plugin, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_text_suite_on_vllm_writes_a_normal_record(tmp_path: Path) -> None:
    out = tmp_path / "records.json"
    command = [
        sys.executable, "-m", "pytest", "suites/test_text_classification.py", "-p", "no:cacheprovider", "-q",
        "--engine", "vllm", "--model", "tiny:qwen2.5-7b", "--dataset", "bbc_news", "--limit", "20",
        f"--vlmbench-json={out}",
    ]  # fmt: skip
    # vLLM's default here, engine processes spawned beside pytest, as a user's run has them.
    env = {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    records = [b["extra_info"]["vlmbench"] for b in json.loads(out.read_text())["benchmarks"]]
    assert sorted(r["strategy"] for r in records) == ["binary", "closed_set"]
    for record in records:
        assert record["n_items"] == 20 and record["n_errors"] == 0
        assert record["model_info"]["family"] == "vllm"
        assert record["config"]["engine"] == {"name": "vllm", "tensor_parallel_size": 1, "max_model_len": 8192, "prefix_caching": True}
    assert len({r["model_load_id"] for r in records}) == 1  # one engine served both strategies
