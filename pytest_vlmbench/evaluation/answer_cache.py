"""The answer cache: every answer a model gave, kept in SQLite so a rerun need not ask again.

As in lm-evaluation-harness, answers are stored in one SQLite file under the cache
directory (``<cache>/answers.sqlite``, the same base as the tiny builds:
``$VLMBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/pytest-vlmbench``). A row's key is a hash of
everything that decides the answer:

- the model's identity (:func:`model_identity`): its name, the adapter's facts (source,
  family, architecture, dtype, API base without credentials, a classifier's labels and
  label map), the kind of device (``cpu``, ``cuda``, ``api``: greedy answers can differ
  between CPU and GPU arithmetic), and a fingerprint of the weights (a local directory, a
  ``tiny:`` build included: the name, size and mtime of each file and the sha256 of its
  ``config.json``; a hub id: the cached snapshot's commit; an API model: none, its base URL
  and model id name it);
- the exact prompt, the image's content hash (mode, size and decoded pixels), the
  generation settings (``max_new_tokens``, greedy) and, for ``classify``, the class list.

Values are JSON: the answer text, or for ``classify`` a class name or ``null``. Several
processes (xdist workers) may write at once: the file is in WAL mode, every write is one
short ``BEGIN IMMEDIATE`` transaction, and a ``database is locked`` is waited out and retried.
A cache that breaks during a run (disk full, file removed) never fails the evaluation: it
warns once and the run goes on without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..models.base import Model, Request
from ..record import plain_json
from ..cache_dir import cache_dir
from ..secrets import public_url

if TYPE_CHECKING:
    from PIL import Image

MODES = ("off", "read", "write", "readwrite")
"""``read``: answers found are used, new ones not stored; ``write``: every answer stored, none
read (a later run can resume); ``readwrite``: both (what ``--vlmbench-resume`` means)."""
KEY_VERSION = 1
"""Part of every key: bump it when the key's recipe changes, so old rows simply miss."""
IDENTITY_FACTS = ("source", "family", "architecture", "dtype", "api_base", "labels", "label_template", "max_tokens")
"""The adapter's ``info`` entries that enter the model identity (volatile ones, like the
API's retry count or the parameter count, do not)."""
BUSY_TIMEOUT_S = 30.0
"""How long SQLite itself waits for another writer's lock before reporting ``database is locked``."""
RETRIES = 5
_T = TypeVar("_T")


class AnswerCacheError(RuntimeError):
    """The cache cannot be opened; the message is one sentence for the user."""


class AnswerCacheWarning(UserWarning):
    """The cache stopped working during a run, or the default cache could not be opened; the run goes on without it."""


def default_path() -> Path:
    """``<cache dir>/answers.sqlite``."""
    return cache_dir() / "answers.sqlite"


# -- keys ---------------------------------------------------------------------------------


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def weights_fingerprint(source: str) -> dict[str, Any]:
    """What the weights at ``source`` are: a directory's files (name, size, mtime) and the sha256
    of its ``config.json``; a hub id's cached snapshot commit; nothing for other sources."""
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            stats = [(p.name, p.stat()) for p in path.iterdir() if p.is_file()]
            config = path / "config.json"
            sha = hashlib.sha256(config.read_bytes()).hexdigest() if config.is_file() else None
        except OSError as exc:  # unreadable: a key that only this state of the directory matches
            return {"unreadable": f"{type(exc).__name__}: {exc}"}
        return {"files": sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats), "config_sha256": sha}
    if source.count("/") == 1 and not source.startswith((".", "/", "~")):  # a hub id: org/name
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(source, "config.json")
        except Exception:  # noqa: BLE001 - no hub library or an odd id: the name alone identifies it
            return {}
        return {"revision": Path(found).parent.name} if isinstance(found, str) else {}
    return {}


def model_identity(model: Model) -> dict[str, Any]:
    """Everything about ``model`` that decides its answers (see the module docstring)."""
    info: dict[str, Any] = plain_json(model.info)  # the facts as the record writes them (a ``None`` fact is absent)
    identity: dict[str, Any] = {k: info[k] for k in IDENTITY_FACTS if k in info}
    if "api_base" in identity:
        identity["api_base"] = public_url(str(identity["api_base"]))
    identity["name"] = model.name
    identity["device_kind"] = (model.info.device or "").split(":")[0]
    if model.label_map:
        identity["label_map"] = sorted((str(k), str(v)) for k, v in dict(model.label_map).items())
    if identity["device_kind"] != "api":  # an API's model id names the server's model, not local files
        identity["weights"] = weights_fingerprint(model.info.source or "")
    return identity


def image_digest(image: Image.Image | None) -> str | None:
    """sha256 of the decoded image: mode, size, palette and pixel bytes (not the file's bytes)."""
    if image is None:
        return None
    h = hashlib.sha256(f"{image.mode}:{image.size[0]}x{image.size[1]}:".encode())
    palette = image.getpalette() if image.mode in ("P", "PA") else None
    if palette:
        h.update(bytes(palette))
    h.update(image.tobytes())
    return h.hexdigest()


class KeyMaker:
    """The keys of one model's requests: the model's identity is hashed once, not per request."""

    def __init__(self, model: Model, classes: Sequence[str] | None = None) -> None:
        self.model_digest = _digest(model_identity(model))
        self.classes = list(classes) if classes is not None else None
        """``None`` for ``generate``; the class list for ``classify`` (its answer depends on it)."""

    def key(self, request: Request, image: str | None = None) -> str:
        """The request's key; ``image``: its image's digest when the caller has it already."""
        payload = {
            "v": KEY_VERSION,
            "model": self.model_digest,
            "kind": "generate" if self.classes is None else "classify",
            "prompt": request.prompt,
            "image": image if image is not None else image_digest(request.image),
            "max_new_tokens": request.max_new_tokens if self.classes is None else None,
            "greedy": True,
            "classes": self.classes,
        }
        if request.exemplar_images:  # only then: keys of prompts without image exemplars stay as they were
            payload["exemplar_images"] = [image_digest(i) for i in request.exemplar_images]
        return _digest(payload)


# -- the store ----------------------------------------------------------------------------


class AnswerCache:
    """Answers by key in one SQLite file; open it with :meth:`open`, one per session.

    Each process opens its own connection (a forked child never reuses its parent's).
    """

    def __init__(self, path: Path, mode: str) -> None:
        if mode not in MODES or mode == "off":
            raise AnswerCacheError(f"The answer cache mode must be one of read, write, readwrite, got {mode!r}.")
        self.path = path
        self.mode = mode
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._broken = False

    @classmethod
    def open(cls, mode: str = "readwrite", path: Path | str | None = None, *, required: bool = True) -> AnswerCache | None:
        """The cache at ``path`` (default :func:`default_path`), or ``None`` for mode ``off``.

        The file is opened now, so a bad path fails before any model loads: with ``required``
        as :class:`AnswerCacheError` (one sentence), else as an :class:`AnswerCacheWarning`
        and ``None`` (the run goes on without a cache).
        """
        if mode not in MODES:
            raise AnswerCacheError(f"The answer cache mode must be one of {', '.join(MODES)}, got {mode!r}.")
        if mode == "off":
            return None
        cache = cls(Path(path) if path is not None else default_path(), mode)
        try:
            cache._connection()
        except AnswerCacheError as exc:
            if required:
                raise
            warnings.warn(AnswerCacheWarning(f"{exc} Running without the answer cache."), stacklevel=2)
            return None
        return cache

    @property
    def readable(self) -> bool:
        return self.mode in ("read", "readwrite")

    @property
    def writable(self) -> bool:
        return self.mode in ("write", "readwrite")

    def _connection(self) -> sqlite3.Connection | None:
        """This process's connection (``None`` in read mode while no cache file exists)."""
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self._conn = None
        if not self.writable and not self.path.is_file():
            return None
        try:
            if self.writable:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            if self.writable:
                _retry(lambda: conn.execute("PRAGMA journal_mode=WAL"))
                conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable against a killed process, fast
                _retry(lambda: conn.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT, model TEXT, created REAL)"))
            else:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.Error, OSError) as exc:
            reason = str(exc).rstrip(".") or type(exc).__name__
            raise AnswerCacheError(
                f"The answer cache {self.path} cannot be used ({reason}); delete the file, set VLMBENCH_CACHE_DIR "
                f"to a writable directory, or pass --vlmbench-cache off."
            ) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _use(self, what: str, action: Callable[[sqlite3.Connection], _T], fallback: _T) -> _T:
        """``action(connection)``, retried while locked; a cache that breaks warns once and is left alone."""
        if self._broken:
            return fallback
        with self._lock:
            try:
                conn = self._connection()
                return fallback if conn is None else _retry(lambda: action(conn))
            except (sqlite3.Error, OSError, AnswerCacheError) as exc:
                self._broken = True
                warnings.warn(
                    AnswerCacheWarning(f"The answer cache {self.path} failed while {what} ({exc}); the run goes on without it."),
                    stacklevel=3,
                )
                return fallback

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached answers of ``keys`` that are present (nothing unless the mode reads)."""
        wanted = list(dict.fromkeys(keys))
        if not self.readable or not wanted:
            return {}

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'answers'").fetchone() is None:
                return {}
            found: dict[str, Any] = {}
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = conn.execute(f"SELECT key, answer FROM answers WHERE key IN ({marks})", part)
                found.update((key, json.loads(answer)) for key, answer in rows)
            return found

        return self._use("reading", read, {})

    def put_many(self, answers: Iterable[tuple[str, Any]], model: str = "") -> int:
        """Store ``(key, answer)`` pairs in one short transaction; returns how many were stored."""
        rows = [(key, json.dumps(answer), model, time.time()) for key, answer in answers]
        if not self.writable or not rows:
            return 0

        def write(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return len(rows)

        return self._use("writing", write, 0)

    def count(self) -> int:
        """Rows in the cache (any mode)."""

        def rows(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'answers'").fetchone() is None:
                return 0
            return int(conn.execute("SELECT count(*) FROM answers").fetchone()[0])

        return self._use("counting", rows, 0)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnswerCache({str(self.path)!r}, mode={self.mode!r})"


def _retry(action: Callable[[], _T]) -> _T:
    """``action()``, retried with backoff while another process holds the lock past the busy timeout."""
    for attempt in range(RETRIES):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if attempt == RETRIES - 1 or not any(word in str(exc) for word in ("locked", "busy")):
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")
