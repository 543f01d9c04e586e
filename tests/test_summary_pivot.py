"""The class-count pivot of the terminal summary: a pure function of records, then through pytest."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest

from helpers import make_record, toy_conftest
from pytest_vlmbench.record import Record
from pytest_vlmbench.session.pivot import Cell, class_count_pivots, pivot_lines

pytest_plugins = ["pytester"]


def rec(model: str, strategy: str, n: int, accuracy: float, macro_f1: float, seed: int = 0, dataset: str = "caltech256") -> Record:
    record = make_record(["a", "b"], ["a", "b"], model=model, strategy=strategy, seed=seed, dataset=dataset,
                         extra_config={"num_classes": n})  # fmt: skip
    return replace(record, metrics=replace(record.metrics, accuracy=accuracy, macro_f1=macro_f1))


def test_no_pivot_without_two_class_counts() -> None:
    one_count = [rec("m", "closed_set", 10, 0.5, 0.4, seed=s) for s in (0, 1)] + [rec("n", "binary", 10, 0.6, 0.5)]
    assert class_count_pivots(one_count) == [] and pivot_lines(one_count) == []


def test_rows_are_model_and_strategy_columns_class_counts_cells_the_metric() -> None:
    records = [
        rec("qwen", "closed_set", 50, 0.70, 0.60),
        rec("qwen", "closed_set", 10, 0.90, 0.85),
        rec("qwen", "binary", 10, 0.80, 0.75),
        rec("qwen", "binary", 50, 0.50, 0.45),
        rec("clip", "direct", 10, 0.95, 0.94),  # run at one count only: a row with a gap
    ]
    accuracy, macro_f1 = class_count_pivots(records)
    assert accuracy.metric == "accuracy" and macro_f1.metric == "macro_f1"
    assert accuracy.class_counts == (10, 50)
    assert [(key[0], key[2]) for key, _ in accuracy.rows] == [("qwen", "closed_set"), ("qwen", "binary"), ("clip", "direct")]
    assert [[c.mean if c else None for c in cells] for _, cells in accuracy.rows] == [[0.9, 0.7], [0.8, 0.5], [0.95, None]]
    assert [[c.mean if c else None for c in cells] for _, cells in macro_f1.rows] == [[0.85, 0.6], [0.75, 0.45], [0.94, None]]
    assert accuracy.lines() == [
        "accuracy by number of classes:",
        "model  strategy    10 cls  50 cls",
        "-----  ----------  ------  ------",
        "qwen   closed_set   0.900   0.700",
        "qwen   binary       0.800   0.500",
        "clip   direct       0.950       -",
    ]
    lines = pivot_lines(records)
    assert lines[0] == "" and lines[1] == "accuracy by number of classes:"
    assert "macro-F1 by number of classes:" in lines and lines.index("macro-F1 by number of classes:") > 6


def test_seeds_give_mean_and_sample_std_in_each_cell() -> None:
    values = {0: 0.6, 1: 0.7, 2: 0.8}
    records = [rec("qwen", "closed_set", n, acc - (n == 25) * 0.1, 0.5, seed=s) for n in (10, 25) for s, acc in values.items()]
    [accuracy, _] = class_count_pivots(records)
    [(_, (ten, twenty_five))] = accuracy.rows
    assert ten is not None and twenty_five is not None
    assert ten.values == (0.6, 0.7, 0.8) and ten.mean == pytest.approx(0.7)
    assert ten.std == pytest.approx(statistics.stdev([0.6, 0.7, 0.8]))
    assert ten.text() == "0.700 ± 0.100" and twenty_five.text() == "0.600 ± 0.100"
    assert accuracy.lines()[0] == "accuracy by number of classes (mean ± std over seeds 0,1,2):"
    assert Cell((0.5,)).text() == "0.500" and Cell((0.5,)).std is None


def test_a_dataset_column_appears_when_the_run_has_several_datasets() -> None:
    records = [rec("qwen", "closed_set", n, 0.5, 0.5, dataset=d) for d in ("caltech256", "cifar100") for n in (10, 20)]
    [accuracy, _] = class_count_pivots(records)
    assert accuracy.lines()[1].split() == ["model", "dataset", "strategy", "10", "cls", "20", "cls"]
    assert [line.split()[:3] for line in accuracy.lines()[3:]] == [["qwen", "caltech256", "closed_set"], ["qwen", "cifar100", "closed_set"]]


# -- through pytest ----------------------------------------------------------------------------

CONFTEST = toy_conftest(n=16, classes=("cat", "dog", "bird", "fish"), extra="""
def first_listed(request):
    return request.prompt.split("Choose one from ", 1)[1].split(",")[0]

MODELS.register("oracle", scripted_spec("oracle", oracle, modalities=frozenset({"text"})), replace=True)
MODELS.register("first-listed", scripted_spec("first-listed", first_listed, modalities=frozenset({"text"})), replace=True)
""")

SUITE = '''
import pytest
pytestmark = pytest.mark.vlmbench(datasets=["toy"], strategies=["closed_set"])

def test_toy(vlmbench):
    vlmbench.run()
'''


def test_a_sweep_prints_the_models_by_class_counts_table(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    args = ("--model", "oracle,first-listed", "--permutations", "1", "-p", "no:benchmark", "--vlmbench-cache", "off")
    result = pytester.runpytest(*args, "--num-classes", "2,4", "--seed", "0,1")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines([
        "accuracy by number of classes (mean ± std over seeds 0,1):",
        "model         strategy            2 cls          4 cls",
        "*",
        "oracle        closed_set  1.000 ± 0.000  1.000 ± 0.000",
        "first-listed  closed_set  0.* ± 0.*  0.* ± 0.*",
        "",
        "macro-F1 by number of classes (mean ± std over seeds 0,1):",
    ])  # fmt: skip
    single = pytester.runpytest(*args, "--num-classes", "4")  # one count: no pivot
    single.assert_outcomes(passed=2)
    assert "by number of classes" not in single.stdout.str()
