"""The prompt texts of the prompting strategies, and how a prompt is put together.

A prompt is, in order: the k-shot exemplars (each as :data:`EXEMPLAR`, or
:data:`IMAGE_EXEMPLAR` when they have images), the item's text (as :data:`TEXT_PREFIX`,
for items that have text), and the strategy's question, i.e. its template with its
placeholder filled in (``{classes}`` for closed_set, ``{cls}`` for binary).

Placeholders are replaced literally, not with ``str.format``: every other character of a
template -- JSON braces included -- reaches the model as written, so the template in the
record (``config.prompt_template``) is exactly the one sent (issue #12: the record used to
show doubled braces the model never saw). Change the strings and results stop matching
their baselines.

Which template an item gets (:func:`closed_set_template`, :func:`binary_template`): image datasets keep the image
benchmark's wording; text and image+text datasets are asked about the text (and the post's
picture); a dataset's or suite's own question replaces the question part.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..datasets.base import Item
from ..models.base import IMAGE_SLOT

CLOSED_SET_TEMPLATE = (
    "Question: Answer this question in one word: What type of object is in this photo? "
    "Choose one from {classes}. Answer:"
)
"""closed_set's default question on image datasets; ``{classes}`` is the class list in one seeded order."""
BINARY_TEMPLATE = "Answer the question in one word: yes or no. Is the {cls} in this photo?"
"""binary's default question on image datasets; ``{cls}`` is the class asked about."""

QUESTIONS = {
    "image": "What type of object is in this photo?",
    "text": "Which class does this text belong to?",
    "image+text": "Which class does this post (its text and its picture) belong to?",
}
"""closed_set's question per dataset modality, when neither the dataset nor the suite declares one."""
CLOSED_SET_QUESTION_TEMPLATE = "Question: Answer this question in one word: {question} Choose one from {classes}. Answer:"
"""closed_set's template around a question (the image wording is this with the image question)."""
BINARY_TEMPLATES = {
    "image": BINARY_TEMPLATE,
    "text": "Answer the question in one word: yes or no. Does this text belong to the class {cls}?",
    "image+text": "Answer the question in one word: yes or no. Does this post (its text and its picture) "
    "belong to the class {cls}?",
}
"""binary's default question per dataset modality (a dataset's question is closed_set's; binary asks per class)."""

TEXT_PREFIX = "Text: {text}\n"
"""Put before the question for an item with text."""
EXEMPLAR = "Text: {text}\nClass: {label}\n\n"
"""One k-shot example, shown before the item: the exemplar's text and its true class."""
IMAGE_EXEMPLAR = IMAGE_SLOT + "{text}Class: {label}\n\n"
"""One k-shot example with an image: the image, its text if any (as :data:`TEXT_PREFIX`), its class."""
JSON_CLASS_SUFFIX = ' Respond only with JSON: {"answer": "<one of the classes>"}'
"""Appended to closed_set's template for the JSON answer style (sent as written)."""
JSON_YES_NO_SUFFIX = ' Respond only with JSON: {"answer": "yes"} or {"answer": "no"}'
"""Appended to binary's template for the JSON answer style (sent as written)."""


class PromptError(ValueError):
    """A prompt template that cannot be used; the message is one sentence."""


def closed_set_template(modality: str, question: str | None = None) -> str:
    """closed_set's template on a dataset of ``modality``, around its ``question`` if any."""
    if question is None and modality == "image":
        return CLOSED_SET_TEMPLATE
    asked = question if question is not None else QUESTIONS.get(modality, QUESTIONS["text"])
    return CLOSED_SET_QUESTION_TEMPLATE.replace("{question}", asked.strip())


def binary_template(modality: str, question: str | None = None) -> str:
    """binary's template on a dataset of ``modality`` (a dataset's question asks for a class, binary about one: unused)."""
    return BINARY_TEMPLATES.get(modality, BINARY_TEMPLATE)


def check_template(template: str, placeholder: str, strategy: str, origin: str = "--prompt-template") -> str:
    """``template`` if it holds ``placeholder``; otherwise :class:`PromptError`, one sentence."""
    if placeholder not in template:
        raise PromptError(
            f"The {origin} {template!r} has no {placeholder} placeholder, which {strategy} fills in; "
            f"add it where the class{'es go' if placeholder == '{classes}' else ' goes'}."
        )
    return template


def fill(template: str, **fields: str) -> str:
    """``template`` with each ``{name}`` of ``fields`` replaced literally (all other text kept as is)."""
    for name, value in fields.items():
        template = template.replace("{" + name + "}", value)
    return template


def exemplar_block(exemplar: Item) -> str:
    """One exemplar as shown before the item (with an image slot when it has an image)."""
    # str.format (not fill) on our own templates: a value holding "{label}" is not filled again.
    if exemplar.load_image is not None:
        text = TEXT_PREFIX.format(text=exemplar.text) if exemplar.text else ""
        return IMAGE_EXEMPLAR.format(text=text, label=exemplar.label)
    return EXEMPLAR.format(text=exemplar.text or "", label=exemplar.label)


def exemplar_prefix(exemplars: Sequence[Item]) -> str:
    """The k-shot block shown before every prompt; empty for zero-shot."""
    return "".join(exemplar_block(e) for e in exemplars)


def build_prompt(template: str, item: Item, exemplars: Sequence[Item], **fields: str) -> str:
    """The prompt for ``item``: exemplars, the item's text if any, then ``template`` filled with ``fields``.

    After image exemplars the item's own image gets a slot too, right before its text, so
    that it comes after the examples and not first.
    """
    question = fill(template, **fields)
    body = TEXT_PREFIX.format(text=item.text) + question if item.text else question
    prefix = exemplar_prefix(exemplars)
    if IMAGE_SLOT in prefix and item.load_image is not None:
        body = IMAGE_SLOT + body
    return prefix + body
