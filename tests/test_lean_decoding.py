"""Leaner decoding and the token record: early stops that keep the verdict, binary's asking
ahead that keeps the protocol, length-sorted batches in input order, and token counts per item
(cached answers cost none) through the JSON and ``vlmbench compare``'s metrics."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pytest_vlmbench import Dataset, EvalConfig, Item, Request, evaluate
from pytest_vlmbench.models.base import Answer
from pytest_vlmbench.evaluation.answer_cache import AnswerCache
from pytest_vlmbench.gate.metrics import METRICS
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.record import Record
from pytest_vlmbench.strategies.answers import parse_yes_no, yes_no_decided
from pytest_vlmbench.strategies.base import StrategyConfig
from pytest_vlmbench.strategies.binary import binary
from pytest_vlmbench.record.tokens import Tokens

from helpers import ScriptedChannel

CLASSES = tuple(f"class{k}" for k in range(9))


@given(st.text(max_size=12), st.text(max_size=12))
def test_a_decided_yes_no_stays_decided_whatever_follows(head: str, tail: str) -> None:
    if yes_no_decided(head):
        assert parse_yes_no(head + tail) == parse_yes_no(head) is not None


def test_yes_no_is_decided_only_by_a_complete_first_word() -> None:
    assert [yes_no_decided(t) for t in ("Yes.", " no,", "yes", "nope", "yesterday ", "I think yes ")] == [
        True, True, False, False, False, False,
    ]  # fmt: skip


class Counting(ScriptedModel):
    """A scripted model that reports tokens as an HF adapter does: prompt = words, 1 generated."""

    counts_tokens = True

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        answers = super().generate(requests)
        return [Answer(a.text, Tokens(len(r.prompt.split()), 1 if r.group else 0, 1)) for a, r in zip(answers, requests)]


def _says_yes_at(true_position: dict[str, int]) -> Callable[[Request], str]:
    """Answers yes exactly when asked about the item's planted class."""

    def reply(request: Request) -> str:
        found = re.search(r"(?:Is the|to the class) (\w+)", request.prompt)  # image or text wording
        item = re.search(r"item (\w+)", request.prompt)
        assert found and item
        return "Yes." if found.group(1) == f"class{true_position[item.group(1)]}" else "No."

    return reply


def _items(n: int) -> list[Item]:
    return [Item(id=f"i{k}", label=CLASSES[k % 9], text=f"item i{k} {'x ' * k}") for k in range(n)]


def planning(answer: Callable[[Request], str], batch_size: int, shares_prefix: bool) -> ScriptedChannel:
    """A channel with the given planning facts, answering each query's prompt, recording every batch of queries."""
    return ScriptedChannel(lambda queries: [answer(Request(q.prompt)) for q in queries], batch_size, shares_prefix)


def test_asking_ahead_records_the_same_questions_and_predictions() -> None:
    items = _items(5)
    dataset = Dataset("toy", CLASSES, items, modality="text")
    reply = _says_yes_at({it.id: k % 9 for k, it in enumerate(items)})
    one_by_one = binary(dataset, items, planning(reply, 1, False), StrategyConfig())
    ahead = planning(reply, 8, True)
    planned = binary(dataset, items, ahead, StrategyConfig())
    assert [(o.prediction, o.answers, o.detail) for o in planned] == [(o.prediction, o.answers, o.detail) for o in one_by_one]
    first_round = ahead.asked[0]
    assert sum(q.item.id == "i0" for q in first_round) == 8  # one batch of an item's questions at once
    assert all(q.decided is yes_no_decided for q in first_round)


def test_with_sharing_items_that_say_yes_early_are_asked_few_questions_ahead() -> None:
    # A model that says yes at the second question: after the first item (asked a batch ahead,
    # before anything is known), each item is asked the 2 questions items needed so far, and
    # 4 items share a batch -- not 8 questions each, 6 of them wasted.
    items = _items(9)
    dataset = Dataset("toy", CLASSES, items, modality="text")
    seen: dict[str, int] = {}

    def yes_at_second(request: Request) -> str:
        item = request.prompt.split("item ")[1].split()[0]
        seen[item] = seen.get(item, 0) + 1
        return "Yes." if seen[item] == 2 else "No."  # questions come in each item's order

    ask = planning(yes_at_second, 8, True)
    outcomes = binary(dataset, items, ask, StrategyConfig())
    assert all(len(o.detail["questions"]) == 2 for o in outcomes)  # the record: questions up to the yes
    assert [len(batch) for batch in ask.asked] == [8, 8, 8]  # 1 item x 8, then 4 items x 2, twice
    assert sum(len(batch) for batch in ask.asked) == 24  # a batch ahead throughout would ask 9 x 8 = 72


def test_without_sharing_asking_ahead_only_fills_the_batch() -> None:
    items = _items(3)
    dataset = Dataset("toy", CLASSES, items, modality="text")
    ask = planning(lambda r: "No.", 8, False)
    binary(dataset, items, ask, StrategyConfig())
    assert [len(batch) for batch in ask.asked] == [6, 6, 6, 6]  # 3 items x 2 questions fill 8 as far as they go; 8 each


def test_batches_are_length_sorted_and_answers_come_back_in_order(tmp_path: Path) -> None:
    items = [Item(id=f"t{k}", label=CLASSES[0], text="word " * (9 - k)) for k in range(6)]
    dataset = Dataset("toy", CLASSES, items, modality="text")
    model = Counting("counting", lambda r: r.prompt.split("Text: ")[-1][:12])
    record = evaluate(model, dataset, "closed_set", EvalConfig(StrategyConfig(permutations=2), batch_size=4))
    sent = [len(r.prompt) for batch in model.batches for r in batch]
    assert sent == sorted(sent)  # shortest item texts first
    assert [p.answers[0] for p in record.predictions] == [("word " * (9 - k))[:12] for k in range(6)]
    by_id = {p.id: p.tokens for p in record.predictions}
    assert record.tokens == sum((t for t in by_id.values() if t is not None), Tokens())
    assert by_id["t0"] is not None and by_id["t0"].generated == 2 and by_id["t0"].shared == 2  # two permutations
    assert Record.from_json(record.to_json()) == record and record.to_json()["tokens"]["computed"] == record.tokens.computed
    assert METRICS["tokens_per_item"].value(record) == record.tokens.computed / 6


def test_cached_answers_cost_no_tokens_and_sharing_off_sends_no_group(tmp_path: Path) -> None:
    dataset = Dataset("toy", CLASSES, _items(4), modality="text")
    model = Counting("counting", lambda r: "class1")
    config = EvalConfig(batch_size=4, prefix_sharing=False)
    with AnswerCache(tmp_path / "a.sqlite", "readwrite") as cache:
        first = evaluate(model, dataset, "closed_set", config, answers=cache)
        again = evaluate(model, dataset, "closed_set", config, answers=cache)
    assert first.tokens is not None and first.tokens.prompt > 0 and first.tokens.shared == 0
    assert again.tokens == Tokens() and all(p.tokens == Tokens() for p in again.predictions)


def test_an_adapter_that_does_not_count_leaves_no_tokens() -> None:
    dataset = Dataset("toy", CLASSES, _items(2), modality="text")
    record = evaluate(ScriptedModel("plain", lambda r: "class1"), dataset, "closed_set", EvalConfig())
    assert record.tokens is None and "tokens" not in record.to_json() and METRICS["tokens_per_item"].value(record) is None


def test_vlmbench_compare_shows_computed_tokens_per_item(tmp_path: Path, capsys: object) -> None:
    import json
    from dataclasses import replace

    from pytest_vlmbench.cli import main
    from helpers import make_record, run_document

    base = make_record(["a", "b"] * 5, ["a", "b"] * 5)
    paths = []
    for k, computed in enumerate((400, 250)):
        record = replace(base, tokens=Tokens(prompt=400 * 10, shared=(400 - computed) * 10, generated=20))
        paths.append(tmp_path / f"run{k}.json")
        paths[-1].write_text(json.dumps(run_document([record])))
    assert main(["compare", *map(str, paths), "--fail-on", "off"]) == 0
    out = getattr(capsys, "readouterr")().out
    assert "tokens_per_item" in out and "400" in out and "250" in out


def test_a_decided_answer_stops_its_row_and_counts_what_it_generated() -> None:
    """On the tiny Qwen2-VL: a row whose rule says "decided" stops after one token, the other
    row goes on; counts say so, and the undecided row's answer is the one it gives alone."""
    from pytest_vlmbench import load_dataset, load_model, resolve_model
    from pytest_vlmbench.models.base import GenerativeModel, LoadOptions

    model, _ = load_model(resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    try:
        image = load_dataset("digits").items[0].image()
        stop_at_once = Request("Is this a seven?", image, 6, decided=lambda text: True)
        go_on = Request("Is this a seven? Answer in one word.", image, 6)
        assert isinstance(model, GenerativeModel)
        answers = model.generate([stop_at_once, go_on])
        counts = [a.tokens for a in answers]
        alone = model.generate([go_on])
    finally:
        model.close()
    assert counts[0] is not None and counts[1] is not None
    assert counts[0].generated == 1 and 1 < counts[1].generated <= 6 and counts[0].shared == counts[1].shared == 0
    assert counts[1].prompt > counts[0].prompt > 4  # image tokens included
    assert answers[1].text == alone[0].text and len(answers[0].text.split()) <= 1


def test_the_prefix_sharing_option_is_on_by_default_and_refuses_other_words() -> None:
    import pytest

    from pytest_vlmbench.options import OptionError, run_options_from

    assert run_options_from({}).prefix_sharing is True
    assert run_options_from({"prefix_sharing": "off"}).prefix_sharing is False
    assert run_options_from({}).as_json()["prefix_sharing"] is True  # recorded in every record's options
    with pytest.raises(OptionError, match="--vlmbench-prefix-sharing must be one of on, off, got 'no'"):
        run_options_from({"prefix_sharing": "no"})
