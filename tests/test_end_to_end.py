"""The shipped suites on the offline default: the reference Qwen2-VL through the real adapter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # every test starts Python in a subprocess; two run the tiny models


def run_pytest(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def test_collect_only_imports_no_torch_and_loads_nothing(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "def pytest_sessionfinish(session):\n"  # `datasets` is the Hugging Face library, not pytest_vlmbench.datasets
        "    heavy = ('torch', 'transformers', 'datasets', 'sklearn', 'PIL', 'numpy', 'tokenizers', 'huggingface_hub',\n"
        "             'safetensors', 'pyarrow', 'pynvml')\n"
        "    print('HEAVY_MODULES=' + ','.join(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    env_path = f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "probe", "-p", "no:cacheprovider", "suites/", "--collect-only", "-q"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": env_path, "VLMBENCH_CACHE_DIR": str(tmp_path / "cache"),
                      "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HEAVY_MODULES=\n" in result.stdout, [line for line in result.stdout.splitlines() if "HEAVY_MODULES=" in line]
    assert "test_image_classification.py::test_image_classification[ref:qwen2-vl-fashion-" in result.stdout
    assert "closed_set]" in result.stdout and "binary]" in result.stdout
    assert not (tmp_path / "cache").exists()  # no tiny model was built


def test_a_suite_with_no_case_for_the_selected_models_is_deselected(tmp_path: Path) -> None:
    # Image-only models leave the text suite without a case; pytest 9 still makes an item of it
    # (parameters NOTSET), which once crashed the session at collection (INTERNALERROR).
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites/", "--model", "tiny:qwen2-vl,tiny:gemma-3",
         "--collect-only", "-q"],
        cwd=ROOT, env={**os.environ, "VLMBENCH_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "INTERNALERROR" not in result.stdout + result.stderr
    assert "tiny:gemma-3-" in result.stdout and "test_text_classification" not in result.stdout
    assert "2 deselected" in result.stdout  # the text suite's and the NER suite's


def test_default_suite_runs_offline(tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    result = run_pytest("suites/test_image_classification.py", "--limit", "12", f"--benchmark-json={bench}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "vlmbench results" in result.stdout
    data = json.loads(bench.read_text())
    assert data["vlmbench"]["models"]["ref:qwen2-vl-fashion"]["loads"] == 1
    records = {b["extra_info"]["vlmbench"]["strategy"]: b["extra_info"]["vlmbench"] for b in data["benchmarks"]}
    assert set(records) == {"closed_set", "binary"}
    for record in records.values():
        assert record["n_items"] == 12
        assert record["model_info"]["architecture"] == "Qwen2VLForConditionalGeneration"
        assert record["model_info"]["device"] == "cpu"
        assert len(record["predictions"]) == 12
        assert record["throughput"]["items_per_s"] > 0
        assert record["throughput"]["model_load_s"] > 0
        # Every answer is either a class or recorded as invalid, never anything else.
        assert all(p["prediction"] in (None, *record["classes"]) for p in record["predictions"])
    # Binary questions never exceed n-1 and stop at the first yes.
    for p in records["binary"]["predictions"]:
        assert 1 <= len(p["questions"]) <= len(records["binary"]["classes"]) - 1


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss units")
def test_library_runs_without_pytest() -> None:
    code = (
        "from pytest_vlmbench import EvalConfig, evaluate, load_dataset, load_model, resolve_model\n"
        "from pytest_vlmbench.models.base import LoadOptions\n"
        "m, s = load_model(resolve_model('tiny:qwen2-vl'), LoadOptions(device='cpu'))\n"
        "r = evaluate(m, load_dataset('digits'), 'binary', EvalConfig(limit=5), model_load_s=s)\n"
        "m.close()\n"
        "import sys; assert 'pytest' not in sys.modules, 'the library imported pytest'\n"
        "print(r.n_items, r.dataset, r.strategy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("5 digits binary")
