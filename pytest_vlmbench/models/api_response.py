"""What an OpenAI-compatible server's answer means: a completion with its usage, or a failure sentence.

Kept apart from :mod:`.api` (the HTTP side: the client, retries, the batch) so that what a
response *means* is one module with no network in it: the answer text and its token counts,
and for every kind of failure the one sentence the user reads (docs/models.md lists them).

``usage`` is read as OpenAI and vLLM write it: ``prompt_tokens``, ``completion_tokens`` and
``prompt_tokens_details.cached_tokens`` (the prompt tokens served from a prefix cache; vLLM
reports them when the server runs with ``--enable-prompt-tokens-details``, OpenAI always).
A response without ``usage`` (some servers omit it) has no token count, never a zero one.

A prompt the server refuses as longer than the model's context window (HTTP 400 with a
message about the context length: OpenAI's ``context_length_exceeded``, vLLM's "maximum
model length") is its item's error only: an API adapter cannot count a served model's tokens
before sending, so it learns that a prompt does not fit only from the refusal.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from ..record import Tokens
from ..secrets import public_url, redact
from .base import Answer

DETAIL_CHARS = 200
"""How much of a server's error message goes into a sentence."""

TOO_LONG_WORDS = ("context length", "context_length_exceeded", "maximum model length", "context window")
"""Words of a 400's message that mean the prompt does not fit the model (OpenAI, vLLM, TGI)."""

Auth = Literal["key", "url", "none"]
"""How requests authenticate: a key from the environment, the base URL's user:password, nothing."""


class NotACompletion(ValueError):
    """The body is not an OpenAI chat completion; the message says what it is instead."""


def one_line(text: str) -> str:
    """``text`` redacted, on one line."""
    return redact(" ".join(text.split()))


def detail(body: bytes) -> str:
    """The server's own error message from a body (OpenAI's ``error.message``, vLLM's ``message``), short."""
    text = body.decode("utf-8", "replace")
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        error = payload.get("error")
        found = error.get("message") if isinstance(error, dict) else error
        found = found or payload.get("message") or payload.get("detail")
        if isinstance(found, str) and found.strip():
            text = found
    text = one_line(text)
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def _count(value: Any) -> int | None:
    # bool is an int in Python; a server writing true/false is not counting tokens.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def usage_tokens(usage: Any) -> Tokens | None:
    """The :class:`~pytest_vlmbench.record.Tokens` of a response's ``usage`` object, or ``None`` when it has no counts."""
    if not isinstance(usage, dict):
        return None
    prompt, generated = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    if prompt is None or generated is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Tokens(prompt=prompt, shared=min(cached or 0, prompt), generated=generated)


def parse_completion(raw: bytes) -> Answer:
    """The answer (as the server wrote it) and usage of a chat-completions body; :class:`NotACompletion` otherwise."""
    snippet = detail(raw[:DETAIL_CHARS])
    try:
        payload = json.loads(raw)
    except ValueError:
        raise NotACompletion(f"not JSON: {snippet!r}") from None
    try:
        text = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise NotACompletion(f"no choices[0].message.content in {snippet!r}") from None
    if not isinstance(text, str):
        raise NotACompletion(f"the message content is {type(text).__name__}, not text")
    return Answer(text, usage_tokens(payload.get("usage")))


def says_too_long(detail: str) -> bool:
    """Whether a server's error message says the prompt is longer than the model's context window."""
    text = detail.lower()
    return any(words in text for words in TOO_LONG_WORDS)


class Failure(Exception):
    """One attempt failed; ``sentence`` says so if it stays failed (``{n}``: the attempts made).

    ``retryable``: worth another attempt (429, 5xx, timeouts, broken connections, garbage);
    ``wait_s``: the server's ``Retry-After``; ``too_long``: the prompt does not fit (its item's error only).
    """

    def __init__(self, sentence: str, retryable: bool = True, wait_s: float | None = None, too_long: bool = False) -> None:
        super().__init__("API attempt failed")
        self.sentence, self.retryable, self.wait_s, self.attempts, self.too_long = sentence, retryable, wait_s, 1, too_long

    def final(self) -> str:
        """The sentence, with the attempts made, redacted and on one line."""
        return one_line(self.sentence.replace("{n}", str(self.attempts)))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from (httpx wraps httpcore's, which wraps the socket's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def retry_after(value: str | None) -> float | None:
    """A numeric ``Retry-After`` in seconds; ``None`` when absent or an HTTP date (our own backoff then)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Endpoint:
    """What the failure sentences name: the base URL (without credentials), the model, how requests authenticate."""

    url: str
    model: str
    auth: Auth
    key_env: str
    timeout_s: float

    def garbage(self, what: str) -> Failure:
        """A 2xx body that is not a chat completion (``what`` says what it is)."""
        return Failure(
            f"{self.url}/chat/completions answered {self.model!r} with something that is not an OpenAI chat "
            f"completion ({what}), after {{n}} attempts; check that --api-base names an OpenAI-compatible endpoint "
            f"(it usually ends in /v1)."
        )

    def http_failure(self, code: int, body: bytes, retry_after_s: float | None, location: str | None) -> Failure:
        """A response with a status outside 2xx: ``body`` (its start), ``Retry-After`` and ``Location`` headers."""
        url, model = self.url, self.model
        said_by_server = detail(body[:4096])
        try:
            phrase = HTTPStatus(code).phrase.lower()
        except ValueError:
            phrase = "error"
        status = f"HTTP {code} {phrase}"
        said = f"{status}: {said_by_server}" if said_by_server else status
        if code == 429:
            return Failure(
                f"{url} still answered HTTP 429 (rate limited) for {model!r} after {{n}} attempts; lower "
                f"--api-concurrency or raise the account's rate limit, then rerun.",
                wait_s=retry_after_s,
            )
        in_brackets = f" ({said_by_server})" if said_by_server else ""
        if code >= 500 or code == 408:
            return Failure(
                f"{url} still answered {status} for {model!r} after {{n}} attempts{in_brackets}; "
                f"the server is failing: check its logs, then rerun.",
                wait_s=retry_after_s,
            )
        if code in (401, 403):
            return Failure(self._auth_sentence(code, said), retryable=False)
        if 300 <= code < 400:
            return Failure(
                f"{url} redirects to {public_url(location or 'elsewhere')} ({status}); use the address it redirects "
                f"to as --api-base (a redirected POST is not re-sent).",
                retryable=False,
            )
        if code == 404:
            return Failure(
                f"{url}/chat/completions answered {status} for {model!r}{in_brackets}; check the model name, and "
                f"that --api-base is the API's base URL (it usually ends in /v1).",
                retryable=False,
            )
        if code == 400 and says_too_long(said_by_server):  # that item's error; the rest of the batch goes on
            return Failure(f"{url} refused its prompt as longer than the context window of {model!r} ({said_by_server}); "
                           f"show fewer exemplars (--k-shot) or shorten the text", retryable=False, too_long=True)  # fmt: skip
        return Failure(f"{url} rejected the request for {model!r} ({said}).", retryable=False)

    def _auth_sentence(self, code: int, said: str) -> str:
        url, env = self.url, self.key_env
        if self.auth == "url":
            return f"{url} rejected the user name and password given in --api-base ({said}); correct them in the URL."
        if self.auth == "none":
            return (
                f"{url} requires an API key ({said}), and the environment variable {env} named by --api-key-env is "
                f"not set; export it, or name the variable that holds the key with --api-key-env."
            )
        if code == 403:
            return (
                f"{url} denied the API key in ${env} access to {self.model!r} ({said}); put a key allowed to use "
                f"it in {env}, or name the variable that holds one with --api-key-env."
            )
        return (
            f"{url} rejected the API key in ${env} ({said}); put the right key in {env}, or name the variable that "
            f"holds it with --api-key-env."
        )

    def connection_failure(self, exc: BaseException, heard: bytes) -> Failure:
        """No HTTP response: ``exc`` is httpx's error, ``heard`` the first bytes the server sent in this attempt."""
        import httpx

        url = self.url
        causes = list(_chain(exc))
        if any(isinstance(c, (httpx.TimeoutException, TimeoutError)) for c in causes):
            return Failure(
                f"{url} gave no answer for {self.model!r} within {self.timeout_s:g} s, after {{n}} attempts; the "
                f"server is overloaded or the model is slow: lower --api-concurrency, or check the server."
            )
        cert = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
        if cert is not None:
            return Failure(
                f"the TLS certificate of {url} could not be verified ({one_line(cert.verify_message or str(cert))}); fix "
                f"the server's certificate, or point SSL_CERT_FILE at the CA that signed it.",
                retryable=False,
            )
        tls = next((c for c in causes if isinstance(c, ssl.SSLError)), None)
        if tls is not None:
            return Failure(
                f"the TLS handshake with {url} failed ({one_line(tls.reason or str(tls))}); if the server speaks plain "
                f"HTTP, use http:// in --api-base.",
                retryable=False,
            )
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return Failure(f"nothing listens at {url} (connection refused, {{n}} attempts); start the server, or fix --api-base.")
        if any(isinstance(c, socket.gaierror) for c in causes):
            return Failure(f"the host of {url} cannot be resolved ({{n}} attempts); check --api-base for a typo, and the network.")
        # An HTTP server's first bytes are a status line; any others mean another protocol on that port (ssh, smtp...).
        if heard and not heard.startswith(b"HTTP/") and isinstance(exc, httpx.RemoteProtocolError):
            return Failure(f"{url} does not answer in HTTP ({{n}} attempts); check the port and the scheme in --api-base.")
        root = causes[-1]
        why = one_line(f"{type(root).__name__}: {root}")
        return Failure(f"the connection to {url} failed after {{n}} attempts ({why}); check the server and the network.")
