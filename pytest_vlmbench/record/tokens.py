"""Token counts: what the model read and wrote, per request, per item and in total -- one type for all three.

An adapter's answer carries the :class:`Tokens` of its request
(:class:`~pytest_vlmbench.models.base.Answer`); the evaluation sums them per item and over
the run into the same type, the record's part.
``computed`` is written for readers (``prompt - shared``) and recomputed when read, so it
can never disagree with the other two. A request answered from the answer cache costs no
tokens: the model never saw it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .jsonio import Reader


@dataclass(frozen=True)
class Tokens:
    """Prompt tokens (image tokens included), those served from a shared prefix, and generated ones."""

    prompt: int = 0
    """Every prompt token of every request sent to the model."""
    shared: int = 0
    """Prompt tokens served from a prefix computed once for several requests (not recomputed)."""
    generated: int = 0
    """New tokens, up to the end of each answer."""
    computed: int = field(init=False, default=0)
    """Prompt tokens the model did compute: ``prompt - shared``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "computed", self.prompt - self.shared)

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(self.prompt + other.prompt, self.shared + other.shared, self.generated + other.generated)

    @classmethod
    def from_json(cls, r: Reader) -> Tokens:
        return cls(r.whole("prompt"), r.whole("shared", 0), r.whole("generated", 0))
