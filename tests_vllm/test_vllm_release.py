"""Engines one after another, as a run loads models: each is shut down before the next loads."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine_helpers import MIN_AGREEMENT, VLLM, agreement, bbc_prompts, hf_answers, load

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
    engine = load(NAME, VLLM)
    try:
        got = engine.generate(requests)
    finally:
        engine.close()
    assert agreement(NAME, expected, got) >= MIN_AGREEMENT


def test_a_prompt_over_max_model_len_is_one_sentence() -> None:
    engine = load(NAME, replace(VLLM, max_model_len=64))
    try:
        with pytest.raises(EngineError, match=r"^tiny:llama-3\.1-8b: a prompt is longer than the engine's 64 tokens \(.*\); raise --max-model-len"):
            engine.generate([Request("Is it sport? " * 40)])
        assert engine.generate([Request("yes or no?", max_new_tokens=2)])  # the engine still serves
    finally:
        engine.close()
