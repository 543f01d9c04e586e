"""The regression gate inside pytest, through pytester, with a scripted model (no torch).

The scripted model answers a toy text dataset correctly except for the item numbers listed
in ``wrong.txt``, so each test plants exactly the drop it needs between a baseline run and
a later run.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import toy_conftest

pytest_plugins = ["pytester"]

N_ITEMS = 60

CONFTEST = toy_conftest('MODELS.register("planted", scripted_spec("planted", planted, modalities=frozenset({"text"})), replace=True)\n', n=N_ITEMS)

SUITE = """
import pytest
pytestmark = pytest.mark.vlmbench(datasets=["toy"], models=["planted"], strategies=["closed_set"])

def test_toy(vlmbench):
    vlmbench.run()
"""


def plant(pytester: pytest.Pytester, *item_numbers: int) -> None:
    pytester.path.joinpath("wrong.txt").write_text(" ".join(str(k) for k in item_numbers))


@pytest.fixture(scope="module")
def all_right_baseline(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``base.json`` of a run in which the model answered everything right, made once for the module.

    Every test starts from the same file, whichever runs first; it is made in a pytest of
    its own (pytester is per test), in a folder of its own.
    """
    folder = tmp_path_factory.mktemp("all-right-baseline")
    folder.joinpath("conftest.py").write_text(CONFTEST)
    folder.joinpath("test_suite.py").write_text(SUITE)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "--vlmbench-json", "base.json"],
        cwd=folder, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and "1 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    return folder.joinpath("base.json").read_text()


@pytest.fixture
def project(pytester: pytest.Pytester, all_right_baseline: str) -> pytest.Pytester:
    """A suite with a baseline (``base.json``) in which the model answered everything right."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    plant(pytester)
    pytester.path.joinpath("base.json").write_text(all_right_baseline)
    return pytester


def test_unchanged_rerun_passes(project: pytest.Pytester) -> None:
    result = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-fail-on", "accuracy:0.02")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*vlmbench gate*", "baseline: 'base.json' (from --vlmbench-baseline)", "1 compared: 1 ok"])
    assert result.ret == 0


def test_significant_drop_fails_the_item_with_one_line_per_metric(project: pytest.Pytester) -> None:
    plant(project, *range(0, 30, 2))  # 15 of 60 items now wrong: accuracy 1.000 -> 0.750
    result = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-fail-on", "accuracy:0.02,macro_f1:0.05")
    result.assert_outcomes(failed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "*accuracy 1.000 -> 0.750 (-0.250 > 0.02, p=3.1e-05)",
            "*macro_f1 1.000 -> 0.*(-0.2* > 0.05, p=*)",
            "REGRESSED test_suite.py::test_toy[planted-toy-closed_set]:",
            "*1 failed*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    # --lf reruns exactly the regressed case.
    rerun = project.runpytest("--lf", "--vlmbench-baseline", "base.json")
    rerun.stdout.fnmatch_lines(["*run-last-failure: rerun previous 1 failure*"])


def test_drop_that_is_not_significant_passes_and_is_said(project: pytest.Pytester) -> None:
    plant(project, *range(10))  # this test's baseline: items 0-9 wrong
    project.runpytest("--vlmbench-json", "base.json").assert_outcomes(passed=1)
    plant(project, *range(4, 18))  # 0-3 fixed, 10-17 broken: 8 against 4 changed items, p = 0.19
    result = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-fail-on", "accuracy:0.02")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["note test_suite.py::test_toy*", "*accuracy 0.833 -> 0.767 (-0.067 > 0.02, p=0.194 > alpha 0.05: not significant)"]
    )


def test_too_few_items_to_decide_passes_and_is_said(project: pytest.Pytester) -> None:
    plant(project, 1, 2, 3)
    result = project.runpytest("--vlmbench-baseline", "base.json")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*accuracy 1.000 -> 0.950 (-0.050 > 0, too few changed items to decide: 3 changed, 5 needed at alpha 0.05)"])


def test_missing_baseline_entry_is_reported_and_passes_unless_required(project: pytest.Pytester) -> None:
    result = project.runpytest("--vlmbench-baseline", "base.json", "--seed", "3")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["no baseline test_suite.py::test_toy*: planted toy closed_set is not in the baseline"])
    strict = project.runpytest("--vlmbench-baseline", "base.json", "--seed", "3", "--vlmbench-require-baseline")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*no baseline record for planted toy closed_set (with this config) in 'base.json'"])


def test_marker_thresholds_sit_between_ini_and_cli(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\nvlmbench_fail_on = accuracy:0.01\n")
    project.makepyfile(
        test_suite=SUITE.replace(
            "def test_toy", "@pytest.mark.vlmbench_gate(fail_on=['accuracy:0.5'], alpha=0.01)\ndef test_toy"
        )
    )
    plant(project, *range(0, 30, 2))
    project.runpytest("--vlmbench-baseline", "base.json").assert_outcomes(passed=1)  # marker beats ini
    cli = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-fail-on", "accuracy:0.1")
    cli.assert_outcomes(failed=1)  # CLI beats marker
    cli.stdout.fnmatch_lines(["*accuracy 1.000 -> 0.750 (-0.250 > 0.1, p=*)"])


@pytest.mark.slow  # pytest-benchmark's compare in a subprocess
def test_baseline_from_benchmark_compare(project: pytest.Pytester) -> None:
    project.runpytest("--benchmark-autosave").assert_outcomes(passed=1)
    plant(project, *range(0, 30, 2))
    result = project.runpytest("--benchmark-compare")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["baseline: *0001_*.json* (*from --benchmark-compare)", "REGRESSED*"])
    # The saved file, records and all, stays readable by pytest-benchmark's own compare.
    (saved,) = project.path.glob(".benchmarks/*/0001_*.json")
    compare = subprocess.run(
        [sys.executable, "-m", "pytest_benchmark", "compare", str(saved)], capture_output=True, text=True, check=False
    )
    assert compare.returncode == 0 and "test_toy[planted-toy-closed_set]" in compare.stdout, compare.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vlmbench-baseline", "nope.json"], "ERROR: --vlmbench-baseline: File 'nope.json' does not exist."),
        (["--vlmbench-baseline", "conftest.py"], "ERROR: --vlmbench-baseline: 'conftest.py' is not JSON (*)."),
        (["--vlmbench-baseline", "base.json", "--vlmbench-fail-on", "accuracy:abc"], "ERROR: --vlmbench-fail-on 'accuracy:abc': the limit must be*"),
        (["--vlmbench-baseline", "base.json", "--vlmbench-fail-on", "acuracy:0.1"], "ERROR: Unknown metric 'acuracy' in --vlmbench-fail-on; did you mean 'accuracy'?*"),
        (["--vlmbench-fail-on", "accuracy:0.1"], "ERROR: --vlmbench-fail-on needs a baseline: add --vlmbench-baseline PATH or --benchmark-compare."),
        (["--vlmbench-baseline", "base.json", "--vlmbench-alpha", "5"], "ERROR: --vlmbench-alpha must be between 0 and 1*"),
        (["--benchmark-compare"], "ERROR: --benchmark-compare: there is no saved run in * to compare with."),
    ],
)  # fmt: skip
@pytest.mark.filterwarnings("ignore:Can't compare")  # pytest-benchmark's own warning for the last case
def test_bad_gate_input_is_a_usage_error(project: pytest.Pytester, args: list[str], message: str) -> None:
    result = project.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    result.stderr.no_fnmatch_line("*Traceback*")


def test_baseline_of_another_schema_or_gpu(project: pytest.Pytester) -> None:
    doc = json.loads(project.path.joinpath("base.json").read_text())
    doc["vlmbench"]["schema"] = 3
    project.path.joinpath("v3.json").write_text(json.dumps(doc))
    result = project.runpytest("--vlmbench-baseline", "v3.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --vlmbench-baseline: 'v3.json' holds vlmbench schema 3 results*"])

    doc["vlmbench"]["schema"] = 1
    doc["benchmarks"][0]["extra_info"]["vlmbench"]["model_info"] = {"device": "cuda:0", "gpu_name": "NVIDIA A100"}
    project.path.joinpath("gpu.json").write_text(json.dumps(doc))
    result = project.runpytest("--vlmbench-baseline", "gpu.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*not compared with the baseline: the baseline was measured on NVIDIA A100 but this run on cpu*"])


def test_bad_marker_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile(test_suite=SUITE.replace("def test_toy", "@pytest.mark.vlmbench_gate(fail_on=['accuracy:x'])\ndef test_toy"))
    result = project.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: test_suite.py::test_toy*: @pytest.mark.vlmbench_gate 'accuracy:x': the limit must be*"])


@pytest.mark.slow  # xdist workers
def test_verdicts_reach_the_summary_under_xdist(project: pytest.Pytester) -> None:
    plant(project, *range(0, 30, 2))
    result = project.runpytest("-n", "2", "--vlmbench-baseline", "base.json")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["1 compared: 1 regressed", "REGRESSED test_suite.py::test_toy*", "*accuracy 1.000 -> 0.750*"])


def test_a_hand_edited_baseline_is_refused_in_one_sentence(project: pytest.Pytester) -> None:
    doc = json.loads(project.path.joinpath("base.json").read_text())
    doc["benchmarks"][0]["extra_info"]["vlmbench"]["metrics"]["accuracy"] = 0.7  # its predictions give 1.0
    project.path.joinpath("edited.json").write_text(json.dumps(doc))
    result = project.runpytest("--vlmbench-baseline", "edited.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --vlmbench-baseline: 'edited.json' (planted toy closed_set): metrics.accuracy is 0.7 but its "
            "predictions give 1; the file was edited or is corrupt, so re-create it."
        ]
    )
    result.stderr.no_fnmatch_line("*Traceback*")
    project.runpytest("--vlmbench-baseline", "base.json").assert_outcomes(passed=1)  # the real file is read
