"""Map a model's free-text answer to one of the dataset's classes, or to "invalid".

The rules (documented in docs/strategies.md):

- Text is lower-cased, punctuation becomes a space, and the articles *a*, *an* and *the*
  are dropped, on both the answer and the class names.
- A class name is found when its words occur consecutively in the answer; each word may
  also appear in a plural form (``dress``/``dresses``, ``berry``/``berries``).
- A class name written with ``/`` (``T-shirt/top``) answers to each part as well.
- Where found names overlap, the longest wins (``car tire`` over ``car``). If, after that,
  two *different* classes are still named, the answer is ambiguous and invalid.
- No class found: invalid. An invalid answer is never turned into a random class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

INVALID = None
"""What :func:`parse_class` returns for an answer that names no (single) class."""

_ARTICLES = frozenset({"a", "an", "the"})
_NON_WORD = re.compile(r"[^\w]+|_+")
_YES = frozenset({"yes", "yeah", "yep", "yup"})
_NO = frozenset({"no", "nope"})


def words(text: str) -> tuple[str, ...]:
    """Lower-case words of ``text`` without punctuation or articles."""
    return tuple(w for w in _NON_WORD.sub(" ", text.lower()).split() if w not in _ARTICLES)


def _plural_forms(word: str) -> frozenset[str]:
    forms = {word, word + "s", word + "es"}
    if word.endswith("y") and len(word) > 1:
        forms.add(word[:-1] + "ies")
    if word.endswith("f"):
        forms.add(word[:-1] + "ves")
    if word.endswith("fe"):
        forms.add(word[:-2] + "ves")
    return frozenset(forms)


def _same_word(answer_word: str, class_word: str) -> bool:
    # Either may be the plural one: the class list may say "trousers", the model "trouser".
    return answer_word in _plural_forms(class_word) or class_word in _plural_forms(answer_word)


@dataclass(frozen=True)
class _Match:
    cls: str
    start: int
    end: int  # exclusive, in words


class ClassMatcher:
    """Finds class names in answers; build once per class list and reuse."""

    def __init__(self, classes: Sequence[str], synonyms: dict[str, Sequence[str]] | None = None) -> None:
        self.classes = tuple(classes)
        self._patterns: list[tuple[str, tuple[str, ...]]] = []
        for cls in self.classes:
            names = [cls, *cls.split("/")] if "/" in cls else [cls]
            names += list((synonyms or {}).get(cls, ()))
            for name in names:
                pattern = words(name)
                if pattern:
                    self._patterns.append((cls, pattern))

    def _matches(self, answer: tuple[str, ...]) -> list[_Match]:
        found = []
        for cls, pattern in self._patterns:
            n = len(pattern)
            for start in range(len(answer) - n + 1):
                if all(_same_word(answer[start + k], pattern[k]) for k in range(n)):
                    found.append(_Match(cls, start, start + n))
        return found

    def parse(self, answer: str) -> str | None:
        """The single class that ``answer`` names, or ``None`` (invalid)."""
        found = self._matches(words(answer))
        # Drop matches strictly inside a longer one ("car" within "car tire").
        kept = [
            m
            for m in found
            if not any(
                o.start <= m.start and m.end <= o.end and (o.end - o.start) > (m.end - m.start) for o in found
            )
        ]
        classes = {m.cls for m in kept}
        return classes.pop() if len(classes) == 1 else INVALID


@lru_cache(maxsize=64)
def _matcher(classes: tuple[str, ...]) -> ClassMatcher:
    return ClassMatcher(classes)


def parse_class(answer: str, classes: Sequence[str]) -> str | None:
    """The class named by ``answer``, or ``None`` when it names none or several."""
    return _matcher(tuple(classes)).parse(answer)


def parse_yes_no(answer: str) -> bool | None:
    """``True`` for yes, ``False`` for no, ``None`` (invalid) otherwise.

    The first word decides when it is a yes or a no word ("Yes, it is a cat."); otherwise the
    answer must contain yes-words or no-words but not both ("I think the answer is no.").
    """
    tokens = _NON_WORD.sub(" ", answer.lower()).split()
    if not tokens:
        return None
    if tokens[0] in _YES:
        return True
    if tokens[0] in _NO:
        return False
    has_yes = any(t in _YES for t in tokens)
    has_no = any(t in _NO for t in tokens)
    if has_yes != has_no:
        return has_yes
    return None


_COMPLETE_FIRST_WORD = re.compile(r"^(?:[^\w]|_)*([^\W_]+)(?:[^\w]|_)")


def yes_no_decided(answer_so_far: str) -> bool:
    """True when ``answer_so_far`` starts with a complete yes- or no-word (a separator follows it).

    Then :func:`parse_yes_no` of any continuation gives the same verdict (its first word
    decides), so generation may stop there. A word still being written ("no" of "nope",
    "yes" of "yesterday") is not complete, and an answer not opening with yes/no is never
    decided early.
    """
    match = _COMPLETE_FIRST_WORD.match(answer_so_far.lower())
    return match is not None and (match.group(1) in _YES or match.group(1) in _NO)


def json_answer(text: str) -> str | None:
    """The ``"answer"`` string of the first JSON object in ``text`` (code fences allowed), or ``None``.

    Used for the JSON answer style: a reply without such an object does not follow the
    requested format and counts as invalid, however right its words.
    """
    import json

    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            value = None
        if isinstance(value, dict) and isinstance(value.get("answer"), str):
            return str(value["answer"])
        start = text.find("{", start + 1)
    return None
