"""Token counts of one evaluation, summed per item from what the adapter reports after each call.

An adapter that counts sets ``last_tokens`` (one :class:`~..models.base.TokenCount` per
request, in order) in every ``generate()``; :class:`TokenUse` reads it right after the call
and adds each count to the item the request asked about. A request answered from the answer
cache never reaches the model and costs nothing. An adapter that does not count (or once
reports the wrong number of counts) leaves the record without tokens rather than with
partial sums.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..record.tokens import Tokens


@dataclass
class TokenUse:
    """Per-item token sums; ``counting`` is False for an adapter that does not report tokens."""

    model: Any
    counting: bool = False
    per_item: dict[str, Tokens] = field(default_factory=dict)

    @classmethod
    def start(cls, model: Any) -> TokenUse:
        # The attribute, not its value: the API adapter starts at None and counts from its first reply's usage.
        return cls(model, counting=hasattr(model, "last_tokens"))

    def after_call(self, item_ids: Sequence[str]) -> None:
        """The model has just answered one request per id of ``item_ids``: add its counts."""
        if not self.counting:
            return
        counts = getattr(self.model, "last_tokens", None)
        if not isinstance(counts, list) or len(counts) != len(item_ids):
            self.counting = False  # partial sums would read as a cheaper run: record none
            return
        for item, c in zip(item_ids, counts):
            self.per_item[item] = self.per_item.get(item, Tokens()) + Tokens(c.prompt, c.shared, c.generated)

    def of_item(self, item_id: str) -> Tokens | None:
        """The item's tokens (zero when all its answers came from the cache); ``None`` when not counting."""
        return self.per_item.get(item_id, Tokens()) if self.counting else None

    def total(self, item_ids: Sequence[str]) -> Tokens | None:
        """The sum over ``item_ids`` (the scored items); ``None`` when not counting."""
        if not self.counting:
            return None
        return sum((self.per_item.get(i, Tokens()) for i in item_ids), Tokens())
