"""The record's ``ner`` section: entity-level quality of a named-entity-recognition run.

Present only in records of NER strategies (``ner_direct``, ``ner_finetune``, ``ner_prompt``).
Entity scores are seqeval's in strict IOB2 mode (an entity counts only with its exact
boundaries and type); ``micro`` is over all entities, ``per_type`` one row per entity type.
The record's ``metrics`` hold the same run as a sentence-level view (docs/strategies.md, NER).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .jsonio import Reader


@dataclass(frozen=True)
class TypeScores:
    """Entity-level scores of one entity type (or of all: ``micro``)."""

    precision: float
    recall: float
    f1: float
    support: int
    """Gold entities of this type."""

    @classmethod
    def from_json(cls, r: Reader) -> TypeScores:
        return cls(r.num("precision"), r.num("recall"), r.num("f1"), r.whole("support"))


@dataclass(frozen=True)
class NerScores:
    """Entity-level precision/recall/F1 (micro and per type), token accuracy, unparseable answers."""

    micro: TypeScores
    """Over all entities: ``micro.f1`` is the entity F1 the NER literature reports."""
    token_accuracy: float
    """Share of tokens whose predicted tag equals the gold tag (``O`` included)."""
    unparseable_rate: float
    """Share of sentences whose answer could not be parsed (LLM prompting; 0 for heads)."""
    unplaced_entities: int = 0
    """Answered entities that could not be placed on the tokens (words not found, unknown type)."""
    per_type: Mapping[str, TypeScores] = field(default_factory=dict)
    scheme: str = "IOB2 strict (seqeval)"

    @classmethod
    def from_json(cls, r: Reader) -> NerScores:
        per_type = r.obj("per_type")
        return cls(
            micro=TypeScores.from_json(r.obj("micro")), token_accuracy=r.num("token_accuracy"),
            unparseable_rate=r.num("unparseable_rate"), unplaced_entities=r.whole("unplaced_entities", 0),
            per_type={k: TypeScores.from_json(per_type.obj(k)) for k in per_type.data}, scheme=r.text("scheme", ""),
        )  # fmt: skip
