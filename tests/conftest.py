"""Test settings: never touch the network; share one cache of tiny builds per checkout."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("VLMBENCH_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".vlmbench-cache"))

# pytester's in-process runs restore sys.modules afterwards, and numpy and torch cannot be
# imported a second time in one process (torch segfaults; transformers' classes come back as
# strangers to their own registries). Importing them here, before any inner run, keeps them
# loaded for the whole test session.
import sklearn.metrics  # noqa: E402,F401
import torch  # noqa: E402,F401
import transformers  # noqa: E402,F401
import datasets  # noqa: E402,F401  # registers pyarrow extension types, which a second import cannot
import PIL.Image  # noqa: E402,F401
