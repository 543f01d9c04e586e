"""The typed record: it reads back what it writes, reads the files older versions wrote, and
says in one sentence what is wrong with a bad one.

The records are real: a tiny Qwen2-VL on six digits (closed_set and binary), a scripted
classifier (direct) and a scripted text model with k-shot exemplars, evaluated once per module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_vlmbench import EvalConfig, LoadOptions, evaluate, load_dataset, load_model, resolve_model
from pytest_vlmbench.datasets.base import Dataset
from pytest_vlmbench.gate.baseline import load_run
from helpers import run_document, toy_dataset
from pytest_vlmbench.models.base import Adapter, Provides, Request
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.record import SCHEMA_VERSION, ClassScores, Metrics, ModelInfo, Record, RecordError, Unreadable
from pytest_vlmbench.session.summary import seed_spread, spread_lines, summary_lines
from pytest_vlmbench.strategies.base import StrategyConfig

SCHEMA1 = Path(__file__).parent / "data" / "record_schema1.json"
"""A record written before the typed record existed (trimmed to three predictions): the format to keep."""

class ScriptedClassifier(Adapter):
    """A direct classifier that reads the class off the text, and gives up on every fourth item."""

    provides: Provides = "classify"

    def __init__(self) -> None:
        self.name = "scripted-classifier"
        self.info = ModelInfo(source="scripted", family="scripted", device="cpu")

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        out: list[str | None] = []
        for r in requests:
            k, label = int(r.prompt.split()[1]), r.prompt.split()[-1]
            out.append(None if k % 4 == 3 else label)
        return out


def _reply(request: Request) -> str:
    return "It is a " + request.prompt.rsplit("item ", 1)[-1].split()[-1]


@pytest.fixture(scope="module")
def records() -> dict[str, Record]:
    model, load_s = load_model(resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    digits = load_dataset("digits")
    try:
        out = {s: evaluate(model, digits, s, EvalConfig(limit=6), model_load_s=load_s) for s in ("closed_set", "binary")}
    finally:
        model.close()
    out["direct"] = evaluate(ScriptedClassifier(), toy_dataset(9), "direct", EvalConfig())
    dataset = toy_dataset(9)
    shots = StrategyConfig(exemplars=tuple(dataset.items[:3]), seed=2)
    held_out = replace(dataset, items=list(dataset.items[3:]))  # exemplars are never evaluated items
    kshot = evaluate(ScriptedModel("scripted", _reply), held_out, "closed_set", EvalConfig(strategy=shots, batch_size=4))
    # What the session adds: the name as selected, the load id, the run's options.
    out["k-shot"] = replace(kshot, model="scripted-text", model_load_id="123-abc", options={"seeds": [2], "k_shot": 3})
    return out


def _file_copy(record: Record) -> dict[str, Any]:
    """The record's JSON as a file gives it back."""
    data: dict[str, Any] = json.loads(json.dumps(record.to_json(), allow_nan=False))
    return data


@pytest.mark.parametrize("kind", ["closed_set", "binary", "direct", "k-shot"])
def test_real_records_round_trip(records: dict[str, Record], kind: str) -> None:
    record = records[kind]
    assert Record.from_json(record.to_json()) == record
    data = _file_copy(record)
    assert Record.from_json(data) == record
    assert Record.from_json(data).to_json() == data


def test_real_records_pass_the_gates_metric_check(records: dict[str, Record], tmp_path: Path) -> None:
    """The gate recomputes every saved record's metrics from its predictions; real ones agree."""
    (tmp_path / "run.json").write_text(json.dumps(run_document(list(records.values()))))
    assert [e.record for e in load_run(tmp_path / "run.json").entries] == list(records.values())
    assert records["closed_set"].metrics.classes_without_items == ("six", "seven", "eight", "nine")  # limit=6


def test_real_records_have_what_each_strategy_records(records: dict[str, Record]) -> None:
    closed, binary, direct, kshot = (records[k] for k in ("closed_set", "binary", "direct", "k-shot"))
    assert closed.n_items == binary.n_items == 6 and closed.config.limit == 6
    assert closed.config.permutations == 3 and "question_order" not in closed.to_json()["config"]
    assert binary.config.question_order is not None and binary.config.permutations is None
    assert {"orders", "votes"} <= set(closed.predictions[0].detail)
    assert {"questions", "fallback"} <= set(binary.predictions[0].detail)
    assert set(direct.to_json()["config"]) == {"seed", "batch_size", "max_new_tokens", "limit", "num_classes", "per_class", "versions"}
    assert direct.metrics.invalid_rate == pytest.approx(2 / 9) and direct.predictions[3].prediction is None
    assert kshot.config.exemplar_ids == ("t0", "t1", "t2") and kshot.config.seed == 2
    assert kshot.case_name() == "scripted-text-toy-closed_set" and kshot.model_load_id == "123-abc"
    assert closed.throughput.model_load_s is not None and closed.throughput.final_batch_size == 8
    assert closed.memory.peak_mb == closed.memory.peak_rss_mb and closed.device == "cpu" and closed.gpu_name is None
    assert closed.energy is None and "energy" not in closed.to_json()


def test_a_fresh_record_writes_the_saved_layout(records: dict[str, Record]) -> None:
    """Key for key, in order, what records of schema 1 hold plus schema 2's task (the dataset fingerprint's keys vary by dataset)."""
    saved = json.loads(SCHEMA1.read_text())
    fresh = replace(records["closed_set"], model_load_id="x", options={}).to_json()
    # Tokens came after the saved record (optional, like energy): a counting adapter writes them
    # after memory and in each prediction, and the rest of the layout is unchanged.
    assert list(fresh).index("tokens") == list(fresh).index("memory") + 1
    assert fresh.pop("tokens")["computed"] > 0 and fresh["predictions"][0].pop("tokens")["prompt"] > 0
    assert fresh.pop("task") == "classification"  # schema 2: after "strategy"
    assert list(fresh) == list(saved)
    # digits under limit=6 has classes without items: named in the one optional metrics key, last.
    assert fresh["metrics"].pop("classes_without_items") == ["six", "seven", "eight", "nine"]
    for part in ("config", "metrics", "throughput", "memory"):
        assert list(fresh[part]) == list(saved[part]), part
    assert list(fresh["throughput"]["batch_latency_ms"]) == list(saved["throughput"]["batch_latency_ms"])
    assert list(fresh["predictions"][0]) == list(saved["predictions"][0])
    assert list(fresh["confusion"]) == list(saved["confusion"])
    assert list(next(iter(fresh["per_class"].values()))) == list(next(iter(saved["per_class"].values())))


def test_the_saved_schema1_record_reads_as_schema2_with_its_task(tmp_path: Path) -> None:
    text = SCHEMA1.read_text()
    data = json.loads(text)
    record = Record.from_json(data, "record_schema1.json")
    assert record.task == "classification" and record.schema == SCHEMA_VERSION == 2
    written = record.to_json()
    assert list(written) == [*list(data)[:6], "task", *list(data)[6:]]  # "task" after "strategy", the rest in place
    assert {k: v for k, v in written.items() if k not in ("schema", "task")} == {k: v for k, v in data.items() if k != "schema"}
    assert Record.from_json(written) == record  # and schema 2 reads back unchanged
    assert record.label == "tiny:qwen2-vl fashion_mnist closed_set"
    assert record.case_name() == "tiny:qwen2-vl-fashion_mnist-closed_set"
    assert record.metrics.accuracy == 1 / 3 and record.memory.peak_mb == record.memory.peak_rss_mb
    assert [p.correct for p in record.predictions] == [True, False, False]
    assert record.metrics.macro_f1 == 0.1 and record.metrics.classes_without_items == ()  # written before the field
    # ... and through the gate's loader, inside a saved run: its metrics agree with its
    # predictions under the older macro definition (over all ten classes), so it is read with
    # today's (over the three classes that have items).
    doc = {"vlmbench": {"schema": 1}, "benchmarks": [{"name": "t", "fullname": "f::t", "extra_info": {"vlmbench": data}}]}
    (tmp_path / "run.json").write_text(json.dumps(doc))
    (saved,) = load_run(tmp_path / "run.json").entries
    absent = ("T-shirt/top", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag")
    third = 0.3333333333333333
    today = replace(record.metrics, macro_precision=third, macro_recall=third, macro_f1=third, classes_without_items=absent)
    assert saved.record == replace(record, metrics=today)


# -- errors -----------------------------------------------------------------------------


def _error(data: Any) -> str:
    with pytest.raises(RecordError) as info:
        Record.from_json(data, "'run.json'")
    message = str(info.value)
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0, message
    return message


def test_a_missing_field_is_named() -> None:
    data = json.loads(SCHEMA1.read_text())
    del data["metrics"]["macro_f1"]
    assert _error(data) == "'run.json': 'metrics.macro_f1' is missing."
    data = json.loads(SCHEMA1.read_text())
    del data["throughput"]
    assert _error(data) == "'run.json': 'throughput' is missing."


def test_a_wrong_type_is_named_with_its_value() -> None:
    data = json.loads(SCHEMA1.read_text())
    data["n_items"] = "fifty"
    assert _error(data) == "'run.json': 'n_items' should be a whole number, not 'fifty'."
    data = json.loads(SCHEMA1.read_text())
    data["predictions"][1]["correct"] = "no"
    assert _error(data) == "'run.json': 'predictions[1].correct' should be true or false, not 'no'."
    assert _error([1, 2]) == "'run.json': the record is list, not a JSON object."


@pytest.mark.parametrize("schema", [3, 0, None, "1"])
def test_another_schema_says_how_to_recreate(schema: object) -> None:
    data = dict(json.loads(SCHEMA1.read_text()), schema=schema)
    assert _error(data) == (
        f"'run.json' holds vlmbench schema {schema!r} results, but this pytest-vlmbench reads schema 1, 2; "
        "re-create it with this version."
    )


# -- property ---------------------------------------------------------------------------

RATES = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
ANY_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
METRICS = st.builds(Metrics, *(RATES for _ in range(7)), ANY_FLOAT, st.lists(st.text(max_size=8), max_size=3).map(tuple))
SCORES = st.builds(ClassScores, RATES, RATES, ANY_FLOAT, st.integers(0, 10**12))
PER_CLASS = st.dictionaries(st.text(max_size=12), SCORES, max_size=6)


@settings(max_examples=80, deadline=None)
@given(metrics=METRICS, per_class=PER_CLASS)
def test_any_metric_values_round_trip(records: dict[str, Record], metrics: Metrics, per_class: dict[str, ClassScores]) -> None:
    record = replace(records["direct"], metrics=metrics, per_class=per_class)
    data = _file_copy(record)
    assert Record.from_json(data) == record
    assert Record.from_json(data).to_json() == data


# -- readers by attribute ---------------------------------------------------------------


def test_the_summary_reads_records_by_attribute(records: dict[str, Record]) -> None:
    closed = records["closed_set"]
    broken = replace(closed, errors=tuple(Unreadable(f"x{i}", "not an image") for i in range(7)), n_errors=7)
    lines = summary_lines([closed, broken])
    assert lines[0].split() == ["item", "n", "acc", "macroF1", "wF1", "invalid", "items/s", "peak", "MB"]
    assert lines[2].split()[:2] == ["tiny:qwen2-vl-digits-closed_set", "6"]
    assert lines[2].split()[-1] == f"{closed.memory.peak_mb:.0f}"
    absent = "tiny:qwen2-vl-digits-closed_set: 4 classes had no items in this run and are left out of the macro averages: six, seven, eight, nine"
    assert lines[-3:] == [
        absent,
        "tiny:qwen2-vl-digits-closed_set: 7 unreadable item(s) left out of the metrics: x0, x1, x2, x3, x4 ...",
        absent,
    ]
    one = replace(closed, metrics=replace(closed.metrics, classes_without_items=("nine",)))
    assert summary_lines([one])[-1].endswith(": 1 class had no items in this run and is left out of the macro averages: nine")
    many = replace(closed, metrics=replace(closed.metrics, classes_without_items=tuple(f"c{i}" for i in range(12))))
    assert summary_lines([many])[-1].endswith("12 classes had no items in this run and are left out of the macro averages: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9 ...")
    full = replace(closed, metrics=replace(closed.metrics, classes_without_items=()))
    assert len(summary_lines([full])) == 3  # header, rule, row: nothing to say

    seeds = {"seeds": [0, 1]}
    runs = [
        replace(closed, config=replace(closed.config, seed=s), metrics=replace(closed.metrics, accuracy=a), options=seeds)
        for s, a in ((0, 0.5), (1, 0.7))
    ]
    assert runs[1].case_name() == "tiny:qwen2-vl-digits-closed_set-seed1"
    (spread,) = seed_spread([*runs, records["binary"]])  # binary ran with one seed: no spread
    assert spread.case == "tiny:qwen2-vl-digits-closed_set" and spread.seeds == (0, 1)
    assert spread.metrics["accuracy"].mean == pytest.approx(0.6) and spread.metrics["accuracy"].std == pytest.approx(0.1414, abs=1e-4)
    data = json.loads(json.dumps(spread.to_json(), allow_nan=False))
    assert data["seeds"] == [0, 1] and set(data["metrics"]) == {"accuracy", "macro_f1", "weighted_f1", "invalid_rate"}
    assert data["metrics"]["accuracy"] == {"mean": spread.metrics["accuracy"].mean, "std": spread.metrics["accuracy"].std}
    assert "0.600 ± 0.141" in spread_lines([spread])[2]


def test_a_ner_record_writes_tag_lists_and_a_schema1_one_reads_as_ner() -> None:
    """Schema 2 names the task and writes tags as lists; schema 1 joined them with spaces and named no task,
    so its reader tells NER from the class names (IOB tags) -- the one place that guess remains."""
    from pytest_vlmbench.datasets.ner import ner_dataset

    data = ner_dataset("mini", [(["Ada", "smiled"], ["B-PER", "O"]), (["Oslo", "is", "cold"], ["B-LOC", "O", "O"])])
    tagged = [("B-PER", "O"), ("O", "O", "O")]  # the second misses its entity
    record = evaluate_tags(data, tagged)
    written = record.to_json()
    assert written["task"] == "ner" and written["predictions"][0]["label"] == ["B-PER", "O"]
    assert written["predictions"][1]["prediction"] == ["O", "O", "O"] and Record.from_json(written) == record
    old = json.loads(json.dumps(written))
    old["schema"] = 1
    del old["task"]
    for p in old["predictions"]:
        p["label"], p["prediction"] = " ".join(p["label"]), " ".join(p["prediction"])
    assert Record.from_json(old) == record
    with pytest.raises(RecordError, match=r"'predictions\[0\]\.label' should be a list of tags"):
        Record.from_json({**written, "predictions": [{**written["predictions"][0], "label": 3}]})


def evaluate_tags(data: Dataset, tagged: Sequence[tuple[str, ...]]) -> Record:
    """A NER record whose predictions are ``tagged``, through the real evaluation (a head answering tags)."""
    answers = {it.text: " ".join(tags) for it, tags in zip(data.items, tagged)}

    class Tagger(Adapter):
        provides = "classify"

        def __init__(self) -> None:
            self.name, self.info = "tagger", ModelInfo(source="test", family="test", device="cpu")

        def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
            return [answers[r.prompt] for r in requests]

    return evaluate(Tagger(), data, "ner_direct", EvalConfig())
