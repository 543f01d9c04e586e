"""The typed ``model_info``: the JSON keeps the keys and order of the dicts it replaced, and
what this version does not know survives a read and write."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_vlmbench import EvalConfig, evaluate
from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.record import EngineInfo, ModelInfo, Reader, Record, RecordError, plain_json

HF = ModelInfo(source="/m", family="hf-seq-cls", architecture="BertForSequenceClassification", device="cpu", dtype="float32",
               parameters=1234, labels=("a", "b"))  # fmt: skip


def read(data: Mapping[str, object]) -> ModelInfo:
    return ModelInfo.from_json(Reader(data, "test", "model_info"))


def test_each_adapters_facts_keep_the_key_order_of_the_old_dicts() -> None:
    assert list(plain_json(HF)) == ["source", "family", "architecture", "device", "dtype", "parameters", "labels"]
    trained = replace(HF, base_source="bert", adapter="lora", lora_target_modules=("q", "v"))
    assert list(plain_json(trained))[-4:] == ["labels", "base_source", "adapter", "lora_target_modules"]
    api = ModelInfo(source="gpt-4o", family="openai-api", api_base="http://x/v1", device="api", concurrency=4, retries=0)
    assert list(plain_json(api)) == ["source", "family", "api_base", "device", "concurrency", "retries"]
    vllm = ModelInfo(source="/m", family="vllm", architecture="Q", device="cpu", dtype="float32",
                     engine=EngineInfo("vllm", 1, 8192, True), engine_version="0.1", gpu_memory_utilization=0.9)  # fmt: skip
    assert plain_json(vllm)["engine"] == {"name": "vllm", "tensor_parallel_size": 1, "max_model_len": 8192, "prefix_caching": True}
    assert list(plain_json(vllm))[-3:] == ["engine", "engine_version", "gpu_memory_utilization"]
    assert plain_json(ModelInfo()) == {}  # nothing known, nothing written


def test_unknown_keys_survive_a_read_and_write() -> None:
    data = {"source": "/m", "family": "f", "future_fact": {"x": [1, 2]}, "device": "cuda:0", "engine": {"name": "e", "new": 1}}
    info = read(data)
    assert info.extra == {"future_fact": {"x": [1, 2]}} and info.engine == EngineInfo("e", extra={"new": 1})
    written = plain_json(info)
    assert written == data and list(written) == ["source", "family", "device", "engine", "future_fact"]
    assert read(written) == info


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"parameters": "many"}, "'model_info.parameters' should be a whole number"),
        ({"labels": "a b"}, "'model_info.labels' should be a list"),
        ({"vision_lora": "yes"}, "'model_info.vision_lora' should be true or false"),
    ],
)
def test_a_known_fact_of_the_wrong_kind_is_one_sentence(data: dict[str, object], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        read(data)


def test_an_evaluated_record_writes_the_adapters_facts_and_reads_them_back() -> None:
    items = [Item(id=str(k), label=("cat", "dog")[k % 2], text=f"a {('cat', 'dog')[k % 2]}") for k in range(4)]
    record = evaluate(ScriptedModel("m", lambda r: "cat"), Dataset("toy", ("cat", "dog"), items, modality="text"), "closed_set",
                      EvalConfig())  # fmt: skip
    assert record.model_info == ModelInfo(source="scripted", family="scripted", device="cpu")  # no retries: it never retries
    data = json.loads(json.dumps(record.to_json()))
    assert data["model_info"] == {"source": "scripted", "family": "scripted", "device": "cpu"}
    assert Record.from_json(data).model_info == record.model_info and record.device == "cpu"


def test_the_previous_schemas_model_info_reads_as_typed_facts() -> None:
    data = json.loads((Path(__file__).parent / "data" / "record_schema1.json").read_text())
    record = Record.from_json(data)
    assert record.model_info.architecture == "Qwen2VLForConditionalGeneration" and record.model_info.parameters == 206624
    assert record.to_json()["model_info"] == data["model_info"]
