"""OpenAI-compatible chat-completions APIs: GPT-4o, and vLLM / TGI / SGLang servers.

Standard library only (``urllib`` and a thread pool), so the adapter adds no dependency.

- Base URL: ``--api-base``, else ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``.
- Key: read from the environment variable named by ``--api-key-env`` (default
  ``OPENAI_API_KEY``) when the model loads, kept only in the request headers, and never
  written to the JSON, the logs or an error message (any echo of it is masked).
- Images are sent inline as ``data:image/png;base64,...`` URLs.
- At most ``--api-concurrency`` requests are in flight; a 429, a 5xx, a timeout, a
  dropped connection or a malformed response is retried with exponential backoff (a
  ``Retry-After`` header is honoured), up to ``api_max_retries`` times; any other 4xx
  (a wrong key, an unknown model) fails at once with the server's message.
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .base import LoadOptions, ModelSpec, Request

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_BASE = "https://api.openai.com/v1"
MAX_BACKOFF_S = 30.0


class APIError(RuntimeError):
    """The API could not answer; the message never contains the key."""


class _Retryable(Exception):
    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.wait_s = wait_s


def public_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for the record."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def image_data_url(image: Image.Image) -> str:
    """The image as a PNG ``data:`` URL, the inline form every OpenAI-compatible server accepts."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAIChatModel:
    """A :class:`~pytest_vlmbench.models.base.GenerativeModel` served over HTTP."""

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        self.name = spec.name
        self.model_id = source
        self.base_url = (options.api_base or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE).rstrip("/")
        key = os.environ.get(options.api_key_env, "")
        if not key and self.base_url == DEFAULT_BASE:
            raise APIError(
                f"{spec.name} calls {DEFAULT_BASE}, and the environment variable {options.api_key_env} "
                f"that should hold the API key is not set."
            )
        self._secret = key
        self._headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
        self.concurrency = max(1, options.api_concurrency)
        self.timeout_s = options.api_timeout_s
        self.max_retries = max(0, options.api_max_retries)
        self.backoff_s = float(spec.meta.get("api_backoff_s", 1.0))
        self._lock = threading.Lock()
        self.retries = 0
        self.info: dict[str, Any] = {
            "source": source,
            "family": spec.family,
            "api_base": public_url(self.base_url),
            "device": "api",
            "concurrency": self.concurrency,
        }

    def __repr__(self) -> str:  # never show the headers (they hold the key)
        return f"OpenAIChatModel(name={self.name!r}, model_id={self.model_id!r}, base_url={public_url(self.base_url)!r})"

    def _mask(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text

    def _body(self, request: Request) -> bytes:
        content: list[dict[str, Any]] = []
        if request.image is not None:
            content.append({"type": "image_url", "image_url": {"url": image_data_url(request.image)}})
        content.append({"type": "text", "text": request.prompt})
        body = {
            "model": self.model_id,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": request.max_new_tokens,
            "temperature": 0,
        }
        return json.dumps(body).encode()

    def _attempt(self, body: bytes) -> str:
        req = urllib.request.Request(f"{self.base_url}/chat/completions", data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = self._mask(exc.read().decode("utf-8", "replace")[:300])
            if exc.code == 429 or exc.code >= 500:
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                wait = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
                raise _Retryable(f"HTTP {exc.code}: {detail}", wait) from None
            raise APIError(f"{self.base_url} answered HTTP {exc.code} for {self.model_id!r}: {detail}") from None
        except (TimeoutError, socket.timeout) as exc:
            raise _Retryable(f"no answer within {self.timeout_s:g} s") from exc
        except (urllib.error.URLError, ConnectionError) as exc:
            raise _Retryable(f"connection failed: {self._mask(str(exc))}") from exc
        try:
            payload = json.loads(raw)
            text = payload["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(f"malformed response: {self._mask(raw[:200].decode('utf-8', 'replace'))!r}") from None
        if not isinstance(text, str):
            raise _Retryable(f"malformed response: message content is {type(text).__name__}, not text")
        return text

    def _one(self, request: Request) -> str:
        body = self._body(request)
        last = ""
        for attempt in range(self.max_retries + 1):
            try:
                return self._attempt(body).strip()
            except _Retryable as exc:
                last = str(exc)
                if attempt == self.max_retries:
                    break
                with self._lock:
                    self.retries += 1
                # Exponential backoff with jitter, so parallel workers don't retry in lockstep.
                wait = exc.wait_s if exc.wait_s is not None else self.backoff_s * 2**attempt * (0.5 + random.random())
                time.sleep(min(wait, MAX_BACKOFF_S))
        raise APIError(f"{self.base_url} failed for {self.model_id!r} after {self.max_retries + 1} attempts; last: {last}")

    def generate(self, requests: Sequence[Request]) -> list[str]:
        if not requests:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            answers = list(pool.map(self._one, requests))
        self.info["retries"] = self.retries
        return answers

    def close(self) -> None:
        self._secret = ""
        self._headers = {}


def load(source: str, spec: ModelSpec, options: LoadOptions) -> OpenAIChatModel:
    return OpenAIChatModel(source, spec, options)
