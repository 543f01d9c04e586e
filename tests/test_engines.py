"""The engine choice (--engine vllm) without vLLM: options, refusals, engine arguments, request
building (VLMs included), token counts and the record's engine config (the API's ``usage``: test_api_adapter.py).

What needs a real vLLM (answers, prefix cache hits, `vllm serve`) is in tests_vllm/, run by
`make test-vllm` in .venv-vllm.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from PIL import Image

from pytest_vlmbench import EvalConfig, evaluate
from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.models import vllm_engine
from pytest_vlmbench.models.base import Answer, LoadOptions, Request
from pytest_vlmbench.models.catalog import load_model, resolve_model
from pytest_vlmbench.models.scripted import ScriptedModel
from pytest_vlmbench.options import OptionError, read_load_options, run_options_from
from pytest_vlmbench.record import EngineInfo, ModelInfo, Reader, Record, Tokens

ENGINE = {"name": "vllm", "tensor_parallel_size": 2, "max_model_len": 4096, "prefix_caching": True}


def load_options(**values: Any) -> LoadOptions:
    defaults = {"engine": "hf", "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9, "max_model_len": None,
                "label_map": "", "api_base": None, "api_key_env": "OPENAI_API_KEY", "api_concurrency": 4}  # fmt: skip
    merged = {**defaults, **values}
    return read_load_options(lambda dest: merged.get(dest), run_options_from({}))


# -- options ---------------------------------------------------------------------------------


def test_engine_options_reach_the_load_options() -> None:
    options = load_options(engine="vllm", tensor_parallel_size=4, gpu_memory_utilization="0.75", max_model_len=2048)
    assert (options.engine, options.tensor_parallel_size, options.gpu_memory_utilization, options.max_model_len) == (
        "vllm", 4, 0.75, 2048,
    )  # fmt: skip
    assert load_options() == LoadOptions()  # the defaults: transformers, as before


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"engine": "sglang"}, "--engine must be one of hf, vllm, got 'sglang'."),
        ({"gpu_memory_utilization": "1.5"}, "--gpu-memory-utilization must be a fraction above 0 and at most 1"),
        ({"gpu_memory_utilization": "0"}, "--gpu-memory-utilization must be a fraction above 0 and at most 1"),
        ({"tensor_parallel_size": 0}, "--tensor-parallel-size must be a positive whole number, got 0."),
        ({"max_model_len": -1}, "--max-model-len must be a positive whole number, got -1."),
    ],
)
def test_bad_engine_options_are_one_sentence(values: dict[str, Any], message: str) -> None:
    with pytest.raises(OptionError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        load_options(**values)


# -- which models an engine takes ------------------------------------------------------------


def test_hf_engine_keeps_each_familys_own_adapter() -> None:
    assert vllm_engine.factory_for(resolve_model("tiny:qwen2.5-7b"), "hf") is None


@pytest.mark.parametrize("name", ["tiny:bert-base-uncased", "minilm", "clip", "api:gpt-4o-mini"])
def test_vllm_refuses_models_it_cannot_serve(name: str) -> None:
    with pytest.raises(vllm_engine.EngineError, match=r"^--engine vllm runs generative Hugging Face models .* without --engine vllm\.$"):
        vllm_engine.factory_for(resolve_model(name), "vllm")


def test_vllm_takes_text_llms_and_vlms_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "vllm" else None)
    for name in ("tiny:qwen2.5-7b", "tiny:llama-3.1-8b", "tiny:qwen2-vl", "qwen2.5-vl"):
        assert vllm_engine.factory_for(resolve_model(name), "vllm") is vllm_engine.load


def test_without_vllm_the_load_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    # Refused before the tiny model is built: nothing is loaded for nothing.
    with pytest.raises(vllm_engine.EngineError, match=r"needs vLLM, .* `make install-vllm`"):
        load_model(resolve_model("tiny:qwen2.5-7b"), LoadOptions(engine="vllm"))


# -- what the engine is given ----------------------------------------------------------------


def test_engine_arguments_on_a_cpu_and_on_a_gpu() -> None:
    options = LoadOptions(engine="vllm", tensor_parallel_size=2, gpu_memory_utilization=0.8, max_model_len=1024)
    cpu = vllm_engine.engine_kwargs("/m", options, "cpu")
    assert cpu == {"model": "/m", "dtype": "float32", "trust_remote_code": False, "enable_prefix_caching": True,
                   "tensor_parallel_size": 2, "gpu_memory_utilization": 0.8, "enforce_eager": True, "seed": 0,
                   "max_model_len": 1024}  # fmt: skip
    gpu = vllm_engine.engine_kwargs("org/m", LoadOptions(dtype="bfloat16", trust_remote_code=True), "cuda")
    assert (gpu["dtype"], gpu["enforce_eager"], gpu["trust_remote_code"]) == ("bfloat16", False, True)
    assert "max_model_len" not in gpu  # the model's own limit
    assert vllm_engine.engine_kwargs("org/m", LoadOptions(), "cuda")["dtype"] == "auto"


def test_a_vlm_request_carries_its_image_as_multimodal_content() -> None:
    image = Image.new("RGB", (4, 4), "red")
    [turn] = vllm_engine.conversation(Request("What is it?", image=image))
    assert turn["role"] == "user"
    assert turn["content"] == [{"type": "image_pil", "image_pil": image}, {"type": "text", "text": "What is it?"}]
    [text_turn] = vllm_engine.conversation(Request("Is it sport?"))
    assert text_turn["content"] == [{"type": "text", "text": "Is it sport?"}]


def _output(prompt: int, cached: int | None, generated: int, text: str = " yes ") -> Any:
    completion = SimpleNamespace(text=text, token_ids=list(range(generated)))
    return SimpleNamespace(prompt_token_ids=list(range(prompt)), num_cached_tokens=cached, outputs=[completion])


def test_token_counts_of_a_vllm_output() -> None:
    assert vllm_engine.token_count(_output(300, 256, 3)) == Tokens(300, 256, 3)
    assert vllm_engine.token_count(_output(20, None, 1)) == Tokens(20, 0, 1)
    assert vllm_engine.answer(_output(20, None, 1)) == Answer("yes", Tokens(20, 0, 1))


# -- the record: a vLLM run is a different config ----------------------------------------------


def _record(info_engine: dict[str, Any] | None) -> Record:
    model = ScriptedModel("m", lambda r: "cat")
    if info_engine is not None:
        model.info = replace(model.info, engine=EngineInfo.from_json(Reader(info_engine, "test", "engine")))
    items = [Item(id=str(k), label=("cat", "dog")[k % 2], text=f"text {k}") for k in range(4)]
    return evaluate(model, Dataset("toy", ("cat", "dog"), items, modality="text"), "closed_set", EvalConfig())


def test_the_engine_enters_the_config_and_so_the_baseline_key() -> None:
    on_vllm, on_hf = _record(ENGINE), _record(None)
    assert on_vllm.config.extra["engine"] == ENGINE
    assert on_vllm.to_json()["config"]["engine"] == ENGINE
    assert "engine" not in on_hf.to_json()["config"]  # HF records keep their old key: old baselines still match
    assert on_vllm.match_key() != on_hf.match_key()
    assert _record({**ENGINE, "tensor_parallel_size": 1}).match_key() != on_vllm.match_key()
    again = Record.from_json(json.loads(json.dumps(on_vllm.to_json())))
    assert again == on_vllm and again.match_key() == on_vllm.match_key()
    assert replace(on_vllm, model_info=ModelInfo()).config.extra["engine"] == ENGINE  # what was recorded stays
