"""A server's refusal of a prompt as too long, and the answers of the same batch that did arrive.

An API adapter cannot count a served model's tokens before sending (it has no tokenizer), so
it learns that a prompt does not fit only from the server's refusal: HTTP 400 with a message
about the context length (OpenAI's ``context_length_exceeded``, vLLM's "maximum model
length"). That item becomes its error (:class:`~.base.PromptTooLong`) and the channel sends
the rest of the batch again; :class:`Carried` holds the answers that already arrived, so the
second call takes them without a second request (each request is billed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .base import Request, TokenCount

TOO_LONG_WORDS = ("context length", "context_length_exceeded", "maximum model length", "context window")
"""Words of a 400's message that mean the prompt does not fit the model (OpenAI, vLLM, TGI)."""


def says_too_long(detail: str) -> bool:
    """Whether a server's error message says the prompt is longer than the model's context window."""
    text = detail.lower()
    return any(words in text for words in TOO_LONG_WORDS)


class Carried:
    """Answers of a partly refused batch, held for the one call that sends the rest again."""

    def __init__(self) -> None:
        # id -> (the request itself, so the id is not reused while held; its answer; its tokens)
        self._held: dict[int, tuple[Request, str, TokenCount | None]] = {}

    def keep(self, requests: Sequence[Request], answered: Mapping[int, str], tokens: Mapping[int, TokenCount | None]) -> None:
        self._held = {id(requests[i]): (requests[i], answer, tokens.get(i)) for i, answer in answered.items()}

    def take(self, requests: Sequence[Request]) -> tuple[dict[int, str], dict[int, TokenCount | None]]:
        """The held answers of ``requests`` (the very objects sent before), by position; forgets them all."""
        held, self._held = self._held, {}
        answers: dict[int, str] = {}
        tokens: dict[int, TokenCount | None] = {}
        for i, request in enumerate(requests):
            found = held.get(id(request))
            if found is not None and found[0] is request:
                answers[i], tokens[i] = found[1], found[2]
        return answers, tokens
