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
            # two tests in the run's family: p <= 0.05 / 2 fails at once under Holm
            "accuracy 1.000 -> 0.750 (-0.250 > 0.02, p=3.1e-05 <= 0.025: significant after the correction, whatever the other items show)",
            "macro_f1 1.000 -> 0.*(-0.2* > 0.05, p=* <= 0.025: *)",
            "15 items right -> wrong (first: t0, t2, t4, t6, t8, ...), 0 wrong -> right; save the run*",
            "REGRESSED test_suite.py::test_toy[planted-toy-closed_set]:",
            "    accuracy 1.000 -> 0.750 (-0.250 > 0.02, p=3.1e-05, holm-adjusted 6.1e-05)",
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
        (["--vlmbench-correction", "holm"], "ERROR: --vlmbench-correction needs a baseline: add --vlmbench-baseline PATH or --benchmark-compare."),
        (["--vlmbench-baseline", "base.json", "--vlmbench-correction", "fdr"], "ERROR: --vlmbench-correction must be one of holm, bh, none, got 'fdr'."),
        (["--vlmbench-min", "accuracy:x"], "ERROR: --vlmbench-min 'accuracy:x': the value must be a number like 0.9, not 'x'."),
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


def test_a_regression_decided_when_the_run_ends_fails_the_run_and_is_rerun_by_lf(project: pytest.Pytester) -> None:
    # A second item without a baseline record: two items could have been compared, so an item
    # fails at once only with p <= 0.05 / 2. Five planted errors give p = 0.031: decided at the
    # end, where only one item was compared (Holm over one test: p itself).
    project.makepyfile(test_binary=SUITE.replace('"closed_set"', '"binary"'))
    plant(project, 0, 2, 4, 6, 8)
    result = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-json", "run.json")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "correction: Holm (family-wise error) over 1 test",
            "REGRESSED after the correction (the item had passed) test_suite.py::test_toy[planted-toy-closed_set]:",
            "    accuracy 1.000 -> 0.917 (-0.083 > 0, p=0.031)",
            "    5 items right -> wrong (first: t0, t2, t4, t6, t8), 0 wrong -> right; all of them: vlmbench diff base.json run.json 'test_toy[planted-toy-closed_set]'",
            "no baseline test_binary.py::*",
            "1 item(s) regressed after the correction: the run fails (exit status 1).",
        ]
    )
    rerun = project.runpytest("--lf", "--vlmbench-baseline", "base.json")
    rerun.stdout.fnmatch_lines(["*run-last-failure: rerun previous 1 failure*"])
    # --vlmbench-correction none: each item at its own alpha, so the same drop fails at once
    alone = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-correction", "none")
    alone.assert_outcomes(passed=1, failed=1)
    alone.stdout.fnmatch_lines(["correction: none (each item at its own alpha)"])


def test_floors_fail_an_item_without_any_baseline(project: pytest.Pytester) -> None:
    plant(project, *range(0, 30, 2))  # accuracy 0.750
    result = project.runpytest("--vlmbench-min", "accuracy:0.9", "--vlmbench-min", "invalid_rate:0")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "accuracy 0.750 < floor 0.9 (--vlmbench-min accuracy:0.9)",
            "*vlmbench gate*",
            "no baseline: floors (--vlmbench-min) only",
            "BELOW FLOOR test_suite.py::test_toy[planted-toy-closed_set]:",
        ]
    )
    project.runpytest("--vlmbench-min", "accuracy:0.7").assert_outcomes(passed=1)
    # the marker sits between the ini and the flag
    project.makeini("[pytest]\nvlmbench_min = accuracy:0.7\n")
    project.makepyfile(test_suite=SUITE.replace("def test_toy", "@pytest.mark.vlmbench_gate(min=['accuracy:0.8'])\ndef test_toy"))
    project.runpytest().assert_outcomes(failed=1)
    project.runpytest("--vlmbench-min", "accuracy:0.6").assert_outcomes(passed=1)


def test_a_marker_takes_its_item_out_of_the_family_but_cannot_change_the_method(project: pytest.Pytester) -> None:
    project.makepyfile(test_binary=SUITE.replace('"closed_set"', '"binary"'))
    plant(project, 0, 2, 4, 6, 8)
    project.makepyfile(test_suite=SUITE.replace("def test_toy", "@pytest.mark.vlmbench_gate(correction='none')\ndef test_toy"))
    project.runpytest("--vlmbench-baseline", "base.json").assert_outcomes(passed=1, failed=1)  # p = 0.031 <= 0.05 alone
    project.makepyfile(test_suite=SUITE.replace("def test_toy", "@pytest.mark.vlmbench_gate(correction='bh')\ndef test_toy"))
    result = project.runpytest("--vlmbench-baseline", "base.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: test_suite.py::test_toy*: the correction is run-wide (holm, *); a marker can only take its item out of the family, with correction='none'."])


def test_a_calibration_file_stands_in_for_the_ini_thresholds_and_alpha(project: pytest.Pytester) -> None:
    plant(project, *range(0, 30, 2))  # accuracy 1.000 -> 0.750: fails under the default accuracy:0
    project.path.joinpath("gate.ini").write_text("[pytest]\nvlmbench_fail_on =\n    accuracy:0.5\nvlmbench_alpha = 0.01\n")
    project.makeini("[pytest]\nvlmbench_fail_on = accuracy:0\n")  # replaced by the file's
    project.runpytest("--vlmbench-baseline", "base.json").assert_outcomes(failed=1)
    calibrated = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-calibration", "gate.ini")
    calibrated.assert_outcomes(passed=1)  # a 0.25 drop is within the file's 0.5
    # the flag still wins over the file, per metric
    project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-calibration", "gate.ini",
                      "--vlmbench-fail-on", "accuracy:0.1").assert_outcomes(failed=1)  # fmt: skip
    missing = project.runpytest("--vlmbench-baseline", "base.json", "--vlmbench-calibration", "nope.ini")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.no_fnmatch_line("*Traceback*")
