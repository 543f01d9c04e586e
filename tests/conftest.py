"""Test settings: never touch the network; share one cache of tiny builds per checkout."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("VLMBENCH_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".vlmbench-cache"))

# pytester's in-process runs restore sys.modules afterwards, and numpy cannot be imported a
# second time in one process; importing what the runner imports here keeps it loaded.
import sklearn.metrics  # noqa: E402,F401
