"""The channel a strategy is handed: what it asks of the model's declared capabilities, the token
tally from the answers' own counts, the facts a strategy plans by, and the training section's source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_vlmbench import Dataset, EvalConfig, Request, evaluate
from pytest_vlmbench.evaluation.answer_cache import AnswerCache
from pytest_vlmbench.evaluation.channel import AdapterError, Channel, TokenTally
from pytest_vlmbench.models.base import Answer, Provides
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.record import Tokens
from pytest_vlmbench.record.training import Training
from pytest_vlmbench.strategies import STRATEGIES, get_strategy
from pytest_vlmbench.strategies.base import Query
from pytest_vlmbench.training.pipeline import TRAINERS

from helpers import oracle, toy_dataset


class Labeller(ScriptedModel):
    """A direct classifier (declared so) that answers with the class its responder names."""

    provides: Provides = "classify"

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        return [next((c for c in classes if c in self.responder(r)), None) for r in requests]


class CountsOnce(ScriptedModel):
    """Counts the tokens of its first batch only, as a server that stops sending ``usage`` would."""

    counts_tokens = True

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        answers = super().generate(requests)
        if len(self.batches) > 1:
            return answers
        return [Answer(a.text, Tokens(3, 0, 1)) for a in answers]


def test_a_strategy_reaches_only_what_the_model_declares_it_provides() -> None:
    data = toy_dataset(3)
    with pytest.raises(AdapterError, match=r"^Model 'g' generates text and has no classify\(\); use a prompting strategy\.$"):
        evaluate(ScriptedModel("g", oracle), data, "direct", EvalConfig())
    with pytest.raises(AdapterError, match=r"^Model 'c' classifies directly and cannot answer prompts; use --strategy direct\.$"):
        evaluate(Labeller("c", oracle), data, "closed_set", EvalConfig())
    record = evaluate(Labeller("c", oracle), data, "direct", EvalConfig())
    assert record.metrics.accuracy == 1.0 and record.tokens is None  # a classifier's channel counts no tokens


def test_a_channel_answers_only_the_way_its_strategy_declared() -> None:
    data = toy_dataset(2)
    asking = Channel(ScriptedModel("g", oracle), "generate", data, EvalConfig())
    with pytest.raises(AdapterError, match="needs 'generate' asked for classes"):
        asking.classify([Query(data.items[0], "x")])
    classifying = Channel(Labeller("c", oracle), "classify", data, EvalConfig())
    with pytest.raises(AdapterError, match="needs 'classify' asked for text answers"):
        classifying.ask([Query(data.items[0], "x")])
    backwards = list(reversed(data.items))
    assert classifying.classify([Query(it, it.text or "") for it in backwards]) == [it.label for it in backwards]


def test_prefix_sharing_is_planned_by_only_when_the_run_and_the_model_both_say_so() -> None:
    data = toy_dataset(2)
    sharing = ScriptedModel("s", oracle)
    sharing.shares_prefix = True
    assert Channel(sharing, "generate", data, EvalConfig(batch_size=5)).shares_prefix is True
    assert Channel(sharing, "generate", data, EvalConfig(prefix_sharing=False)).shares_prefix is False
    assert Channel(ScriptedModel("n", oracle), "generate", data, EvalConfig()).shares_prefix is False
    assert Channel(sharing, "generate", data, EvalConfig(batch_size=5)).batch_size == 5


def test_one_answer_without_counts_leaves_the_whole_run_without_tokens() -> None:
    record = evaluate(CountsOnce("once", oracle), toy_dataset(6), "closed_set", EvalConfig(batch_size=4))
    assert record.tokens is None and all(p.tokens is None for p in record.predictions)  # not the first batch's partial sum
    tally = TokenTally()
    tally.add(["a", "a", "b"], [Tokens(2, 1, 1), Tokens(3, 0, 1), Tokens(1, 0, 1)])
    assert (tally.of_item("a"), tally.total(["a", "b"]), tally.of_item("unasked")) == (Tokens(5, 1, 2), Tokens(6, 1, 3), Tokens())
    tally.add(["b"], [None])
    assert tally.total(["a", "b"]) is None and tally.of_item("a") is None


class Counts(ScriptedModel):
    """Counts 3 prompt tokens and 1 generated token per request."""

    counts_tokens = True

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        return [Answer(a.text, Tokens(3, 0, 1)) for a in super().generate(requests)]


@pytest.mark.parametrize(("model", "rerun"), [(Counts("c", oracle), Tokens()), (ScriptedModel("s", oracle), None)])
def test_a_rerun_from_the_cache_costs_no_tokens_and_an_adapter_that_cannot_count_records_none(
    tmp_path: Path, model: ScriptedModel, rerun: Tokens | None
) -> None:
    """Every answer of the rerun comes from the answer cache: a counting adapter's record says 0 tokens,
    one that does not count (declared, not guessed from the absence of answers) says nothing."""
    data = toy_dataset(4)
    with AnswerCache.open("readwrite", tmp_path / "answers.sqlite") as cache:  # type: ignore[union-attr]
        first = evaluate(model, data, "closed_set", EvalConfig(), answers=cache)
        again = evaluate(model, data, "closed_set", EvalConfig(), answers=cache)
    assert again.throughput.cache_hits == first.throughput.n_requests > 0
    assert first.tokens == (Tokens(36, 0, 12) if rerun is not None else None) and again.tokens == rerun


def test_the_training_section_comes_from_a_trained_model_only() -> None:
    finetune = get_strategy("finetune")
    with pytest.raises(ValueError, match="^Strategy 'finetune' evaluates a classifier it trains first; run it with "):
        finetune.training_of(ScriptedModel("plain", oracle))
    trained = Labeller("trained", oracle)
    section = Training("finetune", "train", 10, 1.0, 10.0, 0.0, "cpu", {}, False, "key", "sha")
    trained.training = section  # type: ignore[attr-defined]
    assert finetune.training_of(trained) is section
    assert get_strategy("closed_set").training_of(trained) is None


def test_every_training_strategy_names_a_registered_trainer() -> None:
    training = [s for s in (get_strategy(n) for n in STRATEGIES.names()) if s.trainer is not None]
    assert {s.name for s in training} == {"finetune", "linear_probe", "ner_finetune"}
    assert all(callable(TRAINERS.get(s.trainer).load()) for s in training if s.trainer is not None)


def test_a_dataset_of_unreadable_items_reaches_no_model() -> None:
    data = toy_dataset(3)
    items = [data.items[0], *(replace(it, unreadable="empty") for it in data.items[1:])]
    broken = Dataset(data.name, data.classes, items, modality="text")
    model = ScriptedModel("g", oracle)
    record = evaluate(model, broken, "closed_set", EvalConfig(batch_size=8))
    assert [e.id for e in record.errors] == [it.id for it in data.items[1:]] and record.n_items == 1
    assert {r.prompt.split("item ")[1].split()[0] for b in model.batches for r in b} == {"0"}  # only the readable item was sent
