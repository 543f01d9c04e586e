"""Significance tests of the gate: exact McNemar, the paired bootstrap, "too few items"."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench.gate.significance import binomial_tail, mcnemar, min_changed_items, paired_bootstrap
from pytest_vlmbench.tasks.metrics import class_counts


@pytest.mark.parametrize(("k", "n"), [(0, 0), (0, 5), (3, 5), (5, 5), (6, 5), (30, 50), (700, 1200), (10, 1200)])
def test_binomial_tail_matches_scipy(k: int, n: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    expected = 1.0 if k <= 0 else 0.0 if k > n else stats.binomtest(k, n, 0.5, alternative="greater").pvalue
    assert binomial_tail(k, n) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_mcnemar_counts_only_changed_items() -> None:
    base = [True] * 50 + [False] * 50
    # 8 right -> wrong, 1 wrong -> right: p = P(X >= 8 | X ~ Bin(9, 1/2)) = 10/512.
    cur = [False] * 8 + [True] * 42 + [True] + [False] * 49
    result = mcnemar(base, cur)
    assert (result.n_pairs, result.n_changed) == (100, 9)
    assert result.p_value == pytest.approx(10 / 512)
    assert result.significant(0.05) and not result.significant(0.01)


def test_identical_outcomes_give_p_one() -> None:
    result = mcnemar([True, False] * 10, [True, False] * 10)
    assert result.p_value == 1.0 and result.n_changed == 0


@pytest.mark.parametrize(("alpha", "need"), [(0.05, 5), (0.01, 7), (0.1, 4), (0.5, 1), (0.25, 2)])
def test_too_few_changed_items_is_said(alpha: float, need: int) -> None:
    assert min_changed_items(alpha) == need
    assert 0.5**need <= alpha < 0.5 ** (need - 1) or need == 1
    if need > 1:
        few = mcnemar([True] * (need - 1), [False] * (need - 1), alpha)
        assert few.p_value is None and f"{need - 1} changed, {need} needed" in (few.reason or "")
    enough = mcnemar([True] * need, [False] * need, alpha)
    assert enough.significant(alpha)


def _sample(n: int, acc: float, seed: int, classes: str = "abcd") -> tuple[list[str], list[str | None]]:
    rng = random.Random(seed)
    labels = [rng.choice(classes) for _ in range(n)]
    preds: list[str | None] = [t if rng.random() < acc else rng.choice([*classes, None]) for t in labels]
    return labels, preds


@pytest.mark.parametrize("metric", ["macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall", "weighted_f1"])
def test_the_bootstraps_averaged_metrics_match_sklearn(metric: str) -> None:
    """The bootstrap sums per-item counts with one row of weights per resample; all ones is the run itself."""
    from sklearn.metrics import precision_recall_fscore_support

    labels, preds = _sample(300, 0.7, seed=3)
    preds[:5] = ["e"] * 5  # predicted, but no item is an "e"
    classes = ["a", "b", "c", "d", "e"]  # "e" has no items: left out of the averages, as in the record
    avg, _, kind = metric.partition("_")
    p, r, f, _ = precision_recall_fscore_support(
        labels, ["\x00" if x is None else x for x in preds], labels=["a", "b", "c", "d"], average=avg, zero_division=0
    )
    expected = {"precision": p, "recall": r, "f1": f}[kind]
    resampled = class_counts(labels, preds, classes).total(np.ones((1, len(labels)))).value(metric)
    assert resampled.shape == (1,) and resampled[0] == pytest.approx(expected, abs=1e-12)
    if avg == "macro":  # ... which is not the average over every class
        everything = precision_recall_fscore_support(
            labels, ["\x00" if x is None else x for x in preds], labels=classes, average=avg, zero_division=0
        )
        assert abs(everything[("precision", "recall", "f1").index(kind)] - expected) > 0.01


def test_bootstrap_finds_a_planted_drop_and_is_seeded() -> None:
    labels, base = _sample(400, 0.8, seed=1)
    worse = list(base)
    broken = 0
    for i, (t, p) in enumerate(zip(labels, base)):
        if p == t and broken < 40:
            worse[i] = "a" if t != "a" else "b"
            broken += 1
    result = paired_bootstrap("macro_f1", labels, base, worse, list("abcd"), resamples=500)
    assert result.p_value is not None and result.p_value < 0.01
    again = paired_bootstrap("macro_f1", labels, base, worse, list("abcd"), resamples=500)
    assert again == result


def test_bootstrap_with_no_changes_or_too_few() -> None:
    labels, base = _sample(100, 0.8, seed=2)
    same = paired_bootstrap("weighted_f1", labels, base, base, list("abcd"))
    assert same.p_value == 1.0 and same.n_changed == 0
    few = list(base)
    few[0] = None if base[0] is not None else "a"
    undecided = paired_bootstrap("weighted_f1", labels, base, few, list("abcd"))
    assert undecided.p_value is None and "too few changed items" in (undecided.reason or "")


@settings(max_examples=60, deadline=None)
@given(b=st.integers(0, 60), c=st.integers(0, 60), extra=st.integers(1, 10))
def test_more_breaks_never_raise_the_p_value(b: int, c: int, extra: int) -> None:
    """More right->wrong items with the same wrong->right ones: the drop is at least as significant."""

    def p(breaks: int) -> float:
        base = [True] * breaks + [False] * c
        cur = [False] * breaks + [True] * c
        result = mcnemar(base, cur, alpha=0.05)
        return 1.0 if result.p_value is None else result.p_value

    if b >= c:  # the tested direction is "worse" for both
        assert p(b + extra) <= p(b)


def test_one_sided_direction_is_the_one_asked_for() -> None:
    # 9 right -> wrong, 1 wrong -> right: strong evidence of "worse", none of "better".
    base, cur = [True] * 9 + [False], [False] * 9 + [True]
    assert mcnemar(base, cur, direction="worse").p_value == pytest.approx(11 / 1024)
    assert mcnemar(base, cur, direction="better").p_value == pytest.approx(1023 / 1024)
    assert mcnemar(base, cur).p_value == mcnemar(base, cur, direction="worse").p_value
    labels, preds = _sample(300, 0.8, seed=4)
    worse = [("a" if t != "a" else "b") if i < 30 and p == t else p for i, (t, p) in enumerate(zip(labels, preds))]
    better = paired_bootstrap("macro_f1", labels, preds, worse, list("abcd"), direction="better", resamples=300)
    assert better.p_value is not None and better.p_value > 0.9
