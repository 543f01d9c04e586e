"""Reading an OpenAI-compatible chat completion: the answer text, the token usage, error details.

Kept apart from :mod:`.api` (the HTTP side: requests, retries, failures) so that what a
response *means* is one small module with no network in it.

``usage`` is read as OpenAI and vLLM write it: ``prompt_tokens``, ``completion_tokens`` and
``prompt_tokens_details.cached_tokens`` (the prompt tokens served from a prefix cache; vLLM
reports them when the server runs with ``--enable-prompt-tokens-details``, OpenAI always).
A response without ``usage`` (some servers omit it) has no token count, never a zero one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..secrets import redact
from .base import TokenCount

DETAIL_CHARS = 200
"""How much of a server's error message goes into a sentence."""


class NotACompletion(ValueError):
    """The body is not an OpenAI chat completion; the message says what it is instead."""


@dataclass(frozen=True)
class Completion:
    """One chat completion: the answer and, when the server reported ``usage``, its tokens."""

    text: str
    tokens: TokenCount | None = None


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


def usage_tokens(usage: Any) -> TokenCount | None:
    """A :class:`TokenCount` from a response's ``usage`` object, or ``None`` when it has no counts."""
    if not isinstance(usage, dict):
        return None
    prompt, generated = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    if prompt is None or generated is None:
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return TokenCount(prompt=prompt, shared=min(cached or 0, prompt), generated=generated)


def parse_completion(raw: bytes) -> Completion:
    """The answer and usage of a chat-completions body; :class:`NotACompletion` otherwise."""
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
    return Completion(text, usage_tokens(payload.get("usage")))
