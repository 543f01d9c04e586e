"""Engines one after another, as a run loads models: each is shut down before the next loads."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from engine_helpers import MIN_AGREEMENT, VLLM, agreement, bbc_prompts, engine_answers, hf_answers, load

from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.evaluation.config import EvalConfig
from pytest_vlmbench.evaluation.evaluate import evaluate
from pytest_vlmbench.models.base import Request
from pytest_vlmbench.models.vllm_engine import EngineError, VLLMModel

NAME = "tiny:llama-3.1-8b"


def test_close_releases_the_engine_so_the_next_model_loads() -> None:
    first = load(NAME, VLLM)
    first.close()
    assert isinstance(first, VLLMModel) and first._llm is None
    # In this process (VLLM_ENABLE_V1_MULTIPROCESSING=0) the engine's process groups are
    # global: a second engine initialises them again only if close() tore them down.
    second = load(NAME, VLLM)
    try:
        assert len(second.generate([Request("yes or no?", max_new_tokens=2)])) == 1
    finally:
        second.close()


def test_llama_on_vllm_agrees_with_hf() -> None:
    requests = bbc_prompts()
    expected = hf_answers(NAME, requests)
    assert agreement(NAME, expected, engine_answers(NAME, requests)) >= MIN_AGREEMENT


def test_a_prompt_over_max_model_len_is_that_items_error_and_the_others_go_on() -> None:
    engine = load(NAME, replace(VLLM, max_model_len=64))
    try:
        assert isinstance(engine, VLLMModel)
        classes = ["sport", "business"]
        items = [Item(id=f"i{k}", label=classes[k % 2], text=f"a short {classes[k % 2]} story") for k in range(4)]
        items[2] = Item(id="long", label="sport", text="Is it sport? " * 40)
        record = evaluate(engine, Dataset("toy", tuple(classes), items, modality="text"), "closed_set", EvalConfig(batch_size=4))
        [error] = record.errors
        n = int(re.match(r"its prompt has (\d+) tokens", error.error).group(1))  # type: ignore[union-attr]
        assert error.id == "long" and n >= 64
        assert error.error.endswith(
            "which fills the 64-token window of tiny:llama-3.1-8b on vLLM (--max-model-len); show fewer exemplars "
            "(--k-shot), shorten the text, or raise --max-model-len"
        )
        assert record.n_items == 3 and {p.id for p in record.predictions} == {"i0", "i1", "i3"}

        # A refusal this adapter cannot pin on an item (an image prompt's tokens are the engine's to count): one sentence.
        engine.too_long = lambda requests: {}  # type: ignore[method-assign]
        with pytest.raises(EngineError, match=r"^tiny:llama-3\.1-8b: a prompt is longer than the engine's 64 tokens \(.*\); raise --max-model-len"):
            engine.generate([Request("Is it sport? " * 40)])
        assert engine.generate([Request("yes or no?", max_new_tokens=2)])  # the engine still serves
    finally:
        engine.close()
