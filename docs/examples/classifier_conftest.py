"""A complete custom *direct classifier* adapter, registered from a conftest.py.

A direct classifier picks the class itself (like a fine-tuned head, CLIP or an embedding
model), so it is evaluated with the ``direct`` strategy. Copy this file next to your suites
as ``conftest.py``. tests/test_models_zoo.py runs it, so it stays true.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_vlmbench import DATASETS, MODELS, Adapter, Dataset, Item, LoadOptions, ModelInfo, ModelSpec, Request


class KeywordClassifier(Adapter):
    """Predicts the class whose keywords occur most often in the text.

    A real adapter loads weights in ``__init__`` (import torch there, not at module level),
    scores a whole batch in ``classify`` and frees memory in ``close``.
    """

    provides = "classify"

    def __init__(self, name: str, keywords: dict[str, list[str]]) -> None:
        self.name = name
        self.keywords = keywords
        self.info = ModelInfo(source="rules", family="keyword-classifier", device="cpu")

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for request in requests:
            words = request.prompt.lower().split()
            hits = {c: sum(words.count(k) for k in self.keywords.get(c, [])) for c in classes}
            best = max(hits, key=lambda c: hits[c])
            out.append(best if hits[best] else None)  # None: no class found, counted as invalid
        return out


def load_keyword_classifier(source: str, spec: ModelSpec, options: LoadOptions) -> KeywordClassifier:
    return KeywordClassifier(spec.name, spec.meta["keywords"])


MODELS.register(
    "ticket-router",
    ModelSpec(
        name="ticket-router",
        source="rules",
        family="keyword-classifier",
        factory=load_keyword_classifier,  # or a lazy "my_package.adapters:load_keyword_classifier"
        modalities=frozenset({"text"}),
        strategies=("direct",),
        meta={"keywords": {"billing": ["invoice", "refund", "charged"], "bug": ["crash", "error"], "feature": ["please", "add"]}},
    ),
)


def load_tickets() -> Dataset:
    rows = [
        ("t1", "billing", "I was charged twice, please refund the invoice"),
        ("t2", "bug", "The app shows an error and then a crash"),
        ("t3", "feature", "Please add a dark mode"),
        ("t4", "bug", "Nothing happens when I click save"),  # no keyword: invalid
    ]
    items = [Item(id=i, label=label, text=text) for i, label, text in rows]
    return Dataset("tickets", ("billing", "bug", "feature"), items, modality="text", source="docs example")


DATASETS.register("tickets", load_tickets, modality="text", offline=True)
