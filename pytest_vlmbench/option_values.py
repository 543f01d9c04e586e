"""Value parsers of the option table: a raw command-line value -> a typed value, or an
:class:`OptionError` carrying one sentence for the user. Kept apart from :mod:`.options`
so that the table stays readable (and under the module size limit).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .datasets.base import DatasetError
from .datasets.subsets import parse_class_counts
from .registry import UnknownNameError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class OptionError(ValueError):
    """An invalid option value; the message is user-facing."""


def split_names(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """``["a,b", "c"]`` -> ``("a", "b", "c")``, order kept, duplicates dropped."""
    out: list[str] = []
    for value in [values] if isinstance(values, str) else values or ():
        for name in value.split(","):
            name = name.strip()
            if name and name not in out:
                out.append(name)
    return tuple(out)


def _canonical(resolve: Callable[[str], str]) -> Callable[[str, Any], tuple[str, ...]]:
    def parse(flag: str, values: Any) -> tuple[str, ...]:
        try:
            return tuple(dict.fromkeys(resolve(name) for name in split_names(values)))
        except UnknownNameError as exc:
            raise OptionError(str(exc)) from None

    return parse


def _positive(allow_none: bool) -> Callable[[str, Any], int | None]:
    def parse(flag: str, value: Any) -> int | None:
        if value is None and allow_none:
            return None
        if not isinstance(value, int) or value < 1:
            raise OptionError(f"{flag} must be a positive whole number, got {value}.")
        return value

    return parse


def _choice(choices: Sequence[str]) -> Callable[[str, Any], str]:
    def parse(flag: str, value: Any) -> str:
        if value not in choices:
            raise OptionError(f"{flag} must be one of {', '.join(choices)}, got {value!r}.")
        return str(value)

    return parse


def parse_seeds(flag: str, values: Any) -> tuple[int, ...]:
    """``["0,1", "2"]`` -> ``(0, 1, 2)``; nothing given -> ``(0,)``."""
    seeds = []
    for name in split_names(values):
        if not name.isdigit():
            raise OptionError(f"{flag} takes whole numbers of zero or more (e.g. {flag} 0,1,2), got {name!r}.")
        seeds.append(int(name))
    return tuple(seeds) or (0,)


def parse_class_count_list(flag: str, values: Any) -> tuple[int, ...]:
    try:
        return tuple(dict.fromkeys(n for v in values or () for n in parse_class_counts(v)))
    except DatasetError as exc:
        raise OptionError(str(exc)) from None


def parse_device(flag: str, value: Any) -> str:
    if not isinstance(value, str) or not DEVICE_PATTERN.match(value):
        raise OptionError(f"{flag} must be auto, cpu, mps, cuda or cuda:N, got {value!r}.")
    return value


def parse_k_shot(flag: str, value: Any) -> int:
    if not isinstance(value, int) or value < 0:
        raise OptionError(f"{flag} must be zero (zero-shot) or a positive number of exemplars, got {value}.")
    return value


def parse_prompt_template(flag: str, value: Any) -> str | None:
    """A prompt template holding ``{classes}`` (closed_set), ``{cls}`` (binary) or ``{sentence}`` (ner_prompt);
    each strategy checks its own placeholder when it runs."""
    if value is None or value == "":
        return None
    if not any(p in str(value) for p in ("{classes}", "{cls}", "{sentence}")):
        raise OptionError(
            f"{flag} {value!r} has neither {{classes}} (where closed_set puts the class list) nor {{cls}} "
            f"(where binary puts the class asked about); add the placeholder of the strategy you run."
        )
    return str(value)


def parse_label_map(flag: str, value: Any) -> tuple[tuple[str, str], ...]:
    """``"LABEL_0=sport,LABEL_1=tech"`` -> ``(("LABEL_0", "sport"), ("LABEL_1", "tech"))``."""
    pairs = []
    for part in filter(None, (p.strip() for p in str(value or "").split(","))):
        label, sep, cls = part.partition("=")
        if not sep or not label.strip() or not cls.strip():
            raise OptionError(f"{flag} takes LABEL=CLASS pairs separated by commas, got {part!r}.")
        pairs.append((label.strip(), cls.strip()))
    return tuple(pairs)


def parse_fraction(flag: str, value: Any) -> float:
    if not re.fullmatch(r"0?\.\d*[1-9]\d*|1(\.0*)?", str(value)):
        raise OptionError(f"{flag} must be a fraction above 0 and at most 1 (e.g. 0.9), got {value!r}.")
    return float(value)


def _same(flag: str, value: Any) -> Any:
    return value
