"""``finetune`` of a generative text LLM: LoRA adapters and a new head, trained with peft on tiny builds.

Each test trains into its own cache directory (``test_training.own_cache``), so "trained now"
and "taken from the cache" are decided by the test itself.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench.options import run_options_from
from pytest_vlmbench.record import Record
from pytest_vlmbench.session.plan import Suite, plan_suite
from pytest_vlmbench.session.execution import CaseError
from pytest_vlmbench.strategies.train_settings import TrainSettings

from test_training import _options, own_cache, run_one, write_text_splits  # noqa: F401 - own_cache: autouse fixture

pytest.importorskip("peft")

LLAMA = "tiny:llama-3.1-8b"


def adapter_tensors(record: Record) -> dict[str, list[int]]:
    """The names and shapes of what the cache stored for a LoRA fine-tune (the adapters and the head, nothing else)."""
    from safetensors import safe_open

    with safe_open(str(Path(str(record.model_info.source)) / "adapter_model.safetensors"), "pt") as fh:
        return {name: list(fh.get_slice(name).get_shape()) for name in fh.keys()}


def test_lora_trains_adapters_and_a_head_and_learns_an_easy_task(tmp_path: Path) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 40, "test": 10})
    opts = _options({"model": [LLAMA], "dataset": [str(data)], "strategy": ["finetune"]})  # lr 3e-3, 6 epochs
    record = run_one(LLAMA, str(data), "finetune", opts)

    training = record.training
    assert training is not None and training.method == "finetune" and not training.reused
    assert training.items == 80 and record.n_items == 20 and training.steps == 6 * 10
    assert training.losses[-1] < training.losses[0] * 0.5, training.losses  # it learned
    assert record.metrics.accuracy >= 0.9  # chance is 0.5
    info = record.model_info
    assert info.family == "hf-causal-lm-lora" and info.adapter == "lora" and info.architecture == "LlamaForSequenceClassification"
    assert info.lora_target_modules == ("q_proj", "v_proj")  # peft's default for Llama
    assert info.labels == ("animals", "clothes")
    # The cache holds rank-8 adapters on q/v of both layers and the new 2-class head: never the base's weights.
    stored = adapter_tensors(record)
    assert {n for n in stored if "lora_" not in n} == {"base_model.model.score.weight"}
    assert stored["base_model.model.score.weight"][0] == 2
    lora = {n: s for n, s in stored.items() if "lora_A" in n}
    assert len(lora) == 4 and all(s[0] == 8 for s in lora.values())  # 2 layers x (q, v), rank 8
    # The record's config (the baseline key) says how the weights were made: LoRA's settings included.
    extra = record.config.extra
    assert extra["train_lr"] == 3e-3 and extra["train_lora_r"] == 8 and extra["train_lora_alpha"] == 16.0
    assert extra["train_lora_dropout"] == 0.05 and training.hyperparameters["train_lora_r"] == 8
    assert Record.from_json(record.to_json()) == record


def test_lora_defaults_its_own_learning_rate_and_reuses_the_cache(tmp_path: Path) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 8, "test": 4})
    base = {"model": [LLAMA], "dataset": [str(data)], "strategy": ["finetune"], "training": "epochs=1,batch_size=8,max_length=16"}
    first = run_one(LLAMA, str(data), "finetune", _options(base))
    again = run_one(LLAMA, str(data), "finetune", _options(base))
    assert first.training is not None and again.training is not None
    assert first.config.extra["train_lr"] == 2e-4  # LoRA's default, not the heads' 2e-5
    assert not first.training.reused and again.training.reused and again.training.cache_key == first.training.cache_key
    assert [p.prediction for p in again.predictions] == [p.prediction for p in first.predictions]

    wider = run_one(LLAMA, str(data), "finetune", _options({**base, "training": "epochs=1,batch_size=8,max_length=16,lora_r=4"}))
    assert wider.training is not None and not wider.training.reused and wider.training.cache_key != first.training.cache_key
    assert wider.config.extra["train_lora_r"] == 4 and all(s[0] == 4 for n, s in adapter_tensors(wider).items() if "lora_A" in n)


@pytest.mark.parametrize(
    ("model", "targets"),
    [
        ("tiny:mistral-7b", ["q_proj", "v_proj"]),
        ("tiny:qwen2.5-7b", ["q_proj", "v_proj"]),
        ("tiny:gemma-2", ["q_proj", "v_proj"]),
        # peft 0.21 has no default for Phi-3: every linear layer but the head ("all-linear").
        ("tiny:phi-3-mini", ["down_proj", "gate_up_proj", "o_proj", "qkv_proj"]),
    ],
)
def test_lora_runs_for_every_text_llm_family(tmp_path: Path, model: str, targets: list[str]) -> None:
    data = write_text_splits(tmp_path / "words", {"train": 4, "test": 2})
    opts = _options({"model": [model], "dataset": [str(data)], "strategy": ["finetune"], "training": "epochs=1,batch_size=4,max_length=16"})
    record = run_one(model, str(data), "finetune", opts)
    assert record.training is not None and record.training.steps == 2 and record.n_items == 4
    assert record.model_info.lora_target_modules == tuple(targets) and record.model_info.adapter == "lora"


def test_lora_finetune_runs_only_when_named(tmp_path: Path) -> None:
    """A text LLM's default strategies stay the prompting ones: LoRA trains for GPU hours before it evaluates."""
    data = str(write_text_splits(tmp_path / "words", {"train": 2, "test": 2}))
    default = plan_suite(run_options_from({"model": [LLAMA], "dataset": [data]}), Suite()).cases
    assert {c.strategy for c in default} == {"closed_set", "binary"}
    named = plan_suite(run_options_from({"model": [LLAMA], "dataset": [data], "strategy": ["finetune"]}), Suite()).cases
    assert [c.strategy for c in named] == ["finetune"]
    marked = plan_suite(run_options_from({"model": [LLAMA], "dataset": [data]}), Suite(strategies=("closed_set", "finetune"))).cases
    assert {c.strategy for c in marked} == {"closed_set", "finetune"}


def test_lora_without_peft_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_cache: Path) -> None:
    real_import = builtins.__import__

    def no_peft(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "peft" or name.startswith("peft."):
            raise ImportError("No module named 'peft'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_peft)
    data = write_text_splits(tmp_path / "words", {"train": 2, "test": 2})
    opts = _options({"model": [LLAMA], "dataset": [str(data)], "strategy": ["finetune"]})
    with pytest.raises(CaseError) as caught:
        run_one(LLAMA, str(data), "finetune", opts)
    assert str(caught.value) == (
        "finetune of tiny:llama-3.1-8b trains LoRA adapters, which needs peft; install it with pip install 'pytest-vlmbench[lora]'."
    )
    assert not (own_cache / "trained").exists()  # refused before anything trained


def test_lora_settings_parse_and_are_checked() -> None:
    settings = TrainSettings.parse("lora_r=16,lora_alpha=32,lora_dropout=0")
    assert (settings.lora_r, settings.lora_alpha, settings.lora_dropout) == (16, 32.0, 0.0)
    assert settings.lr() == 2e-5 and settings.lr(lora=True) == 2e-4 and TrainSettings.parse("lr=1e-3").lr(lora=True) == 1e-3
    assert "train_lora_r" not in settings.finetune_json() and settings.finetune_json(lora=True)["train_lora_alpha"] == 32.0
    for bad, words in (("lora_r=0", "lora_r must be positive"), ("lora_dropout=1", "lora_dropout at least 0 and below 1"),
                       ("lora_r=2.5", "whole number")):  # fmt: skip
        with pytest.raises(ValueError, match=words):
            TrainSettings.parse(bad)
    # The heads' settings are unchanged, so their weights cache and baselines still match.
    assert TrainSettings().finetune_json()["train_lr"] == 2e-5 and json.dumps(TrainSettings().finetune_json()).count("lora") == 0
