"""Class subsets, sweeps, per-class caps and k-shot exemplars: seeded, exact, background kept."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench.datasets.base import Dataset, DatasetError, Item
from pytest_vlmbench.datasets.fingerprint import fingerprint
from pytest_vlmbench.datasets.subsets import choose_classes, exemplar_pool, holdout_split, parse_class_counts, select_exemplars, subset


def make_dataset(n_classes: int, per_class: int = 3, background: bool = False, split: str = "test") -> Dataset:
    classes = tuple(f"c{i:03d}" for i in range(n_classes))
    items = [Item(id=f"{split}/{c}/{k}", label=c, text=f"{c} {k}") for k in range(per_class) for c in classes]
    return Dataset(
        name="synthetic",
        classes=classes,
        items=items,
        modality="text",
        background_class=classes[-1] if background else None,
        source="memory",
        provenance={"split": split},
    )


sizes = st.integers(min_value=2, max_value=40).flatmap(lambda total: st.tuples(st.just(total), st.integers(2, total)))


@settings(max_examples=60, deadline=None)
@given(sizes=sizes, seed=st.integers(0, 10_000), background=st.booleans())
def test_exactly_n_classes_same_seed_same_classes_background_kept(sizes: tuple[int, int], seed: int, background: bool) -> None:
    total, n = sizes
    ds = make_dataset(total, per_class=2, background=background)
    first = subset(ds, num_classes=n, seed=seed)
    second = subset(ds, num_classes=n, seed=seed)
    assert first.classes == second.classes
    assert [it.id for it in first.items] == [it.id for it in second.items]
    assert len(first.classes) == n
    assert set(first.classes) <= set(ds.classes)
    assert list(first.classes) == [c for c in ds.classes if c in first.classes]  # dataset order kept
    assert {it.label for it in first.items} == set(first.classes)
    if background:
        assert ds.background_class in first.classes and first.background_class == ds.background_class


@settings(max_examples=40, deadline=None)
@given(total=st.integers(4, 60), seed=st.integers(0, 1000), background=st.booleans(), data=st.data())
def test_sweep_subsets_are_nested(total: int, seed: int, background: bool, data: st.DataObject) -> None:
    counts = sorted(data.draw(st.sets(st.integers(2, total), min_size=2, max_size=5)))
    ds = make_dataset(total, per_class=1, background=background)
    chosen = [set(subset(ds, num_classes=n, seed=seed).classes) for n in counts]
    assert all(a <= b for a, b in zip(chosen, chosen[1:]))


@settings(max_examples=40, deadline=None)
@given(per_class=st.integers(1, 6), seed=st.integers(0, 1000), data=st.data())
def test_per_class_cap_is_balanced_and_seeded(per_class: int, seed: int, data: st.DataObject) -> None:
    sizes = data.draw(st.lists(st.integers(1, 8), min_size=2, max_size=6))
    items = [Item(id=f"{c}-{k}", label=f"k{c}") for c, size in enumerate(sizes) for k in range(size)]
    ds = Dataset(name="uneven", classes=tuple(f"k{c}" for c in range(len(sizes))), items=items, modality="text")
    capped = subset(ds, per_class=per_class, seed=seed)
    counts = Counter(it.label for it in capped.items)
    assert all(counts[f"k{c}"] == min(per_class, size) for c, size in enumerate(sizes))
    assert [it.id for it in capped.items] == [it.id for it in subset(ds, per_class=per_class, seed=seed).items]
    # Round-robin: every prefix is as balanced as the class sizes allow.
    first_round = [it.label for it in capped.items[: len(sizes)]]
    assert sorted(first_round) == sorted(ds.classes)


def test_different_seeds_usually_choose_different_classes() -> None:
    ds = make_dataset(50, per_class=1)
    picks = {subset(ds, num_classes=10, seed=s).classes for s in range(10)}
    assert len(picks) > 5


def test_caltech_style_21_classes_including_background() -> None:
    ds = make_dataset(257, per_class=1, background=True)
    sub = subset(ds, num_classes=21, per_class=1, seed=0)
    assert len(sub.classes) == 21 and "c256" in sub.classes and sub.background_class == "c256"
    assert sub.provenance["selection"] == {"num_classes": 21, "per_class": 1, "seed": 0, "background_class": "c256"}


def test_background_class_option_overrides_and_is_validated() -> None:
    ds = make_dataset(5)
    assert subset(ds, background_class="c002").background_class == "c002"
    assert "c002" in subset(ds, num_classes=2, background_class="c002", seed=9).classes
    with pytest.raises(DatasetError, match="Background class 'clutter' is not one of the classes of dataset 'synthetic'"):
        subset(ds, background_class="clutter")


def test_no_options_returns_the_dataset_unchanged() -> None:
    ds = make_dataset(3)
    assert subset(ds) is ds


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10,25,50,100,200", (10, 25, 50, 100, 200)), ("21", (21,)), (21, (21,)), (None, ()), ("10, 10 ,25", (10, 25))],
)
def test_parse_class_counts(value: str | int | None, expected: tuple[int, ...]) -> None:
    assert parse_class_counts(value) == expected


@pytest.mark.parametrize(("value", "message"), [("ten", "whole numbers"), ("10,1", "at least 2")])
def test_parse_class_counts_errors(value: str, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        parse_class_counts(value)


def test_more_classes_than_available_is_one_sentence() -> None:
    with pytest.raises(DatasetError, match=r"^--num-classes 12 asks for more classes than dataset 'synthetic' has with items \(10\)\.$"):
        subset(make_dataset(10), num_classes=12)
    with pytest.raises(DatasetError, match="at least 2"):
        choose_classes(["a", "b"], 1, 0)


def test_selection_changes_the_fingerprint() -> None:
    ds = make_dataset(10)
    a = fingerprint(subset(ds, num_classes=5, seed=1))
    b = fingerprint(subset(ds, num_classes=5, seed=2))
    c = fingerprint(subset(ds, num_classes=5, seed=1))
    assert a["sha256"] == c["sha256"] != b["sha256"]
    assert a["classes"] != b["classes"] and a["selection"]["seed"] == 1


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 3), seed=st.integers(0, 1000))
def test_exemplars_are_class_balanced_seeded_and_from_another_split(k: int, seed: int) -> None:
    evaluated = make_dataset(4, per_class=3, split="test")
    train = make_dataset(4, per_class=5, split="train")
    kept, shots = exemplar_pool(evaluated, train, k, seed)
    assert kept is evaluated
    assert Counter(it.label for it in shots) == {c: k for c in evaluated.classes}
    assert all(it.id.startswith("train/") for it in shots)
    assert [it.id for it in shots] == [it.id for it in select_exemplars(train, k, seed, classes=evaluated.classes)]


def test_exemplars_from_the_evaluated_split_are_refused() -> None:
    ds = make_dataset(3, per_class=4)
    with pytest.raises(DatasetError, match="k-shot exemplars must come from a split other than the evaluated one"):
        exemplar_pool(ds, ds, 1, 0)


def test_single_split_dataset_is_held_out_deterministically() -> None:
    ds = make_dataset(3, per_class=5, split="all")
    kept, shots = exemplar_pool(ds, None, 2, seed=4)
    again_kept, again_shots = exemplar_pool(ds, None, 2, seed=4)
    assert [it.id for it in shots] == [it.id for it in again_shots]
    assert len(shots) == 6 and len(kept) == 9
    assert not {it.id for it in shots} & {it.id for it in kept.items}
    record = kept.provenance["exemplar_split"]
    assert record["method"] == "holdout" and record["k_per_class"] == 2 and record["seed"] == 4
    assert fingerprint(kept)["sha256"] == fingerprint(again_kept)["sha256"] != fingerprint(ds)["sha256"]


def test_exemplars_only_for_the_evaluated_classes_and_too_few_is_an_error() -> None:
    pool = make_dataset(5, per_class=2, split="train")
    shots = select_exemplars(pool, 2, 0, classes=["c001", "c003"])
    assert {it.label for it in shots} == {"c001", "c003"}
    with pytest.raises(DatasetError, match="has 2 exemplar item\\(s\\) of class 'c000'; 3-shot needs 3"):
        select_exemplars(pool, 3, 0)
    with pytest.raises(DatasetError):
        holdout_split(pool, 3, 0)
