"""Comparing records and loading saved runs: verdicts, matching keys, bad input, properties."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench.gate.baseline import hardware, load_run, parse_run
from pytest_vlmbench.gate.compare import compare_records
from pytest_vlmbench.gate.metrics import METRICS, GateError
from helpers import make_record, run_document, with_predictions
from pytest_vlmbench.gate.thresholds import Threshold, merge_layers, parse_layer
from pytest_vlmbench.gate.verdict import Verdict, gate_report_lines, judge_record
from pytest_vlmbench.record import Label, Memory, ModelInfo, Record

CLASSES = ["cat", "dog", "bird", "fish"]


def sample(n: int = 400, acc: float = 0.85, seed: int = 0) -> Record:
    rng = random.Random(seed)
    labels = [rng.choice(CLASSES) for _ in range(n)]
    preds = [t if rng.random() < acc else rng.choice(CLASSES) for t in labels]
    return make_record(labels, preds, classes=CLASSES)


def break_items(record: Record, count: int, **changes: Any) -> Record:
    """A copy of ``record`` with ``count`` of its right answers made wrong."""
    preds = [p.prediction for p in record.predictions]
    done = 0
    for i, p in enumerate(record.predictions):
        if done < count and p.prediction == p.label:
            preds[i] = "dog" if p.label != "dog" else "cat"
            done += 1
    return with_predictions(record, preds, **changes)


def predictions(record: Record) -> list[Label | None]:
    return [p.prediction for p in record.predictions]


def copy(record: Record) -> Record:
    """The record as it comes back from a file."""
    return Record.from_json(json.loads(json.dumps(record.to_json())))


def gate(*texts: str) -> dict[str, Threshold]:
    return merge_layers(parse_layer(texts, "test"))


def test_unchanged_run_passes_and_a_significant_drop_regresses() -> None:
    base = sample()
    assert compare_records(base, base, gate("accuracy:0.02", "items_per_s:10%")).regressions == []
    worse = compare_records(base, break_items(base, 20), gate("accuracy:0.02"))
    (finding,) = worse.regressions
    assert finding.metric.name == "accuracy"
    line = finding.line()
    assert line.startswith(f"accuracy {base.metrics.accuracy:.3f} -> ")
    assert "(-0.050 > 0.02, p=" in line


def test_a_drop_past_the_threshold_but_not_significant_passes() -> None:
    base = sample(n=400)
    preds = predictions(base)
    # 30 items break and 22 others get fixed: accuracy -0.02, but 30 vs 22 is noise.
    broke = fixed = 0
    for i, p in enumerate(base.predictions):
        if p.prediction == p.label and broke < 30:
            preds[i] = "dog" if p.label != "dog" else "cat"
            broke += 1
        elif p.prediction != p.label and fixed < 22:
            preds[i] = p.label
            fixed += 1
    case = compare_records(base, with_predictions(base, preds), gate("accuracy:0.01"))
    (finding,) = case.findings
    assert finding.status == "not significant" and not case.regressions
    assert "> alpha 0.05: not significant" in finding.line()


def test_too_few_items_to_decide_is_said_not_hidden() -> None:
    base = make_record(["cat", "dog"] * 5, ["cat", "dog"] * 5, classes=CLASSES)
    worse = break_items(base, 3)  # accuracy 1.0 -> 0.7, but only 3 changed items
    (finding,) = compare_records(base, worse, gate("accuracy:0.02")).findings
    assert finding.status == "undecided"
    assert "too few changed items to decide: 3 changed, 5 needed at alpha 0.05" in finding.line()


def test_cost_metrics_gate_on_threshold_alone_in_their_direction() -> None:
    base = sample()
    slower = with_predictions(base, predictions(base), items_per_s=40.0, latency_ms=130.0)
    case = compare_records(base, slower, gate("items_per_s:10%", "latency_p50_ms:20%", "peak_memory_mb:5%"))
    assert [f.line() for f in case.regressions] == [
        "items_per_s 50.00 -> 40.00 (-20.0% > 10%)",
        "latency_p50_ms 100.00 -> 130.00 (+30.0% > 20%)",
    ]
    faster = compare_records(slower, base, gate("items_per_s:10%", "latency_p50_ms:20%"))
    assert [f.status for f in faster.findings] == ["improvement", "improvement"]


def test_batch_size_change_compares_quality_but_not_cost() -> None:
    base = sample()
    other = with_predictions(base, predictions(base), batch_size=32, items_per_s=5.0)
    assert base.match_key() == other.match_key()
    case = compare_records(base, other, gate("accuracy:0", "items_per_s:10%"))
    assert [f.metric.name for f in case.findings] == ["accuracy"]
    assert case.notes == ["batch size 8 -> 32: speed, memory and energy not compared"]


def test_other_hardware_or_changed_dataset_is_said_instead_of_compared() -> None:
    base = replace(sample(), model_info=ModelInfo(device="cuda:0", gpu_name="NVIDIA A100-SXM4-80GB"))
    other = replace(base, model_info=ModelInfo(device="cuda:0", gpu_name="NVIDIA H100 80GB HBM3"))
    case = compare_records(base, other, gate("accuracy:0"))
    assert case.problem_kind == "hardware" and "A100" in (case.problem or "") and not case.findings
    unnamed = replace(base, model_info=ModelInfo(device="cuda:0"))  # unknown GPU name never counts as different
    assert compare_records(base, unnamed, gate("accuracy:0")).problem is None
    cpu = replace(base, model_info=ModelInfo(device="cpu"))
    assert compare_records(base, cpu, gate("accuracy:0")).problem_kind == "hardware"
    fp_a = replace(base, dataset_fingerprint={"items_sha256": "aaaa", "sha256": "a"})
    fp_b = replace(base, dataset_fingerprint={"items_sha256": "bbbb", "sha256": "b"})
    changed = compare_records(fp_a, fp_b, gate("accuracy:0"))
    assert changed.problem_kind == "dataset" and "dataset changed" in (changed.problem or "")


def test_dataset_fingerprints_compare_content_not_paths() -> None:
    base = sample()
    fp = {"name": "toy", "source": "/home/a/data", "n_items": 400, "items_sha256": "x1", "sha256": "s1"}
    moved = dict(fp, source="/mnt/ci/data")  # same data, another machine's path
    assert compare_records(replace(base, dataset_fingerprint=fp), replace(base, dataset_fingerprint=moved), gate("accuracy:0")).problem is None
    fewer = dict(fp, n_items=380, items_sha256="x2", sha256="s2")
    case = compare_records(replace(base, dataset_fingerprint=fp), replace(base, dataset_fingerprint=fewer), gate("accuracy:0"))
    assert case.problem == "the dataset changed (n_items 400 -> 380, items_sha256 differs), so results are not comparable"
    assert compare_records(base, replace(base, dataset_fingerprint=fp), gate("accuracy:0")).problem is None


def test_matching_key_ignores_versions_and_batch_size_only() -> None:
    base = sample()
    same = replace(base, config=replace(base.config, versions={"torch": "9.9"}, batch_size=1))
    assert same.match_key() == base.match_key()
    changes: list[dict[str, Any]] = [
        {"seed": 1}, {"num_classes": 10}, {"max_new_tokens": 4}, {"limit": 100}, {"extra": {"future_key": 1}}
    ]
    for change in changes:
        other = replace(base, config=replace(base.config, **change))
        assert other.match_key() != base.match_key(), change
    assert replace(base, strategy="binary").match_key() != base.match_key()
    assert copy(base).match_key() == base.match_key()  # a key survives the file


# -- loading --------------------------------------------------------------------------


def write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_load_accepts_benchmark_and_vlmbench_json_shapes(tmp_path: Path) -> None:
    record = sample(n=20)
    doc = run_document([record], commit="0123456789abcdef")
    doc["benchmarks"].append({"name": "test_other", "fullname": "t.py::test_other", "stats": {}, "extra_info": {}})
    run = load_run(write(tmp_path, "bench.json", doc))
    assert len(run.entries) == 1 and run.label == "01234567" and run.find(record) is not None
    own = {"vlmbench": {"schema": 1}, "benchmarks": [{"name": "n", "fullname": "f", "outcome": "passed", "extra_info": {"vlmbench": record.to_json()}}]}
    (saved,) = load_run(write(tmp_path, "own.json", own)).entries
    assert saved.fullname == "f" and saved.record == record


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1"),
        ([1, 2], "is not a pytest-benchmark JSON file"),
        ({"benchmarks": []}, "holds no vlmbench results"),
        ({"vlmbench": {"schema": 3}, "benchmarks": []}, "holds vlmbench schema 3 results, but this pytest-vlmbench reads schema 1, 2"),
    ],
)
def test_bad_baselines_give_one_sentence(tmp_path: Path, content: object, fragment: str) -> None:
    with pytest.raises(GateError) as info:
        load_run(write(tmp_path, "base.json", content))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_missing_baseline_and_record_schema(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"^File '.*nope.json' does not exist\.$"):
        load_run(tmp_path / "nope.json")
    record = dict(sample(n=5).to_json(), schema=3)
    with pytest.raises(GateError, match=r"^'x.json' holds vlmbench schema 3 results, .*; re-create it with this version\.$"):
        parse_run({"benchmarks": [{"extra_info": {"vlmbench": record}}]}, "'x.json'")


def test_a_malformed_record_is_one_sentence_naming_the_entry_and_field() -> None:
    record = sample(n=5).to_json()
    del record["metrics"]["accuracy"]
    with pytest.raises(GateError) as info:
        parse_run({"benchmarks": [{"name": "test_a[m-d-s]", "extra_info": {"vlmbench": record}}]}, "'x.json'")
    assert str(info.value) == "'x.json' (test_a[m-d-s]): 'metrics.accuracy' is missing."


# -- properties -------------------------------------------------------------------------

THRESHOLD_TEXTS = st.sampled_from(
    ["accuracy:0", "accuracy:0.02", "accuracy:5%", "macro_f1:0", "weighted_recall:0.01", "invalid_rate:0",
     "items_per_s:10%", "latency_p99_ms:0", "peak_memory_mb:1%", "model_load_s:0"]
)  # fmt: skip
PREDICTIONS = st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from([*CLASSES, None])), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(pairs=PREDICTIONS, texts=st.lists(THRESHOLD_TEXTS, min_size=1, max_size=4), alpha=st.sampled_from([0.01, 0.05, 0.2]))
def test_identical_runs_never_fail(pairs: list[tuple[str, str | None]], texts: list[str], alpha: float) -> None:
    record = make_record([t for t, _ in pairs], [p for _, p in pairs], classes=CLASSES)
    case = compare_records(record, copy(record), gate(*texts), alpha=alpha)
    assert case.regressions == [] and case.improvements == []


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(10, 300),
    acc=st.floats(0.3, 1.0),
    seed=st.integers(0, 10_000),
    small=st.integers(0, 60),
    extra=st.integers(1, 60),
    fixes=st.integers(0, 20),
    limit=st.sampled_from(["accuracy:0", "accuracy:0.01", "accuracy:0.05", "accuracy:2%", "invalid_rate:0"]),
)
def test_a_larger_drop_never_passes_where_a_smaller_one_failed(
    n: int, acc: float, seed: int, small: int, extra: int, fixes: int, limit: str
) -> None:
    rng = random.Random(seed)
    labels = [rng.choice(CLASSES) for _ in range(n)]
    base = [t if rng.random() < acc else rng.choice([*CLASSES, None]) for t in labels]
    base_record = make_record(labels, base, classes=CLASSES)
    fixed = [i for i, (t, p) in enumerate(zip(labels, base)) if p != t][:fixes]
    right = [i for i, (t, p) in enumerate(zip(labels, base)) if p == t]

    def current(breaks: int) -> Record:
        preds = list(base)
        for i in fixed:
            preds[i] = labels[i]
        for i in right[:breaks]:
            preds[i] = None  # wrong and invalid: worse for accuracy and invalid_rate alike
        return make_record(labels, preds, classes=CLASSES)

    thresholds = gate(limit)
    smaller = compare_records(base_record, current(small), thresholds).regressions
    larger = compare_records(base_record, current(small + extra), thresholds).regressions
    if smaller:
        assert larger


@settings(max_examples=60, deadline=None)
@given(base=st.floats(1, 1e4), drop=st.floats(0, 0.9), more=st.floats(0, 0.09), limit=st.sampled_from(["items_per_s:10%", "items_per_s:0", "items_per_s:0.5"]))
def test_cost_gate_is_monotone(base: float, drop: float, more: float, limit: str) -> None:
    record = make_record(["cat"], ["cat"], classes=CLASSES, items_per_s=base)

    def regressed(value: float) -> bool:
        other = replace(record, throughput=replace(record.throughput, items_per_s=value))
        return bool(compare_records(record, other, gate(limit)).regressions)

    if regressed(base * (1 - drop)):
        assert regressed(base * (1 - drop - more))


def test_every_metric_reads_a_synthetic_record_or_says_none() -> None:
    record = sample(n=10)
    values = {name: spec.value(record) for name, spec in METRICS.items()}
    # A CPU record has no torch, NVML or energy figures, and a synthetic one no token counts
    # and no price; every other metric reads a float of it.
    tokens = {"tokens_per_item", "shared_tokens_per_item", "generated_tokens_per_item"}
    cost = {"energy_j", "joules_per_item", "usd_per_1k_items"}
    ner = {"entity_precision", "entity_recall", "entity_f1", "token_accuracy"}  # a classification record has no ner section
    assert {name for name, value in values.items() if value is None} == {"torch_peak_mb", "torch_peak_reserved_mb", "nvml_peak_mb"} | cost | tokens | ner
    assert all(isinstance(value, float) for value in values.values() if value is not None), values
    assert values["accuracy"] == record.metrics.accuracy and values["macro_f1"] == record.metrics.macro_f1
    assert values["items_per_s"] == record.throughput.items_per_s and values["peak_memory_mb"] == record.memory.peak_rss_mb


def test_paired_items_moving_the_other_way_never_prove_a_regression() -> None:
    # Baseline: items 0-99, 10 wrong (10-19). Current: 10-19 fixed, but 0-9 gone and 40
    # new items 100-139 all wrong, so the recorded accuracy falls while every paired change
    # is an improvement.
    ids = [str(i) for i in range(100)]
    base = make_record(["cat"] * 100, ["dog" if 10 <= i < 20 else "cat" for i in range(100)], classes=CLASSES, ids=ids)
    cur_ids = [str(i) for i in range(10, 140)]
    cur = make_record(["cat"] * 130, ["cat" if int(i) < 100 else "dog" for i in cur_ids], classes=CLASSES, ids=cur_ids)
    (finding,) = compare_records(base, cur, gate("accuracy:0.02")).findings
    assert finding.delta is not None and finding.delta < -0.02
    assert finding.status == "not significant" and finding.test is not None and finding.test.p_value == 1.0
    assert "only 90 of 100 baseline and 130 current items pair up by id" in compare_records(base, cur, gate("accuracy:0")).notes


def test_gpu_name_recorded_by_the_cost_meter_is_read() -> None:
    base = make_record(["cat"], ["cat"], classes=CLASSES, device="cuda:0")
    a = replace(base, memory=Memory("cuda:0", 1000.0, gpu_name="NVIDIA H100 80GB HBM3", torch_peak_mb=10.0))
    b = replace(base, memory=Memory("cuda:0", 1000.0, gpu_name="NVIDIA L4", torch_peak_mb=10.0))
    assert str(hardware(a)) == "NVIDIA H100 80GB HBM3"
    assert hardware(a).differs(hardware(b))
    assert not hardware(a).differs(hardware(a))
    assert str(hardware(base, {"gpu": "NVIDIA T4"})) == "NVIDIA T4"  # else the machine info's
    assert METRICS["peak_memory_mb"].value(a) == 10.0  # torch's peak on CUDA


# -- the pytest gate's verdict ----------------------------------------------------------


def test_verdicts_judge_a_record_against_a_run_and_travel_as_json(tmp_path: Path) -> None:
    base = sample(n=200)
    run = load_run(write(tmp_path, "base.json", run_document([base], commit="0123456789abcdef")))
    thresholds = gate("accuracy:0.02")

    same = judge_record(copy(base), run, thresholds, 0.05, nodeid="t.py::a")
    assert (same.status, same.fail, same.regressions, same.notes) == ("ok", (), (), ())
    assert [(h.metric, h.candidate, h.n, h.changed) for h in same.hypotheses] == [("accuracy", False, 200, 0)]
    worse = judge_record(break_items(base, 20), run, thresholds, 0.05, nodeid="t.py::b")
    assert worse.status == "regressed" and worse.fail[:1] == worse.regressions and len(worse.regressions) == 1
    # the failure names the flips and how to list them all
    assert worse.fail[1].startswith("20 items right -> wrong (first: ") and worse.fail[1].count(",") >= 5
    assert "save the run (--vlmbench-json PATH)" in worse.fail[1]
    missing = judge_record(replace(base, model="other"), run, thresholds, 0.05, nodeid="t.py::c")
    assert missing.status == "missing" and not missing.fail
    strict = judge_record(replace(base, model="other"), run, thresholds, 0.05, nodeid="t.py::c", require_baseline=True)
    assert strict.fail == ("no baseline record for other digits closed_set (with this config) in " + run.source,)
    gpu = judge_record(replace(base, model_info=ModelInfo(device="cuda:0")), run, thresholds, 0.05, nodeid="t.py::d")
    assert gpu.status == "not compared" and gpu.fail[0].startswith("not compared with the baseline: the baseline was")

    verdicts = [same, worse, missing, gpu]
    for v in verdicts:
        assert Verdict.from_json(json.loads(json.dumps(v.to_json()))) == v
    with pytest.raises(GateError, match="unknown status 'fine'"):
        Verdict.from_json(dict(same.to_json(), status="fine"))
    lines = gate_report_lines(run, "--vlmbench-baseline", verdicts)
    assert lines[:4] == [
        "== vlmbench gate ==",
        f"baseline: {run.source} (commit 01234567, 2026-11-25T00:00:00, from --vlmbench-baseline)",
        "correction: none (each item at its own alpha)",
        "4 compared: 1 missing, 1 not compared, 1 ok, 1 regressed",
    ]
    assert "REGRESSED t.py::b:" in lines and "no baseline t.py::c: other digits closed_set is not in the baseline" in lines
    assert "not compared t.py::d:" in lines
