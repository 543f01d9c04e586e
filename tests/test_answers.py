"""Answer parsing: class names found robustly, anything else invalid."""

from __future__ import annotations

import string

from hypothesis import assume, given
from hypothesis import strategies as st

from pytest_vlmbench.strategies.answers import ClassMatcher, parse_class, parse_yes_no

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CARS = ["car", "car tire", "bus", "dog"]


def test_exact_and_case_and_punctuation() -> None:
    assert parse_class("Dress", FASHION) == "Dress"
    assert parse_class("  dRESS!!! ", FASHION) == "Dress"
    assert parse_class("It is a dress.", FASHION) == "Dress"
    assert parse_class("ankle-boot", FASHION) == "Ankle boot"


def test_plurals_and_articles() -> None:
    assert parse_class("dresses", FASHION) == "Dress"
    assert parse_class("These are trousers", FASHION) == "Trouser"
    assert parse_class("the buses", CARS) == "bus"
    assert parse_class("two dogs", CARS) == "dog"


def test_slash_names_answer_to_each_part_and_longest_match_wins() -> None:
    assert parse_class("T-shirt", FASHION) == "T-shirt/top"
    assert parse_class("a top", FASHION) == "T-shirt/top"
    assert parse_class("shirt", FASHION) == "Shirt"
    assert parse_class("car tire", CARS) == "car tire"
    assert parse_class("a flat car tire", CARS) == "car tire"
    assert parse_class("car", CARS) == "car"


def test_no_class_or_two_classes_is_invalid() -> None:
    assert parse_class("I cannot tell", FASHION) is None
    assert parse_class("", FASHION) is None
    assert parse_class("a bag or a coat", FASHION) is None
    # A word that merely contains a class name is not the class.
    assert parse_class("baggage", FASHION) is None
    assert parse_class("carpet", CARS) is None


def test_synonyms() -> None:
    matcher = ClassMatcher(["airplane", "cat"], synonyms={"airplane": ["plane", "aircraft"]})
    assert matcher.parse("an aircraft") == "airplane"
    assert matcher.parse("cats") == "cat"


def test_yes_no() -> None:
    assert parse_yes_no("Yes") is True
    assert parse_yes_no("yes.") is True
    assert parse_yes_no("Yes, it is a cat.") is True
    assert parse_yes_no("NO!") is False
    assert parse_yes_no("No, it is not.") is False
    assert parse_yes_no("I think the answer is no.") is False
    assert parse_yes_no("maybe") is None
    assert parse_yes_no("") is None
    assert parse_yes_no("maybe yes, maybe no") is None
    assert parse_yes_no("nothing") is None  # "no" must be a whole word


words = st.text(alphabet=string.ascii_lowercase, min_size=3, max_size=8)


@st.composite
def class_lists(draw: st.DrawFn) -> list[str]:
    names = draw(st.lists(words, min_size=2, max_size=6, unique=True))
    # Keep classes that are not plural forms of each other (then either answer is right).
    return [n for n in names if not any(o != n and (n.startswith(o) or o.startswith(n)) for o in names)] or names[:1]


@given(class_lists(), st.data())
def test_any_casing_punctuation_or_plural_is_found(classes: list[str], data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(classes))
    variant = data.draw(st.sampled_from([cls, cls.upper(), cls.title(), cls + "s", cls + "es"]))
    before = data.draw(st.sampled_from(["", "It is a ", "The answer: ", "I see the "]))
    after = data.draw(st.sampled_from(["", ".", "!", "?", " in the photo.", "..."]))
    assume(parse_class(before + after, classes) is None)  # e.g. a class "ies" is the plural of "I"
    assert parse_class(before + variant + after, classes) == cls


@given(class_lists(), st.text(alphabet="0123456789 ,.!?-", max_size=30))
def test_text_without_a_class_is_invalid(classes: list[str], text: str) -> None:
    assert parse_class(text, classes) is None


def test_json_answer_extraction() -> None:
    from pytest_vlmbench.strategies.answers import json_answer

    assert json_answer('{"answer": "Dress"}') == "Dress"
    assert json_answer('Sure! ```json\n{"answer": "ankle boot"}\n```') == "ankle boot"
    assert json_answer('{"reason": "long sleeves"} then {"answer": "Coat"}') == "Coat"
    assert json_answer("Dress") is None  # right word, wrong format
    assert json_answer('{"answer": 3}') is None
    assert json_answer('{"answer": "Dress"') is None  # cut off
    assert json_answer("{not json}") is None


@given(st.text(max_size=40))
def test_json_answer_round_trips_any_string(value: str) -> None:
    import json

    from pytest_vlmbench.strategies.answers import json_answer

    assert json_answer("Here you go: " + json.dumps({"answer": value})) == value
