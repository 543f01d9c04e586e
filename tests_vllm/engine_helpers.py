"""Shared by the engine tests: loading a model on an engine, BBC News prompts, answer agreement."""

from __future__ import annotations

from pytest_vlmbench.datasets.resolve import load_dataset
from pytest_vlmbench.models.base import GenerativeModel, LoadOptions, Request
from pytest_vlmbench.models.catalog import load_model, resolve_model
from pytest_vlmbench.strategies.base import StrategyConfig
from pytest_vlmbench.strategies.catalog import get_strategy
from pytest_vlmbench.strategies.prompts import build_prompt

VLLM = LoadOptions(engine="vllm", device="cpu")
HF = LoadOptions(device="cpu")
MIN_AGREEMENT = 0.95


def load(name: str, options: LoadOptions) -> GenerativeModel:
    model, _ = load_model(resolve_model(name), options)
    assert isinstance(model, GenerativeModel)
    return model


def bbc_prompts(n_items: int = 20, dataset_name: str = "bbc_news") -> list[Request]:
    """Per BBC News item (whole articles, up to ~2,800 tiny-vocabulary tokens; ``bbc_news_lead``:
    headline and lead): the closed_set question and binary's question for every class, as the
    strategies word them for the dataset (its question, the text wording)."""
    dataset = load_dataset(dataset_name).limited(n_items)
    classes = ", ".join(dataset.classes)
    closed_set, binary = (get_strategy(s).template(StrategyConfig(), dataset) for s in ("closed_set", "binary"))
    requests = []
    for item in dataset.items:
        requests.append(Request(build_prompt(closed_set, item, (), classes=classes)))
        requests += [Request(build_prompt(binary, item, (), cls=cls)) for cls in dataset.classes]
    return requests


def hf_answers(name: str, requests: list[Request]) -> list[str]:
    """The Hugging Face adapter's answers, in batches of 8 as a run sends them; the model is closed after."""
    hf = load(name, HF)
    try:
        return [a.text for i in range(0, len(requests), 8) for a in hf.generate(requests[i : i + 8])]
    finally:
        hf.close()


def engine_answers(name: str, requests: list[Request]) -> list[str]:
    """The vLLM engine's answers, all requests in one call as a run's batch plan may send them; the engine is closed after."""
    engine = load(name, VLLM)
    try:
        return [a.text for a in engine.generate(requests)]
    finally:
        engine.close()


def agreement(name: str, expected: list[str], got: list[str]) -> float:
    """The share of prompts with the same answer; prints each difference (shown with -s or on failure)."""
    differ = [(i, e, g) for i, (e, g) in enumerate(zip(expected, got, strict=True)) if e != g]
    for i, e, g in differ:
        print(f"{name} prompt {i}: HF {e!r} vs vLLM {g!r}")
    share = 1 - len(differ) / len(expected)
    print(f"{name}: {share:.1%} of {len(expected)} prompts answered the same by HF and vLLM")
    return share
