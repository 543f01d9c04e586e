"""Trained weights kept under the cache directory, so an unchanged rerun does not train again.

``<cache dir>/trained/<method>-<key>/`` (the cache directory of the tiny builds and the
answer cache: ``$VLMBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-vlmbench``). The key
hashes everything the trained weights depend on: the method, the base model's identity
(its name, adapter facts and a fingerprint of its weight files, as the answer cache keys
answers), the training data, the hyperparameters and the seed. Change any of them and the
key changes, so a stale model is never reused; remove the folder to force retraining.

A build is written to a temporary folder and renamed into place with its ``training.json``
last, so a killed run or a concurrent xdist worker never sees half-written weights.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..datasets.fingerprint import sha256_json
from ..cache_dir import cache_dir

CACHE_VERSION = 1
"""Part of every key: bump it when training changes in a way that changes the weights."""
META = "training.json"
"""Written last: a folder without it is not a finished build."""


def training_key(method: str, base: Mapping[str, Any], data_sha256: str, hyperparameters: Mapping[str, Any], seed: int) -> str:
    """The cache key: 20 hex digits of the hash of everything the trained weights depend on."""
    return sha256_json(
        {"v": CACHE_VERSION, "method": method, "base": base, "data": data_sha256, "hyper": hyperparameters, "seed": seed}
    )[:20]


@dataclass(frozen=True)
class CachedTraining:
    """One trained model's folder in the cache."""

    path: Path

    @classmethod
    def for_key(cls, method: str, key: str, root: Path | None = None) -> CachedTraining:
        return cls((root or cache_dir() / "trained") / f"{method}-{key}")

    @property
    def ready(self) -> bool:
        return (self.path / META).is_file()

    def meta(self) -> dict[str, Any]:
        """What the training run stored beside the weights (its cost, losses ...)."""
        loaded = json.loads((self.path / META).read_text())
        return loaded if isinstance(loaded, dict) else {}

    @contextmanager
    def build(self, meta: dict[str, Any]) -> Iterator[Path]:
        """A temporary folder to write the weights to; on success it becomes :attr:`path`, with ``meta``.

        The caller fills ``meta`` inside the ``with`` block (the cost is known only after training).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}-", dir=self.path.parent))
        try:
            yield staging
            (staging / META).write_text(json.dumps(meta, indent=1, default=str))
            try:
                staging.rename(self.path)
            except OSError:
                if not self.ready:  # not a lost race with another worker: a real failure
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
