"""The study's two LLM output styles for NER, parsed into ``(entity, type)`` pairs.

- **serial**: one entity per line, ``entity | type`` (``None`` alone, or nothing, = no entity);
- **JSON**: a list of ``{"entity": ..., "type": ...}`` objects (``[]`` = no entity), possibly
  inside a fenced code block or after some words.

An answer that fits neither shape is *unparseable*: ``None``, counted in the record's
``unparseable_rate`` and scored as "no entity predicted" (it lowers recall, never precision).
Serial lines without a ``|`` are skipped (a model's preamble), but an answer whose non-empty
lines all lack one is unparseable.
"""

from __future__ import annotations

import json
import re

Entities = list[tuple[str, str]]

_NONE = {"none", "no entities", "no entity", "n/a", "[]", "-"}


def parse_serial(answer: str) -> Entities | None:
    """``entity | type`` lines -> pairs; ``None`` when no line has that shape and the answer does not say "none"."""
    lines = [line.strip().strip("-*• ").strip() for line in answer.strip().splitlines()]
    lines = [line for line in lines if line]
    if not lines or (len(lines) == 1 and lines[0].lower().rstrip(".") in _NONE):
        return []
    out: Entities = []
    for line in lines:
        text, sep, kind = line.partition("|")
        if sep and text.strip() and kind.strip():
            out.append((text.strip(), kind.strip().split()[0].strip(".,;")))
    return out or None


_ARRAY = re.compile(r"\[.*\]", re.DOTALL)


def parse_json(answer: str) -> Entities | None:
    """A JSON list of ``{"entity", "type"}`` objects -> pairs; ``None`` when there is no such list."""
    match = _ARRAY.search(answer)
    if match is None:
        return None
    try:
        value = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(value, list):
        return None
    out: Entities = []
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("entity"), str) or not isinstance(entry.get("type"), str):
            return None
        out.append((entry["entity"].strip(), entry["type"].strip()))
    return out


def parse_entities(answer: str, style: str) -> Entities | None:
    """Parse ``answer`` in ``style`` (``serial``, the ``plain`` answer style, or ``json``)."""
    return parse_json(answer) if style == "json" else parse_serial(answer)
