"""A complete custom model adapter and dataset, registered from a conftest.py.

Copy this file next to your suites. tests/test_docs_examples.py runs it, so it stays true.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_vlmbench import DATASETS, MODELS, Adapter, Answer, Dataset, Item, LoadOptions, ModelInfo, ModelSpec, Request


class KeywordModel(Adapter):
    """Answers with the first class name that occurs in the text: a rule-based baseline.

    A real adapter loads weights in ``__init__`` (import torch there, not at module level),
    answers a whole batch in ``generate`` and frees memory in ``close``. :class:`Adapter`
    gives the capabilities their defaults (it generates, reads text, counts no tokens).
    """

    def __init__(self, name: str, classes: Sequence[str]) -> None:
        self.name = name
        self.classes = list(classes)
        self.info = ModelInfo(source="rules", family="keyword", device="cpu")

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        answers = []
        for request in requests:
            text = request.prompt.split("\n", 1)[0].lower()  # the item's text line
            if "yes or no" in request.prompt:
                asked = request.prompt.rsplit("the class ", 1)[1].rstrip("?").lower()  # text wording: docs/strategies.md
                answers.append(Answer("yes" if asked in text else "no"))
            else:
                answers.append(Answer(next((c for c in self.classes if c in text), "no idea")))
        return answers


def load_keyword_model(source: str, spec: ModelSpec, options: LoadOptions) -> KeywordModel:
    return KeywordModel(spec.name, classes=["sport", "politics", "weather"])


MODELS.register(
    "keyword",
    ModelSpec(
        name="keyword",
        source="rules",
        family="keyword",
        factory=load_keyword_model,  # or a lazy "my_package.adapters:load_keyword_model"
        modalities=frozenset({"text"}),
        strategies=("closed_set", "binary"),
    ),
    aliases=["kw"],
)


def load_headlines() -> Dataset:
    rows = [
        ("h1", "sport", "The team won the sport final"),
        ("h2", "politics", "Parliament debates politics of the budget"),
        ("h3", "weather", "Heavy rain: weather warning for the coast"),
        ("h4", "sport", "A record in the marathon"),  # no keyword: the rule model misses it
    ]
    items = [Item(id=i, label=label, text=text) for i, label, text in rows]
    return Dataset("headlines", ("sport", "politics", "weather"), items, modality="text", source="docs example")


DATASETS.register("headlines", load_headlines, modality="text", offline=True)
