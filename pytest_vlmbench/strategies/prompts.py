"""The prompt texts of the prompting strategies, and how a prompt is put together.

A prompt is, in order: the k-shot exemplars (each as :data:`EXEMPLAR`), the item's text
(as :data:`TEXT_PREFIX`, for items that have text), and the strategy's question, i.e. its
template with its fields filled in. The exact strings are part of the record
(``config.prompt_template``, ``config.exemplar_template``): change them and results stop
matching their baselines.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..datasets.base import Item

CLOSED_SET_TEMPLATE = (
    "Question: Answer this question in one word: What type of object is in this photo? "
    "Choose one from {classes}. Answer:"
)
"""closed_set's default question; ``{classes}`` is the class list in one seeded order."""
BINARY_TEMPLATE = "Answer the question in one word: yes or no. Is the {cls} in this photo?"
"""binary's default question; ``{cls}`` is the class asked about."""
TEXT_PREFIX = "Text: {text}\n"
"""Put before the question for an item with text."""
EXEMPLAR = "Text: {text}\nClass: {label}\n\n"
"""One k-shot example, shown before the item: the exemplar's text and its true class."""
JSON_CLASS_SUFFIX = ' Respond only with JSON: {{"answer": "<one of the classes>"}}'
"""Appended to closed_set's template for the JSON answer style (braces doubled for ``format``)."""
JSON_YES_NO_SUFFIX = ' Respond only with JSON: {{"answer": "yes"}} or {{"answer": "no"}}'
"""Appended to binary's template for the JSON answer style (braces doubled for ``format``)."""


def exemplar_prefix(exemplars: Sequence[Item]) -> str:
    """The k-shot block shown before every prompt; empty for zero-shot."""
    return "".join(EXEMPLAR.format(text=e.text, label=e.label) for e in exemplars)


def build_prompt(template: str, item: Item, exemplars: Sequence[Item], **fields: str) -> str:
    """The prompt for ``item``: exemplars, the item's text if any, then ``template`` filled with ``fields``."""
    question = template.format(**fields)
    body = TEXT_PREFIX.format(text=item.text) + question if item.text else question
    return exemplar_prefix(exemplars) + body
