"""The one folder pytest-vlmbench keeps what it computed between runs.

Below it: ``tiny/`` (the random-weight tiny builds, :mod:`.models.tiny`), ``answers.sqlite``
(the answer cache, :mod:`.evaluation.answer_cache`) and ``trained/`` (fine-tuned heads and
probes, :mod:`.training.weights_cache`). Each of those owns its own part; this module only
says where the folder is, so none of them has to import another to find it.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$VLMBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-vlmbench``, else ``~/.cache/pytest-vlmbench``."""
    explicit = os.environ.get("VLMBENCH_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pytest-vlmbench"
