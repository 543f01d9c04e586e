"""closed_set and binary: seeded orders, the vote and its tie rule, the question budget."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.strategies.prompting import Query, StrategyConfig, binary, class_orders, closed_set, majority_vote

CLASSES = ("cat", "dog", "bird", "fish")


def make_dataset(n: int = 6, classes=CLASSES, background=None) -> Dataset:
    items = [Item(id=f"i{k}", label=classes[k % len(classes)], text=f"item {k}") for k in range(n)]
    return Dataset("toy", tuple(classes), items, modality="text", background_class=background)


def test_class_orders_differ_and_are_seeded():
    import random

    orders = class_orders(CLASSES, 3, random.Random("x"))
    assert len({tuple(o) for o in orders}) == 3
    assert all(sorted(o) == sorted(CLASSES) for o in orders)
    assert orders == class_orders(CLASSES, 3, random.Random("x"))
    # Two classes have only two orders; asking for more repeats them rather than looping.
    assert len({tuple(o) for o in class_orders(("a", "b"), 5, random.Random(1))}) == 2


def test_closed_set_orders_depend_on_seed_and_item_not_position():
    ds = make_dataset()
    asked: list[str] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        asked.extend(q.prompt for q in queries)
        return [q.item.label for q in queries]

    out0 = closed_set(ds, ds.items, ask, StrategyConfig(seed=0, permutations=3))
    first_run = list(asked)
    asked.clear()
    closed_set(ds, list(reversed(ds.items)), ask, StrategyConfig(seed=0, permutations=3))
    by_item = {o.item.id: o.detail["orders"] for o in out0}
    out_rev = closed_set(ds, list(reversed(ds.items)), lambda qs: [q.item.label for q in qs], StrategyConfig(seed=0))
    assert {o.item.id: o.detail["orders"] for o in out_rev} == by_item
    out1 = closed_set(ds, ds.items, lambda qs: [q.item.label for q in qs], StrategyConfig(seed=1))
    assert {o.item.id: o.detail["orders"] for o in out1} != by_item
    assert len(first_run) == 3 * len(ds.items)
    assert all(o.prediction == o.item.label for o in out0)


def test_majority_vote_and_tie_rule():
    assert majority_vote(["dog", "cat", "dog"]) == "dog"
    assert majority_vote(["cat", "dog"]) == "cat"  # tie: the class answered first wins
    assert majority_vote([None, "dog", "cat"]) == "dog"
    assert majority_vote([None, None, "cat"]) == "cat"  # invalid answers do not vote
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=9))
def test_vote_is_a_most_frequent_valid_answer(votes):
    winner = majority_vote(votes)
    valid = [v for v in votes if v is not None]
    if not valid:
        assert winner is None
    else:
        assert valid.count(winner) == max(valid.count(v) for v in valid)


def _answer_yes_for(target_of):
    """A model that says yes exactly when asked about the item's class per ``target_of``."""

    def ask(queries: Sequence[Query]) -> list[str]:
        return ["Yes." if f"Is the {target_of(q.item)} in" in q.prompt else "No." for q in queries]

    return ask


def test_binary_stops_at_first_yes_and_asks_at_most_n_minus_1():
    ds = make_dataset(n=12)
    outcomes = binary(ds, ds.items, _answer_yes_for(lambda item: item.label), StrategyConfig(seed=3))
    for o in outcomes:
        assert o.prediction == o.item.label
        assert len(o.detail["questions"]) <= len(CLASSES) - 1
        if o.item.label in o.detail["questions"]:
            assert o.detail["questions"][-1] == o.item.label  # stopped at the yes
        else:
            assert o.detail["fallback"] == o.item.label  # never asked: the left-over class


def test_binary_all_no_gives_the_background_class():
    ds = make_dataset(n=5, classes=("cat", "dog", "clutter"), background="clutter")
    outcomes = binary(ds, ds.items, lambda qs: ["no"] * len(qs), StrategyConfig())
    for o in outcomes:
        assert o.prediction == "clutter"
        assert "clutter" not in o.detail["questions"]
        assert len(o.detail["questions"]) == 2


def test_binary_invalid_answer_without_a_later_yes_is_invalid():
    ds = make_dataset(n=4)
    outcomes = binary(ds, ds.items, lambda qs: ["purple"] * len(qs), StrategyConfig())
    assert all(o.prediction is None for o in outcomes)
    assert all(len(o.detail["questions"]) == len(CLASSES) - 1 for o in outcomes)


def test_binary_batches_across_items():
    ds = make_dataset(n=10)
    sizes: list[int] = []

    def ask(queries):
        sizes.append(len(queries))
        return ["no"] * len(queries)

    binary(ds, ds.items, ask, StrategyConfig())
    assert sizes == [10, 10, 10]  # one call per question round, all items together


@given(st.integers(min_value=2, max_value=8), st.integers(min_value=0, max_value=10_000), st.data())
def test_binary_question_budget_property(n_classes, seed, data):
    classes = tuple(f"c{k}" for k in range(n_classes))
    ds = make_dataset(n=3, classes=classes)
    answers = data.draw(st.lists(st.sampled_from(["yes", "no", "??"]), min_size=n_classes, max_size=n_classes))
    calls = iter(range(10_000))

    def ask(queries):
        return [answers[next(calls) % len(answers)] for _ in queries]

    for o in binary(ds, ds.items, ask, StrategyConfig(seed=seed)):
        assert 1 <= len(o.detail["questions"]) <= n_classes - 1
        assert len(set(o.detail["questions"])) == len(o.detail["questions"])
        if o.prediction is not None:
            assert o.prediction in classes


def test_prompt_template_is_configurable_and_text_items_carry_their_text():
    ds = make_dataset(n=1)
    seen: list[str] = []

    def ask(queries):
        seen.extend(q.prompt for q in queries)
        return ["cat"] * len(queries)

    [outcome] = closed_set(ds, ds.items, ask, StrategyConfig(permutations=1, closed_set_template="Pick one of: {classes}"))
    order = [CLASSES[i] for i in outcome.detail["orders"][0]]
    assert seen == ["Text: item 0\nPick one of: " + ", ".join(order)]


@pytest.mark.parametrize("p", [1, 3, 5])
def test_closed_set_asks_p_times(p):
    ds = make_dataset(n=2)
    sizes = []
    closed_set(ds, ds.items, lambda qs: sizes.append(len(qs)) or ["cat"] * len(qs), StrategyConfig(permutations=p))
    assert sizes == [2 * p]


def test_json_style_asks_for_json_and_only_accepts_json():
    ds = make_dataset(n=3)
    config = StrategyConfig(permutations=1, answer_style="json")
    prompts: list[str] = []

    def ask(queries):
        prompts.extend(q.prompt for q in queries)
        # item 0 follows the format, item 1 says the right word without JSON, item 2 is wrong JSON
        return [
            '{"answer": "%s"}' % q.item.label if q.item.id == "i0" else (q.item.label if q.item.id == "i1" else '{"answer": "fish"}')
            for q in queries
        ]

    outcomes = closed_set(ds, ds.items, ask, config)
    assert [o.prediction for o in outcomes] == ["cat", None, "fish"]
    assert all(p.endswith('Respond only with JSON: {"answer": "<one of the classes>"}') for p in prompts)
    assert config.describe("closed_set")["answer_style"] == "json"

    yes_no = binary(ds, ds.items, lambda qs: ['{"answer": "yes"}'] * len(qs), StrategyConfig(answer_style="json"))
    assert all(o.prediction == o.detail["questions"][0] for o in yes_no)
    plain_yes = binary(ds, ds.items, lambda qs: ["yes"] * len(qs), StrategyConfig(answer_style="json"))
    assert all(o.prediction is None for o in plain_yes)
