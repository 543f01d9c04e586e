"""The Hugging Face VLM adapter on the tiny Qwen2-VL: the real loading and generation path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_vlmbench.models import catalog
from pytest_vlmbench.datasets.builtin import load_digits
from pytest_vlmbench.models.base import LoadOptions, Request
from pytest_vlmbench.models.hf_vlm import HFVisionLanguageModel


@pytest.fixture(scope="module")
def tiny_qwen() -> Iterator[HFVisionLanguageModel]:
    model, load_s = catalog.load_model(catalog.resolve_model("tiny:qwen2-vl"), LoadOptions(device="cpu"))
    assert isinstance(model, HFVisionLanguageModel)
    yield model
    model.close()


def test_loads_the_real_architecture_and_processor(tiny_qwen: HFVisionLanguageModel) -> None:
    assert tiny_qwen.info.architecture == "Qwen2VLForConditionalGeneration"
    assert type(tiny_qwen.processor).__name__ == "Qwen2VLProcessor"
    assert tiny_qwen.info.dtype == "float32"
    assert tiny_qwen.tokenizer.padding_side == "left"


def test_batched_answers_equal_one_by_one(tiny_qwen: HFVisionLanguageModel) -> None:
    """Left padding is right: prompts of different lengths give the same answers in a batch."""
    digits = load_digits()
    prompts = ["Is this a seven?", "Answer in one word: what digit is written in this photo? Choose one from zero, one, two."]
    requests = [Request(prompts[k % 2], digits.items[k].image(), 6) for k in range(4)]
    batched = tiny_qwen.generate(requests)
    single = [tiny_qwen.generate([r])[0] for r in requests]
    assert [a.text for a in batched] == [a.text for a in single]
    assert all(isinstance(a.text, str) for a in batched)
    # Each answer's own counts: a batched row's prompt tokens are its own (padding not counted).
    assert [a.tokens for a in batched] == [a.tokens for a in single] and all(a.tokens and a.tokens.prompt > 0 for a in batched)


def test_tiny_build_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_vlmbench.models import tiny

    monkeypatch.setenv("VLMBENCH_CACHE_DIR", str(tmp_path))
    calls: list[Path] = []

    def builder(target: Path) -> None:
        calls.append(target)
        (target / "weights").write_text("x")

    first = tiny.tiny_path("demo", builder)
    second = tiny.tiny_path("demo", builder)
    assert first == second and len(calls) == 1
    assert (first / "weights").read_text() == "x"
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_failed_build_leaves_no_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_vlmbench.models import tiny

    monkeypatch.setenv("VLMBENCH_CACHE_DIR", str(tmp_path))

    def broken(target: Path) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tiny.tiny_path("demo", broken)
    assert list((tmp_path / "tiny").iterdir()) == []
