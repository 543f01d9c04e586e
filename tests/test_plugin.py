"""The plugin through pytester, with scripted models (no torch) on a tiny text dataset."""

from __future__ import annotations

import json
import math
import platform
from importlib import metadata
from typing import Any

import pytest
from helpers import toy_conftest

pytest_plugins = ["pytester"]

CONFTEST = toy_conftest(n=9, extra=r'''
import os

EVENTS = os.environ.get("EVENTS_FILE", "events.txt")

def logged(name, responder):
    spec = scripted_spec(name, responder, modalities=frozenset({"text"}))
    inner = spec.factory
    def factory(source, spec, options):
        with open(EVENTS, "a") as fh:
            fh.write(f"load {name}\n")
        model = inner(source, spec, options)
        close = model.close
        def logged_close():
            with open(EVENTS, "a") as fh:
                fh.write(f"close {name}\n")
            close()
        model.close = logged_close
        return model
    return spec.__class__(**{**spec.__dict__, "factory": factory})

MODELS.register("oracle", logged("oracle", oracle), replace=True)

def first_listed(request):
    # Positional bias: always picks the first class offered, so accuracy depends on the seed.
    return request.prompt.split("Choose one from ", 1)[1].split(",")[0] if "Choose one" in request.prompt else "no"

MODELS.register("first-listed", scripted_spec("first-listed", first_listed, modalities=frozenset({"text"})), replace=True)
MODELS.register("gibberish", logged("gibberish", lambda r: "purple monkey dishwasher"), replace=True)

class Short(ScriptedModel):
    def generate(self, requests):
        return super().generate(requests)[:-1]  # breaks the contract: one answer too few

def short_factory(source, spec, options):
    return Short(spec.name, oracle)

MODELS.register("short", scripted_spec("short", oracle, modalities=frozenset({"text"})).__class__(
    name="short", source="x", family="scripted", factory=short_factory, modalities=frozenset({"text"})), replace=True)

def broken(source, spec, options):
    raise OSError("weights file is truncated")

MODELS.register("broken", scripted_spec("broken", oracle, modalities=frozenset({"text"})).__class__(
    name="broken", source="nowhere", family="scripted", factory=broken, modalities=frozenset({"text"})), replace=True)
''')

SUITE = '''
import pytest
pytestmark = pytest.mark.vlmbench(datasets=["toy"], models=["oracle"])

def test_toy(vlmbench):
    record = vlmbench.run()
    assert record.n_items > 0
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


# The suite above, plus one line per item in the events file, written once the item has run.
LOGGING_SUITE = '''
import os
import pytest
pytestmark = pytest.mark.vlmbench(datasets=["toy"], models=["oracle"])

def test_toy(vlmbench):
    record = vlmbench.run()
    with open(os.environ.get("EVENTS_FILE", "events.txt"), "a") as fh:
        fh.write(f"item {record.model} {record.strategy}\\n")
'''


def no_nan(text: str) -> dict[str, Any]:
    def reject(const: str) -> float:
        raise AssertionError(f"non-JSON constant {const} in output")

    data: dict[str, Any] = json.loads(text, parse_constant=reject)
    return data


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*vlmbench*", "*--model=NAME*", "*--strategy=NAME*", "*--limit=N*", "*--device=DEV*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "qwen2-lv"], "*Unknown model 'qwen2-lv'. Did you mean 'qwen2-vl'?*"),
        (["--model", "oracle,nope"], "*Unknown model 'nope'.*Known models:*oracle*"),
        (["--dataset", "fashion-mnst"], "*Unknown dataset 'fashion-mnst'. Did you mean 'fashion_mnist'?*"),
        (["--strategy", "closedset"], "*Unknown strategy 'closedset'. Did you mean 'closed_set'?*"),
        (["--limit", "0"], "*--limit must be a positive whole number, got 0.*"),
        (["--limit", "-3"], "*--limit must be a positive whole number, got -3.*"),
        (["--batch-size", "0"], "*--batch-size must be a positive whole number*"),
        (["--device", "gpu"], "*--device must be auto, cpu, mps, cuda or cuda:N, got 'gpu'.*"),
        (["--dtype", "int3"], "*--dtype must be one of auto, bfloat16, float16, float32*"),
        (["--label-map", "LABEL_0=sport,tech"], "*--label-map takes LABEL=CLASS pairs separated by commas, got 'tech'.*"),
        (["--answer-style", "yaml"], "*--answer-style must be one of plain, json, got 'yaml'.*"),
        (["--max-new-tokens", "0"], "*--max-new-tokens must be a positive whole number, got 0.*"),
        (["--seed", "1,x"], "*--seed takes whole numbers of zero or more (e.g. --seed 0,1,2), got 'x'.*"),
        (["--seed", "-1"], "*--seed takes whole numbers of zero or more*"),
    ],
)
def test_bad_options_are_usage_errors(suite: pytest.Pytester, args: list[str], message: str) -> None:
    result = suite.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_cuda_without_cuda_is_a_usage_error(suite: pytest.Pytester) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = suite.runpytest("--device", "cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--device cuda was given, but torch sees no CUDA device; use --device cpu or auto.*"])


def test_items_ids_and_selection(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_suite.py::test_toy[oracle-toy-closed_set]", "test_suite.py::test_toy[oracle-toy-binary]"])
    result = suite.runpytest("--collect-only", "-q", "--model", "gibberish,oracle", "--strategy", "yes-no")
    result.stdout.fnmatch_lines(["test_suite.py::test_toy[gibberish-toy-binary]", "test_suite.py::test_toy[oracle-toy-binary]", "2 tests collected*"])
    assert not (suite.path / "events.txt").exists()  # collection loads nothing


def test_one_load_per_model_released_before_the_next(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_suite=LOGGING_SUITE)
    result = suite.runpytest("--model", "oracle", "--model", "gibberish", "--benchmark-json", "bench.json", "-v")
    result.assert_outcomes(passed=4)
    # In the order things happened: each model is loaded, runs all of its items, and is closed
    # before the next model loads; the items of one model run together, never interleaved.
    events = (suite.path / "events.txt").read_text().splitlines()
    assert [" ".join(event.split()[:2]) for event in events] == [
        "load oracle", "item oracle", "item oracle", "close oracle",
        "load gibberish", "item gibberish", "item gibberish", "close gibberish",
    ]  # fmt: skip
    for model in ("oracle", "gibberish"):
        assert sorted(e.split()[2] for e in events if e.startswith(f"item {model} ")) == ["binary", "closed_set"]
    data = no_nan((suite.path / "bench.json").read_text())
    # The benchmarks are listed in the order they ran, so one model's are also together there.
    ran = [(b["extra_info"]["vlmbench"]["model"], b["extra_info"]["vlmbench"]["strategy"]) for b in data["benchmarks"]]
    assert [f"item {model} {strategy}" for model, strategy in ran] == [e for e in events if e.startswith("item ")]
    # One load per model; its time is the model_load_s of every record of that model.
    models = data["vlmbench"]["models"]
    assert set(models) == {"oracle", "gibberish"}
    for model, entry in models.items():
        load_times = {b["extra_info"]["vlmbench"]["throughput"]["model_load_s"] for b in data["benchmarks"] if b["extra_info"]["vlmbench"]["model"] == model}
        assert entry["loads"] == 1 and len(entry["load_s"]) == 1, (model, entry)
        assert load_times == set(entry["load_s"]), (model, entry, load_times)
        assert entry["load_s"][0] > 0


def test_json_contents(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--benchmark-json", "bench.json", "--seed", "7", "--permutations", "5")
    result.assert_outcomes(passed=2)
    data = no_nan((suite.path / "bench.json").read_text())
    assert data["vlmbench"]["schema"] == 2
    assert data["vlmbench"]["options"]["seeds"] == [7]
    by_strategy = {b["extra_info"]["vlmbench"]["strategy"]: b["extra_info"]["vlmbench"] for b in data["benchmarks"]}
    closed = by_strategy["closed_set"]
    assert closed["model"] == "oracle" and closed["dataset"] == "toy"
    assert closed["n_items"] == 9 and closed["classes"] == ["cat", "dog", "bird"]
    assert closed["config"]["seed"] == 7 and closed["config"]["permutations"] == 5
    assert "{classes}" in closed["config"]["prompt_template"]
    # Python's version, then every result-shaping library that is installed, as installed.
    expected_versions = {"python": platform.python_version()}
    for dist in ("pytest-vlmbench", "torch", "transformers", "scikit-learn", "pillow", "datasets"):
        try:
            expected_versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    assert {"pytest-vlmbench", "torch", "transformers"} <= set(expected_versions)  # conftest imports them
    assert closed["config"]["versions"] == expected_versions
    assert closed["metrics"] == {
        "accuracy": 1.0, "macro_precision": 1.0, "macro_recall": 1.0, "macro_f1": 1.0,
        "weighted_precision": 1.0, "weighted_recall": 1.0, "weighted_f1": 1.0, "invalid_rate": 0.0,
    }  # fmt: skip
    assert closed["per_class"]["cat"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3}
    assert closed["confusion"]["columns"] == ["cat", "dog", "bird", "invalid"]
    assert closed["confusion"]["matrix"] == [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]]
    assert set(closed["throughput"]) >= {"items_per_s", "batch_latency_ms", "model_load_s"}
    assert closed["throughput"]["items_per_s"] > 0
    assert set(closed["throughput"]["batch_latency_ms"]) == {"mean", "p50", "p90", "p99", "max"}
    assert closed["memory"]["peak_rss_mb"] > 0
    preds = closed["predictions"]
    assert len(preds) == 9 and all(p["correct"] for p in preds)
    assert {"id", "label", "prediction", "correct", "answers", "orders"} <= set(preds[0])
    assert len(preds[0]["orders"]) == 5  # the permutations are recorded
    binary = by_strategy["binary"]
    assert binary["metrics"]["accuracy"] == 1.0
    assert all(len(p["questions"]) <= 2 for p in binary["predictions"])


def test_gibberish_is_invalid_not_an_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--model", "gibberish", "--strategy", "closed_set", "--vlmbench-json", "out.json")
    result.assert_outcomes(passed=1)
    record = no_nan((suite.path / "out.json").read_text())["benchmarks"][0]["extra_info"]["vlmbench"]
    assert record["metrics"]["invalid_rate"] == 1.0
    assert record["metrics"]["accuracy"] == 0.0
    assert all(p["prediction"] is None for p in record["predictions"])
    result.stdout.fnmatch_lines(["*vlmbench results*", "*gibberish-toy-closed_set*9*0.000*1.000*"])


def test_a_model_that_cannot_load_fails_its_items_only(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--model", "broken,oracle", "--strategy", "closed_set")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Model 'broken' could not be loaded: OSError: weights file is truncated*"])
    assert "Traceback" not in result.stdout.str()


def test_runs_without_pytest_benchmark(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "no:benchmark", "--vlmbench-json", "out.json")
    result.assert_outcomes(passed=2)
    data = no_nan((suite.path / "out.json").read_text())
    assert len(data["benchmarks"]) == 2
    assert data["vlmbench"]["models"]["oracle"]["loads"] == 1


@pytest.mark.slow  # xdist workers
def test_records_ride_on_reports_under_xdist(suite: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    result = suite.runpytest("-n", "2", "--model", "oracle,gibberish", "--vlmbench-json", "out.json")
    result.assert_outcomes(passed=4)
    data = no_nan((suite.path / "out.json").read_text())
    assert sorted(b["name"] for b in data["benchmarks"]) == sorted(
        f"test_toy[{m}-toy-{s}]" for m in ("oracle", "gibberish") for s in ("closed_set", "binary")
    )
    assert all(b["extra_info"]["vlmbench"]["n_items"] == 9 for b in data["benchmarks"])


def test_limit_caps_items(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--limit", "4", "--vlmbench-json", "out.json")
    result.assert_outcomes(passed=2)
    data = no_nan((suite.path / "out.json").read_text())
    assert {b["extra_info"]["vlmbench"]["n_items"] for b in data["benchmarks"]} == {4}
    assert not math.isnan(data["benchmarks"][0]["extra_info"]["vlmbench"]["metrics"]["accuracy"])


def test_evaluated_hook_can_fail_an_item(suite: pytest.Pytester) -> None:
    suite.makeconftest(
        CONFTEST
        + '''
import pytest
def pytest_vlmbench_evaluated(item, record):
    if record.metrics.invalid_rate > 0.5:
        pytest.fail(f"{record.model} answered off-list too often", pytrace=False)
'''
    )
    result = suite.runpytest("--model", "gibberish,oracle", "--strategy", "closed_set")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*gibberish answered off-list too often*"])


def test_a_marker_ceiling_on_invalid_answers_fails_the_items_over_it_in_one_sentence(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_suite="import pytest\npytestmark = pytest.mark.vlmbench(datasets=['toy'], strategies=['closed_set', 'binary'], "
        "max_invalid_rate={'closed_set': 0.0})\ndef test_toy(vlmbench):\n    vlmbench.run()\n"
    )
    result = pytester.runpytest("--model", "gibberish,oracle", "--vlmbench-json", "out.json", "-p", "no:benchmark")
    # gibberish's closed_set item is over its ceiling; its binary item has none (the gate judges it); oracle answers all
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "*gibberish on toy (closed_set) gave invalid answers for 100.0% of the items, over the suite's max_invalid_rate of 0.0%.",
    ])  # fmt: skip
    assert "Traceback" not in result.stdout.str()
    records = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    assert len(records) == 4  # the failed item's record is saved all the same


def test_several_seeds_give_one_item_each_and_a_spread(suite: pytest.Pytester) -> None:
    result = suite.runpytest(
        "--model", "first-listed", "--strategy", "closed_set", "--seed", "0,1", "--seed", "2",
        "--permutations", "1", "--vlmbench-json", "out.json", "--collect-only", "-q",
    )  # fmt: skip
    result.stdout.fnmatch_lines([f"test_suite.py::test_toy[[]first-listed-toy-closed_set-seed{s}[]]" for s in (0, 1, 2)])
    result = suite.runpytest("--model", "first-listed", "--strategy", "closed_set", "--seed", "0,1,2", "--permutations", "1", "--vlmbench-json", "out.json")
    result.assert_outcomes(passed=3)
    data = no_nan((suite.path / "out.json").read_text())
    accuracies = [b["extra_info"]["vlmbench"]["metrics"]["accuracy"] for b in data["benchmarks"]]
    assert [b["extra_info"]["vlmbench"]["config"]["seed"] for b in data["benchmarks"]] == [0, 1, 2]
    [spread] = data["vlmbench"]["seed_spread"]
    assert spread["case"] == "first-listed-toy-closed_set" and spread["seeds"] == [0, 1, 2]
    import statistics

    assert spread["metrics"]["accuracy"]["mean"] == pytest.approx(statistics.fmean(accuracies))
    assert spread["metrics"]["accuracy"]["std"] == pytest.approx(statistics.stdev(accuracies))
    assert len(set(accuracies)) > 1  # the seed changes the class orders, so this biased model's score
    result.stdout.fnmatch_lines(["first-listed-toy-closed_set-seed1 *", "*spread over seeds:*", "*first-listed-toy-closed_set*0,1,2*±*"])
    assert data["vlmbench"]["models"]["first-listed"]["loads"] == 1  # seeds share one load


def test_an_adapter_breaking_its_contract_fails_its_item_in_one_sentence(suite: pytest.Pytester) -> None:
    result = suite.runpytest("--model", "short,oracle", "--strategy", "closed_set")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Model 'short' returned 7 results for 8 requests; an adapter's generate() must return one answer per request, in order.*"])
    assert "Traceback" not in result.stdout.str()


def test_k_shot_puts_held_out_exemplars_before_every_prompt(suite: pytest.Pytester) -> None:
    suite.makeconftest(
        CONFTEST
        + """
PROMPTS = []
_inner = oracle
def recording(request):
    PROMPTS.append(request.prompt)
    return _inner(request)
MODELS.register("recording", scripted_spec("recording", recording, modalities=frozenset({"text"})), replace=True)

def pytest_sessionfinish(session):
    import json
    with open("prompts.json", "w") as fh:
        json.dump(PROMPTS, fh)
"""
    )
    result = suite.runpytest("--model", "recording", "--strategy", "closed_set", "--k-shot-per-class", "1", "--permutations", "1", "--vlmbench-json", "out.json")
    result.assert_outcomes(passed=1)
    record = no_nan((suite.path / "out.json").read_text())["benchmarks"][0]["extra_info"]["vlmbench"]
    exemplar_ids = record["config"]["exemplar_ids"]
    assert len(exemplar_ids) == 3  # one per class
    assert record["n_items"] == 9 - 3  # held out of the evaluated split
    assert not set(exemplar_ids) & {p["id"] for p in record["predictions"]}
    prompts = json.loads((suite.path / "prompts.json").read_text())
    assert len(prompts) == 6
    for prompt in prompts:
        assert prompt.count("Class: ") == 3 and prompt.index("Class: ") < prompt.index("Choose one from")
    assert record["dataset_fingerprint"]["sha256"]


def test_image_k_shot_on_a_one_image_model_fails_its_items_in_one_sentence(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "from pytest_vlmbench.models.catalog import MODELS\n"
        "from pytest_vlmbench.models.scripted import scripted_spec\n"
        "MODELS.register('says-no', scripted_spec('says-no', lambda r: 'no'), replace=True)\n"
    )
    pytester.makepyfile(test_img="def test_img(vlmbench):\n    vlmbench.run()\n")
    result = pytester.runpytest("--model", "says-no", "--k-shot", "2", "--dataset", "digits", "--strategy", "binary", "--limit", "3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Model 'says-no' takes one image per prompt, so it cannot be shown 2 image exemplars; run it with --k-shot 0*"])
    assert "Traceback" not in result.stdout.str()
    result = pytester.runpytest("--k-shot", "-1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--k-shot must be zero (zero-shot) or a positive number of exemplars, got -1.*"])


def test_one_load_per_model_across_suite_files(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_other_suite=SUITE.replace("def test_toy", "def test_other"))
    result = suite.runpytest("--model", "oracle,gibberish", "--vlmbench-json", "out.json", "-p", "no:randomly")
    result.assert_outcomes(passed=8)
    events = (suite.path / "events.txt").read_text().split()
    assert events.count("load") == 2, events  # not once per file
    data = no_nan((suite.path / "out.json").read_text())
    assert {name: m["loads"] for name, m in data["vlmbench"]["models"].items()} == {"oracle": 1, "gibberish": 1}


def test_suites_take_only_datasets_of_their_modality(suite: pytest.Pytester) -> None:
    suite.makeconftest(
        CONFTEST
        + """
MODELS.register("both", scripted_spec("both", oracle, modalities=frozenset({"text", "image"})), replace=True)
"""
    )
    suite.makepyfile(
        test_images="import pytest\npytestmark = pytest.mark.vlmbench(modality='image')\ndef test_img(vlmbench):\n    vlmbench.run()\n",
        test_texts="import pytest\npytestmark = pytest.mark.vlmbench(modality='text')\ndef test_txt(vlmbench):\n    vlmbench.run()\n",
    )
    result = suite.runpytest("--model", "both", "--dataset", "toy,digits", "--strategy", "binary", "--collect-only", "-q")
    collected = {line for line in result.stdout.lines if "::" in line}
    assert collected == {
        "test_images.py::test_img[both-digits-binary]",
        "test_texts.py::test_txt[both-toy-binary]",
        # A suite that declares no modality takes both.
        "test_suite.py::test_toy[both-toy-binary]",
        "test_suite.py::test_toy[both-digits-binary]",
    }
    bad = suite.makepyfile(test_bad="import pytest\npytestmark = pytest.mark.vlmbench(modality='audio')\ndef test_b(vlmbench):\n    pass\n")
    result = suite.runpytest(str(bad), "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["test_bad.py::test_b: the vlmbench marker's modality must be 'image' or 'text', not 'audio'"])
    assert "Traceback" not in result.stdout.str() and "pluggy" not in result.stdout.str()


def test_marker_aliases_select_like_the_command_line(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(
        test_alias="import pytest\npytestmark = pytest.mark.vlmbench(models=['oracle'], datasets=['toy'], strategies='yes-no')\n"
        "def test_a(vlmbench):\n    pass\n",
        test_typo="import pytest\npytestmark = pytest.mark.vlmbench(models=['oracle'], datasets=['toy'], strategies=['binnary'])\n"
        "def test_t(vlmbench):\n    pass\n",
    )
    result = pytester.runpytest("test_alias.py", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_alias.py::test_a[[]oracle-toy-binary[]]", "1 test collected*"])
    result = pytester.runpytest("test_typo.py", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["test_typo.py::test_t: Unknown strategy 'binnary'. Did you mean 'binary'?*"])
