"""OpenAI-compatible chat-completions APIs: GPT-4o, and vLLM / TGI / SGLang servers.

The transport is ``httpx`` (one ``httpx.Client``, its connections kept alive, and a thread
pool for the concurrency limit); the retries, the backoff and the failure sentences are this
module's own, because a batch must stop at the first request that fails for good, count its
retries for the record, and say in one sentence what went wrong (:mod:`.api_response`).

- Base URL: ``--api-base``, else ``$OPENAI_BASE_URL``, else ``https://api.openai.com/v1``;
  it must start with ``http://`` or ``https://`` (checked at load). A trailing
  ``/chat/completions`` is dropped. Redirects are not followed (a POST would be lost).
  Certificates are checked against the system's CAs (``SSL_CERT_FILE`` names others);
  ``HTTPS_PROXY``/``NO_PROXY`` apply as httpx reads them.
- Credentials: the key is read from the environment variable named by ``--api-key-env``
  (default ``OPENAI_API_KEY``) when the model loads and sent as ``Bearer``; a
  ``user:password@`` part of the base URL is sent as ``Basic`` when no key is set (both at
  once are refused). Either is registered with :mod:`pytest_vlmbench.secrets` and kept only
  in the client's headers: answers and errors pass through ``redact``, and ``info``,
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
  (:class:`~.base.PromptTooLong`): the rest of the batch is answered, and not billed twice.
- Each :class:`~.base.Answer` carries the tokens of its response's ``usage`` (prompt, cached
  and completion tokens), or ``None`` when the server sent none.
- ``retries`` counts retries since the model was loaded; ``info`` holds no running count
  (an evaluation records the difference of ``retries`` over its own calls).
"""

from __future__ import annotations

import base64
import io
import json
import os
import random
import threading
import urllib.parse
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING, Any

from ..record import ModelInfo
from ..secrets import public_url, redact, register_secret
from .api_response import Auth, Endpoint, Failure, NotACompletion, one_line, parse_completion, retry_after
from .base import Adapter, Answer, LoadOptions, ModelSpec, PromptTooLong, Reads, Request, RequestsFailed

if TYPE_CHECKING:
    import httpx
    from PIL import Image

DEFAULT_BASE = "https://api.openai.com/v1"
MAX_BACKOFF_S = 30.0


class APIError(RuntimeError):
    """The API cannot be used as configured, or could not answer: one line, never a secret."""


class APIRequestsFailed(RequestsFailed, APIError):
    """Requests of a batch failed for good; ``answered`` holds the answers that arrived, by position."""


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


def _authorization(key_env: str, parts: urllib.parse.SplitResult) -> tuple[Auth, dict[str, str]]:
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


# -- the first bytes a server sends: "HTTP/..." or another protocol ------------------------------

_heard = threading.local()
"""``first``: the first bytes the server sent during this thread's current attempt (one attempt at a time per thread)."""


class _Listening:
    """An httpcore network stream that notes the first bytes read in the current attempt, then passes everything on.

    httpcore reports a server that sends a few bytes of another protocol and hangs up (an ssh
    or smtp port) exactly as one that hangs up silently; the bytes tell them apart.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data: bytes = self._stream.read(max_bytes, timeout)
        if data and not getattr(_heard, "first", b""):
            _heard.first = bytes(data[:16])
        return data

    def start_tls(self, *args: Any, **kwargs: Any) -> _Listening:
        return _Listening(self._stream.start_tls(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:  # write, close, get_extra_info
        return getattr(self._stream, name)


class _ListeningBackend:
    """An httpcore network backend whose TCP streams are :class:`_Listening`."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def connect_tcp(self, *args: Any, **kwargs: Any) -> _Listening:
        return _Listening(self._backend.connect_tcp(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:  # connect_unix_socket, sleep
        return getattr(self._backend, name)


def _listen(client: httpx.Client) -> None:
    """Put :class:`_ListeningBackend` under the client's direct connections.

    httpx offers no public hook for its connection pool's network backend; if a later httpx
    moves these private attributes, nothing breaks: a non-HTTP port is then reported as a
    dropped connection (tests/test_api_adapter.py notices).
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if pool is not None and backend is not None:
        pool._network_backend = _ListeningBackend(backend)


class _Carried:
    """Answers of a batch partly refused as too long, held for the one call that sends the rest again.

    The channel sends the batch again without the refused items; the answers that had arrived
    are taken from here rather than asked (and billed) a second time.
    """

    def __init__(self) -> None:
        # id -> (the request itself, so the id is not reused while held; its answer)
        self._held: dict[int, tuple[Request, Answer]] = {}

    def keep(self, requests: Sequence[Request], answered: Mapping[int, Answer]) -> None:
        self._held = {id(requests[i]): (requests[i], answer) for i, answer in answered.items()}

    def take(self, requests: Sequence[Request]) -> dict[int, Answer]:
        """The held answers of ``requests`` (the very objects sent before), by position; forgets them all."""
        held, self._held = self._held, {}
        found = {i: held.get(id(request)) for i, request in enumerate(requests)}
        return {i: kept[1] for i, kept in found.items() if kept is not None and kept[0] is requests[i]}


class OpenAIChatModel(Adapter):
    """A :class:`~pytest_vlmbench.models.base.GenerativeModel` served over HTTP."""

    reads: Reads = frozenset({"text", "image"})
    counts_tokens = True  # from each response's ``usage``; a server that sends none leaves the run without tokens

    def __init__(self, source: str, spec: ModelSpec, options: LoadOptions) -> None:
        import ssl

        import httpx

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
        auth, auth_header = _authorization(self.key_env, parts)
        self.concurrency = max(1, options.api_concurrency)
        self.timeout_s = options.api_timeout_s
        self.max_retries = max(0, options.api_max_retries)
        self.backoff_s = spec.settings.api_backoff_s
        self._says = Endpoint(self.base_url, self.model_id, auth, self.key_env, self.timeout_s)
        self._client = httpx.Client(
            headers={"Content-Type": "application/json", **auth_header},
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            # The system's CAs and SSL_CERT_FILE, as urllib used them (httpx's default is certifi's bundle only).
            verify=ssl.create_default_context(),
            follow_redirects=False,
        )
        _listen(self._client)
        self._lock = threading.Lock()
        self._retried = 0
        self.retries: int | None = 0
        """Retries since the model was loaded (a record takes the difference over its evaluation); never ``None`` here."""
        self._carried = _Carried()
        self.info = ModelInfo(source=source, family=spec.family, api_base=self.base_url, device="api", concurrency=self.concurrency)

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

    def _attempt(self, body: bytes) -> Answer:
        """One POST: the answer as the server wrote it, or the :class:`Failure` that says why not."""
        import httpx

        _heard.first = b""
        try:
            response = self._client.post(self._endpoint, content=body)
        except httpx.TransportError as exc:  # no response: refused, unresolved, TLS, timeout, dropped
            raise self._says.connection_failure(exc, _heard.first) from None
        if not 200 <= response.status_code < 300:
            wait = retry_after(response.headers.get("Retry-After"))
            raise self._says.http_failure(response.status_code, response.content, wait, response.headers.get("Location"))
        try:
            return parse_completion(response.content)
        except NotACompletion as exc:
            raise self._says.garbage(str(exc)) from None

    def _one(self, request: Request, stop: threading.Event) -> Answer | Failure | None:
        """The answer, the failure that ended the request, or ``None`` when the batch stopped first."""
        if stop.is_set():
            return None
        body = self._body(request)
        attempt = 1
        while True:
            try:
                done = self._attempt(body)
                return Answer(redact(done.text.strip()), done.tokens)
            except Failure as exc:
                if not exc.retryable or attempt > self.max_retries:
                    exc.attempts = attempt
                    if not exc.too_long:  # a prompt too long fails its item only
                        stop.set()  # here, before this worker takes the next request: it is not sent
                    return exc
                if stop.is_set():
                    return None
                with self._lock:
                    self._retried += 1
                    self.retries = self._retried
                # Exponential backoff with jitter, so parallel workers don't retry in lockstep.
                wait = exc.wait_s if exc.wait_s is not None else self.backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                if stop.wait(min(wait, MAX_BACKOFF_S)):
                    return None
                attempt += 1

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        """Answers in order; :class:`APIRequestsFailed` (with the answers that arrived) if any request fails for good."""
        if not requests:
            return []
        stop = threading.Event()
        answered = self._carried.take(requests)  # sent again after a refusal as too long: not re-billed
        too_long: dict[int, str] = {}
        failure: Failure | None = None
        todo = [i for i in range(len(requests)) if i not in answered]
        pool = ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(todo))), thread_name_prefix="vlmbench-api")
        try:
            futures = {pool.submit(self._one, requests[i], stop): i for i in todo}
            for future in as_completed(futures):
                result, position = future.result(), futures[future]
                if isinstance(result, Answer):
                    answered[position] = result
                elif isinstance(result, Failure) and result.too_long:
                    too_long[position] = result.final()
                elif isinstance(result, Failure) and failure is None:
                    failure = result  # _one has stopped the batch: no new request or retry; attempts in flight finish
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
        if too_long and failure is None:
            self._carried.keep(requests, answered)
            raise PromptTooLong(too_long)
        if failure is not None or len(answered) < len(requests):
            reason = failure.final() if failure else f"{self.base_url} left requests unanswered."
            raise APIRequestsFailed(one_line(reason), answered)
        return [answered[i] for i in range(len(requests))]

    def close(self) -> None:
        """Close the connections and forget the key (it lived in the client's headers only)."""
        self._client.close()
        self._client.headers = {}


def load(source: str, spec: ModelSpec, options: LoadOptions) -> OpenAIChatModel:
    """The factory of the ``openai-api`` family (``api:NAME``)."""
    return OpenAIChatModel(source, spec, options)
