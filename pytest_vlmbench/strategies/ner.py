"""The NER strategies: tag every token of a sentence with an entity type (IOB2).

- ``ner_direct``: a token-classification head (``AutoModelForTokenClassification``) tags the
  tokens itself; its answer is the predicted tag sequence.
- ``ner_finetune``: the same, after fine-tuning a new token head on the training sentences
  (:mod:`pytest_vlmbench.training.ner_finetune`; a ``training`` section joins the record).
- ``ner_prompt``: an LLM is asked for the entities in the study's two output styles --
  ``--answer-style plain`` (serial: one ``entity | type`` line each) or ``json`` (a list of
  ``{"entity", "type"}`` objects) -- and its answer is placed back on the tokens
  (:mod:`.ner_answers` parses it, :mod:`pytest_vlmbench.tasks.spans` places it). An unparseable answer is a ``None`` prediction. With
  ``--k-shot K``, K example sentences and their gold entities, in the same style, come first.

Predictions and labels are tag tuples, one tag per token (:mod:`pytest_vlmbench.datasets.ner`);
the record's ``ner`` section holds the entity scores (:mod:`pytest_vlmbench.tasks.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..datasets.base import Dataset, Item
from ..datasets.ner import NerItem, entity_types
from .ner_answers import parse_entities
from ..tasks.spans import place_entities, spans
from ..tasks import NER, Task
from .base import Ask, Classify, ItemOutcome, Query, Strategy, StrategyConfig
from .prompts import PromptError

SERIAL_TEMPLATE = (
    "Find the named entities in the sentence below. The entity types are: {types}.\n"
    "Answer with one entity per line, written as: entity | type\n"
    "If the sentence has no entity, answer: None\n\n"
    "Sentence: {sentence}"
)
"""The serial output style (``--answer-style plain``): ``{types}`` and ``{sentence}`` are filled in."""

JSON_TEMPLATE = (
    "Find the named entities in the sentence below. The entity types are: {types}.\n"
    'Answer only with a JSON list of objects {"entity": "...", "type": "..."}, one per entity, '
    "or [] if the sentence has no entity.\n\n"
    "Sentence: {sentence}"
)
"""The JSON output style (``--answer-style json``); its braces are sent as written (no ``str.format``)."""

NER_EXEMPLAR = "Sentence: {sentence}\nAnswer:\n{answer}\n\n"
"""A k-shot example sentence before the question, its gold entities in the run's answer style
(serial lines, ``None`` when it has none, or the JSON list); recorded as ``exemplar_template``."""


@dataclass(frozen=True)
class NerStrategy(Strategy):
    """A NER strategy: its prompt template depends on the answer style (serial or JSON)."""

    task: Task = NER
    json_template: str | None = None

    def template(self, config: StrategyConfig, dataset: Dataset | None = None) -> str:
        if config.prompt_template is not None:
            if "{sentence}" not in config.prompt_template:
                raise PromptError(
                    f"The prompt template of {self.name} has no {{sentence}} placeholder; add it where the sentence goes "
                    f"({{types}} is replaced by the entity types)."
                )
            return config.prompt_template
        chosen = self.json_template if config.answer_style == "json" else self.default_template
        if chosen is None:
            raise PromptError(f"Strategy {self.name!r} has no prompt template.")
        return chosen

    def describe(self, config: StrategyConfig, dataset: Dataset | None = None) -> dict[str, Any]:
        out = super().describe(config, dataset)
        if "exemplar_template" in out:  # example sentences, not the classification's "Text/Class" blocks
            out["exemplar_template"] = NER_EXEMPLAR
        return out


def fill(template: str, types: Sequence[str], sentence: str) -> str:
    """The prompt: ``{types}`` and ``{sentence}`` replaced, every other brace kept as written."""
    return template.replace("{types}", ", ".join(types)).replace("{sentence}", sentence)


def _tokens(item: Item) -> tuple[str, ...]:
    return item.tokens if isinstance(item, NerItem) else tuple((item.text or "").split(" "))


def exemplar_block(item: Item, style: str) -> str:
    """One example sentence and its gold entities, answered as the model is asked to answer (:data:`NER_EXEMPLAR`)."""
    tokens = _tokens(item)
    entities = [(" ".join(tokens[s.start : s.end]), s.kind) for s in spans(NER.classes_of(item.label))]
    if style == "json":
        answer = json.dumps([{"entity": e, "type": t} for e, t in entities], ensure_ascii=False)  # names as written, not \u escapes
    else:
        answer = "\n".join(f"{e} | {t}" for e, t in entities) or "None"
    return NER_EXEMPLAR.format(sentence=" ".join(tokens), answer=answer)  # values go in verbatim, braces and all


def tag_tokens(dataset: Dataset, items: Sequence[Item], channel: Classify, config: StrategyConfig) -> list[ItemOutcome]:
    """``ner_direct`` / ``ner_finetune``: the head's tag sequence per sentence (``None``: it could not tag it)."""
    predictions = channel.classify([Query(item, " ".join(_tokens(item))) for item in items])  # a head answers its tags joined by spaces
    return [ItemOutcome(item, None if p is None else tuple(p.split(" ")), [p or ""]) for item, p in zip(items, predictions)]


def prompt_entities(dataset: Dataset, items: Sequence[Item], channel: Ask, config: StrategyConfig) -> list[ItemOutcome]:
    """``ner_prompt``: one prompt per sentence; the answered entities placed on its tokens."""
    types = entity_types(dataset.classes)
    template = NER_PROMPT.template(config, dataset)
    style = "json" if config.answer_style == "json" else "serial"
    shots = "".join(exemplar_block(e, style) for e in config.exemplars)  # k-shot: example sentences first
    answers = channel.ask([Query(item, shots + fill(template, types, " ".join(_tokens(item)))) for item in items])
    outcomes = []
    for item, answer in zip(items, answers):
        entities = parse_entities(answer, style)
        detail: dict[str, Any] = {"output_style": style}
        if entities is None:
            outcomes.append(ItemOutcome(item, None, [answer], {**detail, "unparseable": True}))
            continue
        placement = place_entities(_tokens(item), entities, types)
        detail |= {"entities": [f"{e} | {t}" for e, t in entities], "unplaced": list(placement.unplaced)}
        outcomes.append(ItemOutcome(item, tuple(placement.tags), [answer], detail))
    return outcomes


def _no_exemplars(config: StrategyConfig) -> dict[str, Any]:
    return {"tag_scheme": "IOB2"}


def _finetune_settings(config: StrategyConfig) -> dict[str, Any]:
    return {"tag_scheme": "IOB2", **config.training.finetune_json()}


NER_DIRECT = NerStrategy(name="ner_direct", needs="classify", execute=tag_tokens, settings=_no_exemplars)
"""The ``ner_direct`` declaration registered in ``STRATEGIES``."""

NER_FINETUNE = NerStrategy(
    name="ner_finetune", needs="classify", execute=tag_tokens, settings=_finetune_settings,
    trainer="ner_finetune",
)  # fmt: skip
"""The ``ner_finetune`` declaration registered in ``STRATEGIES``."""

NER_PROMPT = NerStrategy(
    name="ner_prompt", needs="generate", execute=prompt_entities, settings=_no_exemplars,
    default_template=SERIAL_TEMPLATE, json_template=JSON_TEMPLATE,
)  # fmt: skip
"""The ``ner_prompt`` declaration registered in ``STRATEGIES``."""

"""The strategies that run only on NER datasets (and the only ones that do)."""
