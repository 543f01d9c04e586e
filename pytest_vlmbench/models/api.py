"""OpenAI-compatible chat-completions APIs: GPT-4o, and vLLM / TGI / SGLang servers.

Standard library only (``urllib`` and a thread pool), so the adapter adds no dependency.

- Base URL: ``--api-base``, else ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``;
  it must start with ``http://`` or ``https://`` (checked at load). A trailing
  ``/chat/completions`` is dropped. Redirects are not followed (a POST would be lost).
- Credentials: the key is read from the environment variable named by ``--api-key-env``
  (default ``OPENAI_API_KEY``) when the model loads and sent as ``Bearer``; a
  ``user:password@`` part of the base URL is sent as ``Basic`` when no key is set (both at
  once are refused). Either is registered with :mod:`pytest_vlmbench.secrets` and kept only
  in the request headers: answers and errors pass through ``redact``, and ``info``,
  ``base_url`` and ``repr`` hold the URL without its credentials.
- Images are sent inline as ``data:image/png;base64,...`` URLs.
- At most ``--api-concurrency`` requests are in flight; a 408, 429, 5xx, a timeout, a failed
  connection or a malformed response is retried with exponential backoff (a ``Retry-After``
  header is honoured), up to ``api_max_retries`` times; any other 4xx (a wrong key, an
  unknown model), a redirect or a TLS failure fails at once.
- A request that fails for good ends the batch: no new request or retry starts, attempts in
  flight finish (within ``api_timeout_s``), and :class:`APIRequestsFailed` (a
  :class:`~.base.RequestsFailed`) carries one sentence and the answers that did arrive.
  A prompt the server refuses as longer than the context window fails only its item
  (:mod:`.api_carry`): the rest of the batch is answered, and not billed twice.
- Each response's ``usage`` (prompt, cached and completion tokens) becomes ``last_tokens``, one
  :class:`~.base.TokenCount` per request (:mod:`.api_response` reads the responses).
- ``retries`` counts retries since the model was loaded; ``info`` holds no running count
  (an evaluation records the difference of ``retries`` over its own calls).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import random
import socket
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from email.message import Message
from http import HTTPStatus
from typing import IO, TYPE_CHECKING, Any

from ..secrets import public_url, redact, register_secret
from .api_carry import Carried, says_too_long
from .api_response import Completion, NotACompletion, one_line, parse_completion
from .api_response import detail as server_detail
from .base import LoadOptions, ModelSpec, PromptTooLong, Request, RequestsFailed, TokenCount

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_BASE = "https://api.openai.com/v1"
MAX_BACKOFF_S = 30.0


class APIError(RuntimeError):
    """The API cannot be used as configured, or could not answer: one line, never a secret."""


class APIRequestsFailed(RequestsFailed, APIError):
    """Requests of a batch failed for good; ``answered`` holds the answers that arrived, by position."""


class _Failed(Exception):
    """One attempt failed; ``sentence`` says so if it stays failed (``{n}``: the attempts made)."""

    def __init__(self, sentence: str, retryable: bool = True, wait_s: float | None = None, too_long: bool = False) -> None:
        super().__init__("API attempt failed")
        self.sentence, self.retryable, self.wait_s, self.attempts, self.too_long = sentence, retryable, wait_s, 1, too_long

    def final(self) -> str:
        return one_line(self.sentence.replace("{n}", str(self.attempts)))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects surface as ``HTTPError`` (urllib would re-send a POST as a GET, headers and all)."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> urllib.request.Request | None:
        return None


def checked_base(url: str, origin: str) -> str:
    """``url`` if it is an http(s) URL with a host; else :class:`APIError` naming ``origin``."""
    parts = urllib.parse.urlsplit(url)
    shown = public_url(url)
    if parts.scheme.lower() not in ("http", "https") or "://" not in url:
        example = f" (for example http://{shown})" if "://" not in url else ""
        raise APIError(f"{origin} {shown!r} must start with http:// or https://{example}.")
    if not parts.hostname:
        raise APIError(f"{origin} {shown!r} has no host name (for example http://localhost:8000/v1).")
    try:
        parts.port
    except ValueError:
        raise APIError(f"{origin} {shown!r} has an invalid port (for example http://localhost:8000/v1).") from None
    return url


def image_data_url(image: Image.Image) -> str:
    """The image as a PNG ``data:`` URL, the inline form every OpenAI-compatible server accepts."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _authorization(key_env: str, parts: urllib.parse.SplitResult) -> tuple[str, dict[str, str]]:
    """How requests authenticate (``key``, ``url`` or ``none``) and the header; registers the secrets."""
    key = os.environ.get(key_env, "").strip()
    if key:
        register_secret(key)
        register_secret(f"Bearer {key}")
        return "key", {"Authorization": f"Bearer {key}"}
    if parts.username is None and parts.password is None:
        return "none", {}
    password = urllib.parse.unquote(parts.password or "")
    register_secret(password)
    token = base64.b64encode(f"{urllib.parse.unquote(parts.username or '')}:{password}".encode()).decode("ascii")
    register_secret(token)
    return "url", {"Authorization": f"Basic {token}"}


class OpenAIChatModel:
    """A :class:`~pytest_vlmbench.models.base.GenerativeModel` served over HTTP."""

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        self.name = spec.name
        self.model_id = source
        given, origin = options.api_base, "--api-base"
        if not given:
            given, origin = os.environ.get("OPENAI_BASE_URL", ""), "$OPENAI_BASE_URL"
        url = checked_base(given.strip() or DEFAULT_BASE, origin)
        parts = urllib.parse.urlsplit(url)
        bare = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        self._endpoint = bare.rstrip("/").removesuffix("/chat/completions") + "/chat/completions"
        self.base_url = redact(self._endpoint.removesuffix("/chat/completions"))
        """The base URL as messages, ``info`` and ``repr`` show it: no credentials."""
        self.key_env = options.api_key_env
        has_key = bool(os.environ.get(self.key_env, "").strip())
        if has_key and "@" in parts.netloc:
            raise APIError(
                f"{origin} {self.base_url!r} has a user:password part and ${self.key_env} holds an API key, and a "
                f"request carries one Authorization header; remove one of them (--api-key-env may name an unset variable)."
            )
        if not has_key and self.base_url == DEFAULT_BASE:
            raise APIError(
                f"{spec.name} calls {DEFAULT_BASE}, and the environment variable {self.key_env} that should hold "
                f"the API key is not set; export it, or name the variable that holds the key with --api-key-env."
            )
        self._auth, auth_header = _authorization(self.key_env, parts)
        self._headers = {"Content-Type": "application/json", **auth_header}
        self._opener = urllib.request.build_opener(_NoRedirect)
        self.concurrency = max(1, options.api_concurrency)
        self.timeout_s = options.api_timeout_s
        self.max_retries = max(0, options.api_max_retries)
        self.backoff_s = float(spec.meta.get("api_backoff_s", 1.0))
        self._lock = threading.Lock()
        self.retries = 0
        """Retries since the model was loaded (a record takes the difference over its evaluation)."""
        self.last_tokens: list[TokenCount] | None = None
        """The last batch's ``usage``, one per request; ``None`` when a response had none."""
        self._carried = Carried()
        self.info: dict[str, Any] = {
            "source": source,
            "family": spec.family,
            "api_base": self.base_url,
            "device": "api",
            "concurrency": self.concurrency,
        }

    def __repr__(self) -> str:  # never show the headers (they hold the key)
        return f"OpenAIChatModel(name={self.name!r}, model_id={self.model_id!r}, base_url={self.base_url!r})"

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

    # -- one attempt -------------------------------------------------------------------------

    def _attempt(self, body: bytes) -> Completion:
        req = urllib.request.Request(self._endpoint, data=body, headers=self._headers, method="POST")
        try:
            with self._opener.open(req, timeout=self.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_failure(exc) from None
        except urllib.error.URLError as exc:
            raise self._connection_failure(exc.reason) from None
        except (OSError, http.client.HTTPException) as exc:  # timeouts and resets while reading
            raise self._connection_failure(exc) from None
        try:
            return parse_completion(raw)
        except NotACompletion as exc:
            raise self._garbage(str(exc)) from None

    def _garbage(self, what: str) -> _Failed:
        return _Failed(
            f"{self.base_url}/chat/completions answered {self.model_id!r} with something that is not an OpenAI chat "
            f"completion ({what}), after {{n}} attempts; check that --api-base names an OpenAI-compatible endpoint "
            f"(it usually ends in /v1)."
        )

    def _http_failure(self, exc: urllib.error.HTTPError) -> _Failed:
        code, url, model = exc.code, self.base_url, self.model_id
        try:
            detail = server_detail(exc.read()[:4096])
        except (OSError, http.client.HTTPException):
            detail = ""
        try:
            phrase = HTTPStatus(code).phrase.lower()
        except ValueError:
            phrase = "error"
        status = f"HTTP {code} {phrase}"
        said = f"{status}: {detail}" if detail else status
        if code == 429:
            return _Failed(
                f"{url} still answered HTTP 429 (rate limited) for {model!r} after {{n}} attempts; lower "
                f"--api-concurrency or raise the account's rate limit, then rerun.",
                wait_s=_retry_after(exc.headers),
            )
        if code >= 500 or code == 408:
            return _Failed(
                f"{url} still answered {status} for {model!r} after {{n}} attempts{f' ({detail})' if detail else ''}; "
                f"the server is failing: check its logs, then rerun.",
                wait_s=_retry_after(exc.headers),
            )
        if code in (401, 403):
            return _Failed(self._auth_sentence(code, said), retryable=False)
        if 300 <= code < 400:
            location = public_url(str(exc.headers.get("Location", "elsewhere")) if exc.headers else "elsewhere")
            return _Failed(
                f"{url} redirects to {location} ({status}); use the address it redirects to as --api-base (a "
                f"redirected POST is not re-sent).",
                retryable=False,
            )
        if code == 404:
            return _Failed(
                f"{url}/chat/completions answered {status} for {model!r}{f' ({detail})' if detail else ''}; check the "
                f"model name, and that --api-base is the API's base URL (it usually ends in /v1).",
                retryable=False,
            )
        if code == 400 and says_too_long(detail):  # that item's error; the rest of the batch goes on
            return _Failed(f"{url} refused its prompt as longer than the context window of {model!r} ({detail}); show "
                           f"fewer exemplars (--k-shot) or shorten the text", retryable=False, too_long=True)  # fmt: skip
        return _Failed(f"{url} rejected the request for {model!r} ({said}).", retryable=False)

    def _auth_sentence(self, code: int, said: str) -> str:
        url, env = self.base_url, self.key_env
        if self._auth == "url":
            return f"{url} rejected the user name and password given in --api-base ({said}); correct them in the URL."
        if self._auth == "none":
            return (
                f"{url} requires an API key ({said}), and the environment variable {env} named by --api-key-env is "
                f"not set; export it, or name the variable that holds the key with --api-key-env."
            )
        if code == 403:
            return (
                f"{url} denied the API key in ${env} access to {self.model_id!r} ({said}); put a key allowed to use "
                f"it in {env}, or name the variable that holds one with --api-key-env."
            )
        return (
            f"{url} rejected the API key in ${env} ({said}); put the right key in {env}, or name the variable that "
            f"holds it with --api-key-env."
        )

    def _connection_failure(self, reason: object) -> _Failed:
        url = self.base_url
        if isinstance(reason, TimeoutError):
            return _Failed(
                f"{url} gave no answer for {self.model_id!r} within {self.timeout_s:g} s, after {{n}} attempts; the "
                f"server is overloaded or the model is slow: lower --api-concurrency, or check the server."
            )
        if isinstance(reason, ssl.SSLCertVerificationError):
            why = one_line(reason.verify_message or str(reason))
            return _Failed(
                f"the TLS certificate of {url} could not be verified ({why}); fix the server's certificate, or point "
                f"SSL_CERT_FILE at the CA that signed it.",
                retryable=False,
            )
        if isinstance(reason, ssl.SSLError):
            why = one_line(reason.reason or str(reason))
            return _Failed(
                f"the TLS handshake with {url} failed ({why}); if the server speaks plain HTTP, use http:// in "
                f"--api-base.",
                retryable=False,
            )
        if isinstance(reason, ConnectionRefusedError):
            return _Failed(f"nothing listens at {url} (connection refused, {{n}} attempts); start the server, or fix --api-base.")
        if isinstance(reason, socket.gaierror):
            return _Failed(f"the host of {url} cannot be resolved ({{n}} attempts); check --api-base for a typo, and the network.")
        if isinstance(reason, http.client.BadStatusLine) and not isinstance(reason, ConnectionError):
            return _Failed(f"{url} does not answer in HTTP ({{n}} attempts); check the port and the scheme in --api-base.")
        why = one_line(f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason))
        return _Failed(f"the connection to {url} failed after {{n}} attempts ({why}); check the server and the network.")

    # -- a request, with retries; a batch ------------------------------------------------------

    def _one(self, request: Request, stop: threading.Event) -> Completion | _Failed | None:
        """The completion, the failure that ended the request, or ``None`` when the batch stopped first."""
        if stop.is_set():
            return None
        body = self._body(request)
        attempt = 1
        while True:
            try:
                done = self._attempt(body)
                return Completion(redact(done.text.strip()), done.tokens)
            except _Failed as exc:
                if not exc.retryable or attempt > self.max_retries:
                    exc.attempts = attempt
                    if not exc.too_long:  # a prompt too long fails its item only
                        stop.set()  # here, before this worker takes the next request: it is not sent
                    return exc
                if stop.is_set():
                    return None
                with self._lock:
                    self.retries += 1
                # Exponential backoff with jitter, so parallel workers don't retry in lockstep.
                wait = exc.wait_s if exc.wait_s is not None else self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                if stop.wait(min(wait, MAX_BACKOFF_S)):
                    return None
                attempt += 1

    def generate(self, requests: Sequence[Request]) -> list[str]:
        """Answers in order; :class:`APIRequestsFailed` (with the answers that arrived) if any request fails for good."""
        self.last_tokens = None
        if not requests:
            return []
        stop = threading.Event()
        answered, tokens = self._carried.take(requests)  # sent again after a refusal as too long: not re-billed
        too_long: dict[int, str] = {}
        failure: _Failed | None = None
        todo = [i for i in range(len(requests)) if i not in answered]
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(todo))), thread_name_prefix="vlmbench-api")
        try:
            futures = {pool.submit(self._one, requests[i], stop): i for i in todo}
            for future in as_completed(futures):
                result = future.result()
                if isinstance(result, Completion):
                    answered[futures[future]], tokens[futures[future]] = result.text, result.tokens
                elif isinstance(result, _Failed) and result.too_long:
                    too_long[futures[future]] = result.final()
                elif isinstance(result, _Failed) and failure is None:
                    failure = result  # _one has stopped the batch: no new request or retry; attempts in flight finish
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
        if too_long and failure is None:
            self._carried.keep(requests, answered, tokens)
            raise PromptTooLong(too_long)
        if failure is not None or len(answered) < len(requests):
            reason = failure.final() if failure else f"{self.base_url} left requests unanswered."
            raise APIRequestsFailed(one_line(reason), answered)
        counts = [tokens[i] for i in range(len(requests))]
        # Only a whole batch of counts: a server that omits usage reports no tokens, not zero tokens.
        self.last_tokens = [c for c in counts if c is not None] if None not in counts else None
        return [answered[i] for i in range(len(requests))]

    def close(self) -> None:
        self._headers = {}


def _retry_after(headers: Message | None) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: use our own backoff
        return None


def load(source: str, spec: ModelSpec, options: LoadOptions) -> OpenAIChatModel:
    return OpenAIChatModel(source, spec, options)
