"""Dataset fingerprints: enough to tell, across commits and machines, whether the data changed.

The fingerprint is computed from what was actually evaluated (after class selection,
per-class caps and ``--limit``): the source, its split and revision or file hashes, the
class list and every item's id and label. Images are not re-read: for hub and
``save_to_disk`` data the ``datasets`` fingerprint covers the content, for local files a
content or listing hash does (see :mod:`pytest_vlmbench.datasets.files`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..record import label_text
from .base import Dataset

FINGERPRINT_KEYS = ("split", "revision", "hf_fingerprint", "files_sha256", "selection")
"""The provenance entries that go into the fingerprint (others are informational)."""


def sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def listing_sha256(root: Path, files: list[Path]) -> str:
    """Hash of relative paths and sizes: cheap for 30k images, and changes when files are added,
    removed, renamed or resized (re-encoding an image in place keeps it only by chance)."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(f"{path.relative_to(root).as_posix()}\t{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def items_sha256(dataset: Dataset) -> str:
    digest = hashlib.sha256()
    for item in dataset.items:
        # A NER label's tags joined by spaces, as labels were before they became tuples: the same data keeps
        # its fingerprint, so the gate still compares it with baselines recorded before (schema 1).
        digest.update(f"{item.id}\t{label_text(item.label)}\n".encode())
    return digest.hexdigest()


def fingerprint(dataset: Dataset) -> dict[str, Any]:
    """The JSON-ready fingerprint of ``dataset``; ``sha256`` summarises the content fields."""
    out: dict[str, Any] = {"name": dataset.name, "source": dataset.source}
    for key in FINGERPRINT_KEYS:
        if key in dataset.provenance:
            out[key] = dataset.provenance[key]
    out["classes"] = list(dataset.classes)
    out["n_items"] = len(dataset.items)
    out["items_sha256"] = items_sha256(dataset)
    # The summary leaves out the name and source: a local path differs between machines
    # while the data is the same, and the content fields already change when the data does.
    out["sha256"] = sha256_json({k: v for k, v in out.items() if k not in ("name", "source")})
    return out
