"""Comparing records and loading saved runs: verdicts, matching keys, bad input, properties."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench.gate.baseline import load_run, parse_run, record_key
from pytest_vlmbench.gate.compare import compare_records
from pytest_vlmbench.gate.metrics import METRICS, GateError
from pytest_vlmbench.gate.synthetic import make_record, run_document, with_predictions
from pytest_vlmbench.gate.thresholds import merge_layers, parse_layer

CLASSES = ["cat", "dog", "bird", "fish"]


def sample(n: int = 400, acc: float = 0.85, seed: int = 0) -> dict:
    rng = random.Random(seed)
    labels = [rng.choice(CLASSES) for _ in range(n)]
    preds = [t if rng.random() < acc else rng.choice(CLASSES) for t in labels]
    return make_record(labels, preds, classes=CLASSES)


def break_items(record: dict, count: int, **changes: object) -> dict:
    """A copy of ``record`` with ``count`` of its right answers made wrong."""
    preds = [p["prediction"] for p in record["predictions"]]
    done = 0
    for i, p in enumerate(record["predictions"]):
        if done < count and p["prediction"] == p["label"]:
            preds[i] = "dog" if p["label"] != "dog" else "cat"
            done += 1
    return with_predictions(record, preds, **changes)


def gate(*texts: str) -> dict:
    return merge_layers(parse_layer(texts, "test"))


def test_unchanged_run_passes_and_a_significant_drop_regresses() -> None:
    base = sample()
    assert compare_records(base, base, gate("accuracy:0.02", "items_per_s:10%")).regressions == []
    worse = compare_records(base, break_items(base, 20), gate("accuracy:0.02"))
    (finding,) = worse.regressions
    assert finding.metric.name == "accuracy"
    line = finding.line()
    assert line.startswith(f"accuracy {base['metrics']['accuracy']:.3f} -> ")
    assert "(-0.050 > 0.02, p=" in line


def test_a_drop_past_the_threshold_but_not_significant_passes() -> None:
    base = sample(n=400)
    preds = [p["prediction"] for p in base["predictions"]]
    # 30 items break and 22 others get fixed: accuracy -0.02, but 30 vs 22 is noise.
    broke = fixed = 0
    for i, p in enumerate(base["predictions"]):
        if p["prediction"] == p["label"] and broke < 30:
            preds[i] = "dog" if p["label"] != "dog" else "cat"
            broke += 1
        elif p["prediction"] != p["label"] and fixed < 22:
            preds[i] = p["label"]
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
    slower = with_predictions(base, [p["prediction"] for p in base["predictions"]], items_per_s=40.0, latency_ms=130.0)
    case = compare_records(base, slower, gate("items_per_s:10%", "latency_p50_ms:20%", "peak_memory_mb:5%"))
    assert [f.line() for f in case.regressions] == [
        "items_per_s 50.00 -> 40.00 (-20.0% > 10%)",
        "latency_p50_ms 100.00 -> 130.00 (+30.0% > 20%)",
    ]
    faster = compare_records(slower, base, gate("items_per_s:10%", "latency_p50_ms:20%"))
    assert [f.status for f in faster.findings] == ["improvement", "improvement"]


def test_batch_size_change_compares_quality_but_not_cost() -> None:
    base = sample()
    other = with_predictions(base, [p["prediction"] for p in base["predictions"]], batch_size=32, items_per_s=5.0)
    assert record_key(base) == record_key(other)
    case = compare_records(base, other, gate("accuracy:0", "items_per_s:10%"))
    assert [f.metric.name for f in case.findings] == ["accuracy"]
    assert case.notes == ["batch size 8 -> 32: speed, memory and energy not compared"]


def test_other_hardware_or_changed_dataset_is_said_instead_of_compared() -> None:
    base = sample()
    base["model_info"] = {"device": "cuda:0", "gpu_name": "NVIDIA A100-SXM4-80GB"}
    other = json.loads(json.dumps(base))
    other["model_info"]["gpu_name"] = "NVIDIA H100 80GB HBM3"
    case = compare_records(base, other, gate("accuracy:0"))
    assert case.problem_kind == "hardware" and "A100" in (case.problem or "") and not case.findings
    unnamed = json.loads(json.dumps(base))
    del unnamed["model_info"]["gpu_name"]  # unknown GPU name never counts as different
    assert compare_records(base, unnamed, gate("accuracy:0")).problem is None
    cpu = json.loads(json.dumps(base))
    cpu["model_info"] = {"device": "cpu"}
    assert compare_records(base, cpu, gate("accuracy:0")).problem_kind == "hardware"
    fp_a, fp_b = dict(base, dataset_fingerprint="aaaa"), dict(base, dataset_fingerprint="bbbb")
    changed = compare_records(fp_a, fp_b, gate("accuracy:0"))
    assert changed.problem_kind == "dataset" and "dataset changed" in (changed.problem or "")


def test_dataset_fingerprints_compare_content_not_paths() -> None:
    base = sample()
    fp = {"name": "toy", "source": "/home/a/data", "n_items": 400, "items_sha256": "x1", "sha256": "s1"}
    moved = dict(fp, source="/mnt/ci/data")  # same data, another machine's path
    assert compare_records(dict(base, dataset_fingerprint=fp), dict(base, dataset_fingerprint=moved), gate("accuracy:0")).problem is None
    fewer = dict(fp, n_items=380, items_sha256="x2", sha256="s2")
    case = compare_records(dict(base, dataset_fingerprint=fp), dict(base, dataset_fingerprint=fewer), gate("accuracy:0"))
    assert case.problem == "the dataset changed (n_items 400 -> 380, items_sha256 differs), so results are not comparable"
    assert compare_records(base, dict(base, dataset_fingerprint=fp), gate("accuracy:0")).problem is None


def test_matching_key_ignores_versions_and_batch_size_only() -> None:
    base = sample()
    same = json.loads(json.dumps(base))
    same["config"]["versions"] = {"torch": "9.9"}
    same["config"]["batch_size"] = 1
    assert record_key(same) == record_key(base)
    for change in ({"seed": 1}, {"num_classes": 10}, {"max_new_tokens": 4}, {"limit": 100}):
        other = json.loads(json.dumps(base))
        other["config"].update(change)
        assert record_key(other) != record_key(base), change
    assert record_key(dict(base, strategy="binary")) != record_key(base)


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
    own = {"vlmbench": {"schema": 1}, "benchmarks": [{"name": "n", "fullname": "f", "outcome": "passed", "extra_info": {"vlmbench": record}}]}
    assert load_run(write(tmp_path, "own.json", own)).entries[0].fullname == "f"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1"),
        ([1, 2], "is not a pytest-benchmark JSON file"),
        ({"benchmarks": []}, "holds no vlmbench results"),
        ({"vlmbench": {"schema": 2}, "benchmarks": []}, "holds vlmbench schema 2 results, but this pytest-vlmbench reads schema 1"),
    ],
)
def test_bad_baselines_give_one_sentence(tmp_path: Path, content: object, fragment: str) -> None:
    with pytest.raises(GateError) as info:
        load_run(write(tmp_path, "base.json", content))
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_missing_baseline_and_record_schema(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"^File '.*nope.json' does not exist\.$"):
        load_run(tmp_path / "nope.json")
    record = dict(sample(n=5), schema=3)
    with pytest.raises(GateError, match="schema 3"):
        parse_run({"benchmarks": [{"extra_info": {"vlmbench": record}}]}, "'x.json'")


# -- properties -------------------------------------------------------------------------

THRESHOLD_TEXTS = st.sampled_from(
    ["accuracy:0", "accuracy:0.02", "accuracy:5%", "macro_f1:0", "weighted_recall:0.01", "invalid_rate:0",
     "items_per_s:10%", "latency_p99_ms:0", "peak_memory_mb:1%", "model_load_s:0"]
)  # fmt: skip
PREDICTIONS = st.lists(st.tuples(st.sampled_from(CLASSES), st.sampled_from([*CLASSES, None])), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(pairs=PREDICTIONS, texts=st.lists(THRESHOLD_TEXTS, min_size=1, max_size=4), alpha=st.sampled_from([0.01, 0.05, 0.2]))
def test_identical_runs_never_fail(pairs: list, texts: list[str], alpha: float) -> None:
    record = make_record([t for t, _ in pairs], [p for _, p in pairs], classes=CLASSES)
    case = compare_records(record, json.loads(json.dumps(record)), gate(*texts), alpha=alpha)
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

    def current(breaks: int) -> dict:
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
        other = dict(record, throughput=dict(record["throughput"], items_per_s=value))
        return bool(compare_records(record, other, gate(limit)).regressions)

    if regressed(base * (1 - drop)):
        assert regressed(base * (1 - drop - more))


def test_every_metric_reads_a_synthetic_record_or_says_none() -> None:
    record = sample(n=10)
    for spec in METRICS.values():
        value = spec.value(record)
        assert value is None or isinstance(value, float)


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
    from pytest_vlmbench.gate.baseline import hardware

    a = {"model_info": {"device": "cuda:0"}, "memory": {"device": "cuda:0", "gpu_name": "NVIDIA H100 80GB HBM3"}}
    b = {"model_info": {"device": "cuda:0"}, "memory": {"device": "cuda:0", "gpu_name": "NVIDIA L4"}}
    assert str(hardware(a)) == "NVIDIA H100 80GB HBM3"
    assert hardware(a).differs(hardware(b))
    assert not hardware(a).differs(hardware(a))
