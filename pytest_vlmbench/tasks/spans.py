"""Entities and IOB2 tags, as the NER task reads them: spans from tags (strict IOB2, as seqeval
reads them: the entity metrics count these spans), and answered ``(entity, type)`` pairs placed on tokens.

An LLM names entities by their text, not by position. :func:`place_entities` puts each one
on the first unused run of tokens that spells it (exactly, else ignoring case); an entity
whose words are not found among the tokens, or whose type is not one of the dataset's, is
counted as unplaced and left out: it cannot be scored against a token position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One entity: tokens ``start`` up to (not including) ``end``, of type ``kind``."""

    start: int
    end: int
    kind: str


def spans(tags: Sequence[str]) -> list[Span]:
    """The entities of a strict IOB2 sequence: a ``B-X`` followed by ``I-X`` tags (a stray ``I-X`` opens nothing)."""
    out: list[Span] = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        if kind and tag != f"I-{kind}":
            out.append(Span(start, i, kind))
            kind = ""
        if tag.startswith("B-"):
            start, kind = i, tag[2:]
    return out


@dataclass(frozen=True)
class Placement:
    """Answered entities placed on a sentence's tokens."""

    tags: tuple[str, ...]
    """The predicted IOB2 tag of every token."""
    placed: int
    """Entities found among the tokens and tagged."""
    unplaced: tuple[str, ...]
    """Entities left out (``text | type``): words not among the tokens, an unknown type, or overlapping a placed one."""


def place_entities(tokens: Sequence[str], entities: Sequence[tuple[str, str]], types: Sequence[str]) -> Placement:
    """Tag ``tokens`` with ``entities`` (``(text, type)``), first unused occurrence first; the rest is ``O``."""
    tags = ["O"] * len(tokens)
    lowered = [t.lower() for t in tokens]
    known = {t.lower(): t for t in types}
    placed = 0
    unplaced: list[str] = []
    for text, kind in entities:
        words = text.split()
        canonical = known.get(kind.strip().lower())
        at = _find(tokens, words, tags) if canonical else None
        if at is None and canonical:
            at = _find(lowered, [w.lower() for w in words], tags)
        if at is None or canonical is None:
            unplaced.append(f"{text} | {kind}")
            continue
        tags[at] = f"B-{canonical}"
        for i in range(at + 1, at + len(words)):
            tags[i] = f"I-{canonical}"
        placed += 1
    return Placement(tuple(tags), placed, tuple(unplaced))


def _find(tokens: Sequence[str], words: Sequence[str], tags: Sequence[str]) -> int | None:
    n = len(words)
    if n == 0:
        return None
    for i in range(len(tokens) - n + 1):
        if list(tokens[i : i + n]) == list(words) and all(t == "O" for t in tags[i : i + n]):
            return i
    return None
