"""The protocols re-verified on the reference models, whose answers mean something.

The ``tiny:`` builds answer noise, so the protocol checks elsewhere plant their answers. The
``ref:`` models were trained to answer these questions (docs/reference_models.md): here the
permutation vote, prefix sharing, batch size, the answer cache and an A/A run through the
gate are checked on their real answers, on a few hundred items each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_vlmbench import EvalConfig, evaluate, load_dataset, load_model, resolve_model
from pytest_vlmbench.datasets.base import Dataset
from pytest_vlmbench.datasets.builtin import fashion_mnist_available
from pytest_vlmbench.datasets.resolve import DatasetOptions
from pytest_vlmbench.evaluation.answer_cache import AnswerCache
from pytest_vlmbench.gate.baseline import parse_run
from pytest_vlmbench.gate.thresholds import merge_layers
from pytest_vlmbench.gate.verdict import judge_record
from pytest_vlmbench.models.base import GenerativeModel, LoadOptions
from pytest_vlmbench.models.zoo import REFERENCE_DIR
from pytest_vlmbench.record import Record
from pytest_vlmbench.strategies.answers import ClassMatcher
from pytest_vlmbench.strategies.base import StrategyConfig
from pytest_vlmbench.strategies.closed_set import majority_vote

from helpers import run_document

pytestmark = pytest.mark.slow

CASES = {"qwen2-vl-fashion": ("fashion_mnist", 200), "qwen2-text": ("bbc_news_lead", 150)}
"""Reference model -> (the dataset it was trained on, items checked here)."""


def _load(name: str) -> GenerativeModel:
    if not (REFERENCE_DIR / name / "model.safetensors").is_file():
        pytest.skip(f"ref:{name} is not in this checkout")
    if name == "qwen2-vl-fashion" and not fashion_mnist_available():
        pytest.skip("the reference VLM was trained on Fashion-MNIST, which is not installed (dataset-fashion-mnist)")
    model, _ = load_model(resolve_model(f"ref:{name}"), LoadOptions(device="cpu"))
    assert isinstance(model, GenerativeModel)
    return model


@pytest.fixture(scope="module", params=list(CASES))
def reference(request: pytest.FixtureRequest) -> Iterator[tuple[GenerativeModel, Dataset]]:
    model = _load(request.param)
    dataset_name, n = CASES[request.param]
    yield model, load_dataset(dataset_name, DatasetOptions()).limited(n)
    model.close()


def _run(model: GenerativeModel, dataset: Dataset, strategy: str, **config: object) -> Record:
    permutations = config.pop("permutations", 3)
    assert isinstance(permutations, int)
    return evaluate(model, dataset, strategy, EvalConfig(StrategyConfig(permutations=permutations), **config))  # type: ignore[arg-type]


def _answers(record: Record) -> list[list[str]]:
    return [list(p.answers) for p in record.predictions]


def test_the_vote_over_three_permutations_is_the_majority_of_their_answers(reference: tuple[GenerativeModel, Dataset]) -> None:
    model, dataset = reference
    # Sharing off: this checks the vote alone (sharing is checked below).
    one, three = (_run(model, dataset, "closed_set", permutations=p, prefix_sharing=False) for p in (1, 3))
    # The first of three orders is the order asked alone: the same prompt gets the same answer.
    assert [a[0] for a in _answers(one)] == [a[0] for a in _answers(three)]
    matcher = ClassMatcher(dataset.classes)
    for p in three.predictions:
        assert len(p.answers) == 3
        assert p.prediction == majority_vote([matcher.parse(a) for a in p.answers])
    assert one.metrics.accuracy >= 0.8 and three.metrics.accuracy >= 0.8
    assert three.metrics.accuracy >= one.metrics.accuracy - 0.02  # voting does not cost accuracy
    assert three.metrics.invalid_rate <= 0.01
    # A model that ends its answer: a class name is a few tokens, never --max-new-tokens each.
    assert three.tokens is not None and three.tokens.generated < three.throughput.n_requests * 4


@pytest.mark.parametrize("strategy", ["closed_set", "binary"])
def test_prefix_sharing_on_and_off_give_the_same_answers(reference: tuple[GenerativeModel, Dataset], strategy: str) -> None:
    model, dataset = reference
    declared = model.shares_prefix  # the reference VLM runs unshared (it does not pay there): forced on here
    model.shares_prefix = True  # type: ignore[misc]
    try:
        on, off = (_run(model, dataset, strategy, prefix_sharing=sharing) for sharing in (True, False))
    finally:
        model.shares_prefix = declared  # type: ignore[misc]
    assert _answers(on) == _answers(off)
    assert [p.prediction for p in on.predictions] == [p.prediction for p in off.predictions]
    assert on.tokens is not None and off.tokens is not None
    assert on.tokens.shared > 0 and off.tokens.shared == 0


def test_batch_sizes_1_8_and_16_give_the_same_answers(reference: tuple[GenerativeModel, Dataset]) -> None:
    model, dataset = reference
    small = dataset.limited(60)  # batch 1 is the slow one
    runs = [_run(model, small, "binary", batch_size=b) for b in (1, 8, 16)]
    assert _answers(runs[0]) == _answers(runs[1]) == _answers(runs[2])


def test_a_resumed_run_answers_from_the_cache_what_it_asked_before(reference: tuple[GenerativeModel, Dataset], tmp_path: Path) -> None:
    model, dataset = reference
    fresh = _run(model, dataset, "binary")
    with AnswerCache(tmp_path / "answers.sqlite", "write") as cache:
        half = evaluate(model, dataset.limited(len(dataset.items) // 2), "binary", EvalConfig(), answers=cache)  # then "killed"
    with AnswerCache(tmp_path / "answers.sqlite", "readwrite") as cache:
        resumed = evaluate(model, dataset, "binary", EvalConfig(), answers=cache)
    assert _answers(resumed) == _answers(fresh)
    assert resumed.metrics == fresh.metrics
    # Only the second half was asked (binary asks a few questions ahead, so not exactly the rest).
    assert 0 < resumed.throughput.n_requests <= fresh.throughput.n_requests - half.throughput.n_requests // 2


def test_two_runs_of_the_same_model_pass_the_gate_against_each_other(reference: tuple[GenerativeModel, Dataset]) -> None:
    model, dataset = reference
    name = model.name.removeprefix("ref:")
    again = _load(name)  # a second load: nothing shared with the first but the files
    try:
        first, second = _run(model, dataset, "closed_set"), _run(again, dataset, "closed_set")
    finally:
        again.close()
    baseline = parse_run(run_document([first]), "first run")
    verdict = judge_record(second, baseline, merge_layers(), 0.05, nodeid="a-a", require_baseline=True)
    assert verdict.status == "ok", verdict
    assert second.metrics == first.metrics
