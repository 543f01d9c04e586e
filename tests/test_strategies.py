"""The strategies: seeded orders, the vote and its tie rule, the question budget, and what
each :class:`Strategy` declares (needs, template, record description)."""

from __future__ import annotations

import ast
import itertools
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest_vlmbench
from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.registry import UnknownNameError
from pytest_vlmbench.strategies import STRATEGIES, Query, Strategy, StrategyConfig, get_strategy
from pytest_vlmbench.strategies.binary import BINARY, binary
from pytest_vlmbench.strategies.closed_set import CLOSED_SET, class_orders, closed_set, majority_vote
from pytest_vlmbench.strategies.direct import DIRECT

from helpers import ScriptedChannel

CLASSES = ("cat", "dog", "bird", "fish")


def label_of(item: Item) -> str:
    """A classification item's class (the toy items here are never NER)."""
    assert isinstance(item.label, str)
    return item.label


def make_dataset(n: int = 6, classes: Sequence[str] = CLASSES, background: str | None = None) -> Dataset:
    items = [Item(id=f"i{k}", label=classes[k % len(classes)], text=f"item {k}") for k in range(n)]
    return Dataset("toy", tuple(classes), items, modality="text", background_class=background)


def test_class_orders_differ_and_are_seeded() -> None:
    orders = class_orders(CLASSES, 3, random.Random("x"))
    assert len({tuple(o) for o in orders}) == 3
    assert all(sorted(o) == sorted(CLASSES) for o in orders)
    assert orders == class_orders(CLASSES, 3, random.Random("x"))
    # Two classes have only two orders; asking for more repeats them rather than looping.
    five = class_orders(("a", "b"), 5, random.Random(1))
    assert len(five) == 5 and {tuple(o) for o in five} == {("a", "b"), ("b", "a")}
    assert five[0] != five[1] and five[2] != five[3]  # in rounds: each order once per round
    # The orders of earlier versions, wherever those were all different (recorded `orders` of
    # fixed-seed runs are compared across commits).
    assert orders == [["bird", "fish", "dog", "cat"], ["fish", "bird", "dog", "cat"], ["fish", "cat", "dog", "bird"]]
    assert class_orders(("a", "b", "c"), 6, random.Random("0:closed_set:i0")) == [
        ["c", "a", "b"], ["a", "c", "b"], ["b", "c", "a"], ["b", "a", "c"], ["c", "b", "a"], ["a", "b", "c"],
    ]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.data(), st.integers(2, 6), st.integers(0, 2**32))
def test_class_orders_are_distinct_until_every_order_is_used(data: st.DataObject, n: int, seed: int) -> None:
    classes = tuple(f"class{i}" for i in range(n))
    total = math.factorial(n)
    count = data.draw(st.integers(1, total), label="permutations")
    orders = class_orders(classes, count, random.Random(seed))
    assert len(orders) == count and all(sorted(o) == sorted(classes) for o in orders)
    assert len({tuple(o) for o in orders}) == count  # all different while P <= n!
    assert orders == class_orders(classes, count, random.Random(seed))  # seeded
    # P > n!: the first n! are every order once; then a new round, again without repeats.
    extra = data.draw(st.integers(1, min(total, 30)), label="beyond n!")
    more = class_orders(classes, total + extra, random.Random(seed))
    assert {tuple(o) for o in more[:total]} == set(itertools.permutations(classes))
    assert len({tuple(o) for o in more[total:]}) == extra


def test_class_orders_with_a_repeated_name_do_not_loop() -> None:
    # Only three different orders of (a, a, b): asking for four starts a second round.
    orders = class_orders(("a", "a", "b"), 4, random.Random(0))
    assert len({tuple(o) for o in orders[:3]}) == 3 and len(orders) == 4


def _prompts_by_item(asked: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item_id, prompt in asked:
        out.setdefault(item_id, []).append(prompt)
    return out


def test_closed_set_orders_depend_on_seed_and_item_not_position() -> None:
    ds = make_dataset()
    asked: list[tuple[str, str]] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        asked.extend((q.item.id, q.prompt) for q in queries)
        return [label_of(q.item) for q in queries]

    out0 = closed_set(ds, ds.items, ScriptedChannel(ask), StrategyConfig(seed=0, permutations=3))
    first_run = _prompts_by_item(asked)
    assert len(asked) == 3 * len(ds.items)
    assert all(len(set(prompts)) == 3 for prompts in first_run.values())  # three different class orders
    asked.clear()
    out_rev = closed_set(ds, list(reversed(ds.items)), ScriptedChannel(ask), StrategyConfig(seed=0, permutations=3))
    # Reversing the items changes nothing about any one item: same prompts, same orders.
    assert _prompts_by_item(asked) == first_run
    assert [o.item.id for o in out_rev] == [it.id for it in reversed(ds.items)]
    by_item = {o.item.id: o.detail["orders"] for o in out0}
    assert {o.item.id: o.detail["orders"] for o in out_rev} == by_item
    out1 = closed_set(ds, ds.items, ScriptedChannel(lambda qs: [label_of(q.item) for q in qs]), StrategyConfig(seed=1))
    assert {o.item.id: o.detail["orders"] for o in out1} != by_item
    assert all(o.prediction == o.item.label for o in out0)
    assert all(o.prediction == o.item.label for o in out_rev)


def test_majority_vote_and_tie_rule() -> None:
    assert majority_vote(["dog", "cat", "dog"]) == "dog"
    assert majority_vote(["cat", "dog"]) == "cat"  # tie: the class answered first wins
    assert majority_vote([None, "dog", "cat"]) == "dog"
    assert majority_vote([None, None, "cat"]) == "cat"  # invalid answers do not vote
    assert majority_vote([None, None]) is None
    assert majority_vote([]) is None


@given(st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=9))
def test_vote_is_a_most_frequent_valid_answer(votes: list[str | None]) -> None:
    winner = majority_vote(votes)
    valid = [v for v in votes if v is not None]
    if not valid:
        assert winner is None
    else:
        assert winner is not None and valid.count(winner) == max(valid.count(v) for v in valid)


def _answer_yes_for(target_of: Callable[[Item], str]) -> Callable[[Sequence[Query]], list[str]]:
    """A model that says yes exactly when asked about the item's class per ``target_of``."""

    def ask(queries: Sequence[Query]) -> list[str]:
        # The toy items are text: binary asks "Does this text belong to the class X?".
        return ["Yes." if q.prompt.endswith(f" class {target_of(q.item)}?") else "No." for q in queries]

    return ask


def test_binary_stops_at_first_yes_and_asks_at_most_n_minus_1() -> None:
    ds = make_dataset(n=12)
    outcomes = binary(ds, ds.items, ScriptedChannel(_answer_yes_for(label_of)), StrategyConfig(seed=3))
    for o in outcomes:
        assert o.prediction == o.item.label
        assert len(o.detail["questions"]) <= len(CLASSES) - 1
        if o.item.label in o.detail["questions"]:
            assert o.detail["questions"][-1] == o.item.label  # stopped at the yes
        else:
            assert o.detail["fallback"] == o.item.label  # never asked: the left-over class


def test_binary_all_no_gives_the_background_class() -> None:
    ds = make_dataset(n=5, classes=("cat", "dog", "clutter"), background="clutter")
    outcomes = binary(ds, ds.items, ScriptedChannel(lambda qs: ["no"] * len(qs)), StrategyConfig())
    for o in outcomes:
        assert o.prediction == "clutter"
        assert "clutter" not in o.detail["questions"]
        assert len(o.detail["questions"]) == 2


def test_binary_invalid_answer_without_a_later_yes_is_invalid() -> None:
    ds = make_dataset(n=4)
    outcomes = binary(ds, ds.items, ScriptedChannel(lambda qs: ["purple"] * len(qs)), StrategyConfig())
    assert all(o.prediction is None for o in outcomes)
    assert all(len(o.detail["questions"]) == len(CLASSES) - 1 for o in outcomes)


def test_binary_batches_across_items() -> None:
    ds = make_dataset(n=10)
    sizes: list[int] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        sizes.append(len(queries))
        return ["no"] * len(queries)

    binary(ds, ds.items, ScriptedChannel(ask), StrategyConfig())
    assert sizes == [10, 10, 10]  # one call per question round, all items together


@given(st.integers(min_value=2, max_value=8), st.integers(min_value=0, max_value=10_000), st.data())
def test_binary_question_budget_property(n_classes: int, seed: int, data: st.DataObject) -> None:
    classes = tuple(f"c{k}" for k in range(n_classes))
    ds = make_dataset(n=3, classes=classes)
    answers = data.draw(st.lists(st.sampled_from(["yes", "no", "??"]), min_size=n_classes, max_size=n_classes))
    calls = iter(range(10_000))

    def ask(queries: Sequence[Query]) -> list[str]:
        return [answers[next(calls) % len(answers)] for _ in queries]

    for o in binary(ds, ds.items, ScriptedChannel(ask), StrategyConfig(seed=seed)):
        assert 1 <= len(o.detail["questions"]) <= n_classes - 1
        assert len(set(o.detail["questions"])) == len(o.detail["questions"])
        if o.prediction is not None:
            assert o.prediction in classes


def test_prompt_template_is_configurable_and_text_items_carry_their_text() -> None:
    ds = make_dataset(n=1)
    seen: list[str] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        seen.extend(q.prompt for q in queries)
        return ["cat"] * len(queries)

    config = StrategyConfig(permutations=1, prompt_template="Pick one of: {classes}")
    [outcome] = closed_set(ds, ds.items, ScriptedChannel(ask), config)
    order = [CLASSES[i] for i in outcome.detail["orders"][0]]
    assert seen == ["Text: item 0\nPick one of: " + ", ".join(order)]


@pytest.mark.parametrize("p", [1, 3, 5])
def test_closed_set_asks_p_times(p: int) -> None:
    ds = make_dataset(n=2)
    sizes: list[int] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        sizes.append(len(queries))
        return ["cat"] * len(queries)

    closed_set(ds, ds.items, ScriptedChannel(ask), StrategyConfig(permutations=p))
    assert sizes == [2 * p]


def test_json_style_asks_for_json_and_only_accepts_json() -> None:
    ds = make_dataset(n=3)
    config = StrategyConfig(permutations=1, answer_style="json")
    prompts: list[str] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        prompts.extend(q.prompt for q in queries)
        # item 0 follows the format, item 1 says the right word without JSON, item 2 is wrong JSON
        return [
            '{"answer": "%s"}' % label_of(q.item) if q.item.id == "i0"
            else (label_of(q.item) if q.item.id == "i1" else '{"answer": "fish"}')
            for q in queries
        ]

    outcomes = closed_set(ds, ds.items, ScriptedChannel(ask), config)
    assert [o.prediction for o in outcomes] == ["cat", None, "fish"]
    assert all(p.endswith('Respond only with JSON: {"answer": "<one of the classes>"}') for p in prompts)
    assert CLOSED_SET.describe(config)["answer_style"] == "json"

    yes_no = binary(ds, ds.items, ScriptedChannel(lambda qs: ['{"answer": "yes"}'] * len(qs)), StrategyConfig(answer_style="json"))
    assert all(o.prediction == o.detail["questions"][0] for o in yes_no)
    plain_yes = binary(ds, ds.items, ScriptedChannel(lambda qs: ["yes"] * len(qs)), StrategyConfig(answer_style="json"))
    assert all(o.prediction is None for o in plain_yes)


# -- what each Strategy declares -----------------------------------------------------------

CLOSED_SET_TEXT = (
    "Question: Answer this question in one word: What type of object is in this photo? "
    "Choose one from {classes}. Answer:"
)
BINARY_TEXT = "Answer the question in one word: yes or no. Is the {cls} in this photo?"
EXEMPLARS = (Item(id="e1", label="cat", text="meow"), Item(id="e2", label="dog", text="woof"))


@pytest.mark.parametrize(
    ("name", "needs", "declared"),
    [("closed_set", "generate", CLOSED_SET), ("binary", "generate", BINARY), ("direct", "classify", DIRECT)],
)
def test_each_registered_strategy_declares_what_it_needs(name: str, needs: str, declared: Strategy) -> None:
    strategy = get_strategy(name)
    assert isinstance(strategy, Strategy)
    assert strategy is declared and strategy.name == name and strategy.needs == needs


def test_every_registered_strategy_loads_as_a_strategy_and_aliases_resolve() -> None:
    assert {"binary", "closed_set", "direct"} <= set(STRATEGIES.names())
    assert all(isinstance(get_strategy(e.name), Strategy) for e in STRATEGIES)
    assert {name: get_strategy(name).needs for name in ("binary", "closed_set", "direct")} == {
        "binary": "generate",
        "closed_set": "generate",
        "direct": "classify",
    }
    assert get_strategy("closed-set") is CLOSED_SET
    assert get_strategy("Yes-No") is BINARY and get_strategy("yes_no") is BINARY
    assert get_strategy("classify") is DIRECT
    with pytest.raises(UnknownNameError, match="Did you mean 'binary'"):
        get_strategy("binnary")


def _ordered(d: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(d.items())  # the record's JSON keeps this order, so compare it too


@pytest.mark.parametrize(
    ("strategy", "config", "expected"),
    [
        (CLOSED_SET, StrategyConfig(seed=2), {
            "seed": 2, "permutations": 3, "prompt_template": CLOSED_SET_TEXT, "answer_style": "plain",
        }),
        (CLOSED_SET, StrategyConfig(permutations=5, answer_style="json", exemplars=EXEMPLARS), {
            "seed": 0,
            "permutations": 5,
            "prompt_template": CLOSED_SET_TEXT + ' Respond only with JSON: {"answer": "<one of the classes>"}',
            "answer_style": "json",
            "exemplar_ids": ["e1", "e2"],
            "exemplar_template": "Text: {text}\nClass: {label}\n\n",
        }),
        (BINARY, StrategyConfig(seed=1, permutations=7), {
            "seed": 1, "question_order": "seeded per item", "prompt_template": BINARY_TEXT, "answer_style": "plain",
        }),
        (BINARY, StrategyConfig(answer_style="json", exemplars=EXEMPLARS[:1]), {
            "seed": 0,
            "question_order": "seeded per item",
            "prompt_template": BINARY_TEXT + ' Respond only with JSON: {"answer": "yes"} or {"answer": "no"}',
            "answer_style": "json",
            "exemplar_ids": ["e1"],
            "exemplar_template": "Text: {text}\nClass: {label}\n\n",
        }),
        (DIRECT, StrategyConfig(seed=4), {"seed": 4}),
        (DIRECT, StrategyConfig(seed=4, answer_style="json", exemplars=EXEMPLARS, prompt_template="x {classes}"), {
            "seed": 4,
        }),
    ],
)  # fmt: skip
def test_describe_gives_exactly_the_recorded_config(strategy: Strategy, config: StrategyConfig, expected: dict[str, Any]) -> None:
    assert _ordered(strategy.describe(config)) == _ordered(expected)


def test_prompt_template_override_is_used_in_prompts_and_recorded() -> None:
    ds = make_dataset(n=2)
    seen: list[str] = []

    def ask(queries: Sequence[Query]) -> list[str]:
        seen.extend(q.prompt for q in queries)
        return ["no"] * len(queries)

    config = StrategyConfig(prompt_template="Is it a {cls}?")
    outcomes = binary(ds, ds.items, ScriptedChannel(ask), config)
    expected = [f"Text: {o.item.text}\nIs it a {cls}?" for o in outcomes for cls in o.detail["questions"]]
    assert sorted(seen) == sorted(expected) and len(seen) == 2 * (len(CLASSES) - 1)
    assert BINARY.describe(config)["prompt_template"] == "Is it a {cls}?"

    # The JSON instruction is still appended to an override, and recorded with it.
    json_config = StrategyConfig(permutations=1, prompt_template="Pick: {classes}.", answer_style="json", exemplars=EXEMPLARS)
    seen.clear()
    [outcome, _] = closed_set(ds, ds.items, ScriptedChannel(ask), json_config)
    order = ", ".join(CLASSES[i] for i in outcome.detail["orders"][0])
    assert seen[0] == (
        "Text: meow\nClass: cat\n\nText: woof\nClass: dog\n\n"
        f'Text: item 0\nPick: {order}. Respond only with JSON: {{"answer": "<one of the classes>"}}'
    )
    assert CLOSED_SET.describe(json_config)["prompt_template"] == (
        'Pick: {classes}. Respond only with JSON: {"answer": "<one of the classes>"}'
    )


def test_direct_has_no_template_and_sends_the_items_text() -> None:
    ds = make_dataset(n=3)
    with pytest.raises(ValueError, match="no prompt template"):
        DIRECT.template(StrategyConfig())
    sent: list[str] = []

    def classify(queries: Sequence[Query]) -> list[str | None]:
        sent.extend(q.prompt for q in queries)
        return [label_of(q.item) if q.item.id != "i1" else None for q in queries]

    outcomes = DIRECT(ds, ds.items, ScriptedChannel(classify), StrategyConfig(prompt_template="ignored {classes}"))
    assert sent == ["item 0", "item 1", "item 2"]
    assert [o.prediction for o in outcomes] == ["cat", None, "bird"]
    assert [o.answers for o in outcomes] == [["cat"], [""], ["bird"]]


def test_a_registered_strategy_takes_its_registered_name_and_a_bare_function_is_refused() -> None:
    mine = Strategy(name="mine", needs="classify", execute=lambda ds, items, channel, config: [])
    STRATEGIES.register("my-direct", mine)
    STRATEGIES.register("bare-function", lambda ds, items, ask, config: [])  # type: ignore[arg-type]  # the point: a bare function
    try:
        got = get_strategy("MY-DIRECT")
        assert got.name == "my-direct" and got.needs == "classify" and got.execute is mine.execute
        with pytest.raises(TypeError, match="'bare-function' is function, not a pytest_vlmbench.strategies.Strategy"):
            get_strategy("bare-function")
    finally:
        STRATEGIES.unregister("my-direct")
        STRATEGIES.unregister("bare-function")


# -- nothing outside the strategies decides by a strategy's name ------------------------------

# Names and aliases; not the alias "classify", which is also a value of Strategy.needs.
STRATEGY_NAMES = frozenset({"closed_set", "closed-set", "binary", "yes-no", "yes_no", "direct"})
STRATEGY_MODULES = frozenset({"closed_set.py", "binary.py", "direct.py"})


def _name_comparisons(source: str) -> list[str]:
    """``Compare`` nodes between something named like a strategy and a strategy-name literal."""

    def literals(node: ast.expr) -> set[str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return {node.value}
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return set()

    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        named = any("strateg" in ast.unparse(o).lower() for o in operands if not literals(o))
        if named and any(literals(o) & STRATEGY_NAMES for o in operands):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_name_scan_catches_branching_on_a_strategy_name() -> None:
    assert _name_comparisons('if strategy == "closed_set":\n    pass\n')
    assert _name_comparisons('x = "binary" != self.case.strategy\n')
    assert _name_comparisons('ok = entry_strategy.name in ("direct", "other")\n')
    assert not _name_comparisons('if strategy.needs == "generate":\n    pass\n')
    assert not _name_comparisons('if model == "binary":\n    pass\n')


def test_no_module_outside_the_strategies_compares_a_strategy_name_to_a_literal() -> None:
    root = Path(pytest_vlmbench.__file__).parent
    offenders = {
        str(path.relative_to(root)): hits
        for path in sorted(root.rglob("*.py"))
        if not (path.parent.name == "strategies" and path.name in STRATEGY_MODULES)
        for hits in [_name_comparisons(path.read_text(encoding="utf-8"))]
        if hits
    }
    assert offenders == {}, "ask the Strategy object (get_strategy(name).needs, .describe(...)) instead"
