"""A scriptable, offline test double (like inspect_ai's ``MockLLM``).

It answers from a function of the request, so a test can plant exactly the behaviour it
needs: always right, always gibberish, a fixed yes/no pattern, a slow or failing model
(``fails``: requests that fail for good, raised as :class:`~.base.RequestsFailed` with the
batch's other answers, as an API adapter does after its retries).
It imports nothing heavy, so plugin tests run without torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..record import ModelInfo
from .base import Adapter, Answer, LoadOptions, ModelSpec, Reads, Request, RequestsFailed

Responder = Callable[[Request], str]
Fails = Callable[[Request], bool]


class ScriptedModel(Adapter):
    """Answers each request with ``responder(request)``; records every batch it was sent.

    It counts no tokens (its answers carry ``tokens=None``) and reads text and images; a test
    that needs another capability (``several_images``, ``shares_prefix``) sets the attribute.
    """

    reads: Reads = frozenset({"text", "image"})

    def __init__(self, name: str, responder: Responder, device: str = "cpu", fails: Fails | None = None) -> None:
        self.name = name
        self.responder = responder
        self.fails = fails
        """Requests for which ``fails(request)`` is true fail for good (the batch raises RequestsFailed)."""
        self.info = ModelInfo(source="scripted", family="scripted", device=device)
        self.batches: list[list[Request]] = []
        self.closed = False

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if self.closed:
            raise RuntimeError(f"{self.name} was used after close()")
        self.batches.append(list(requests))
        failed = [i for i, r in enumerate(requests) if self.fails is not None and self.fails(r)]
        if failed:
            answered = {i: Answer(self.responder(r)) for i, r in enumerate(requests) if i not in failed}
            raise RequestsFailed(f"{len(failed)} of {len(requests)} requests to {self.name} failed for good", answered)
        return [Answer(self.responder(r)) for r in requests]

    def close(self) -> None:
        self.closed = True


def scripted_spec(name: str, responder: Responder, **spec_fields: Any) -> ModelSpec:
    """A :class:`ModelSpec` whose factory builds a :class:`ScriptedModel` answering with ``responder``."""

    def factory(source: str, spec: ModelSpec, options: LoadOptions) -> ScriptedModel:
        return ScriptedModel(spec.name, responder, device="cpu" if options.device == "auto" else options.device)

    fields: dict[str, Any] = {"source": "scripted", "family": "scripted", "factory": factory}
    fields.update(spec_fields)
    return ModelSpec(name=name, **fields)
