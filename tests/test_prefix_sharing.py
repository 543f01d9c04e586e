"""Shared-prefix execution gives the answers of the unshared path, for every tiny family.

Each family's ``tiny:`` build answers the same requests with prefix sharing on and off:
one item's questions (same image or text, prompts of different lengths, so the padding
between prefix and suffix differs row by row) at batch sizes 1 and 8, images of mixed sizes;
then whole closed_set and binary evaluations. Families whose adapter does not share (their
answers differed, see ``PREFIX_SHARING_TYPES``) must report no shared tokens. That this check
can fail is shown by those families: Gemma 3, LLaVA-NeXT (Mistral) and MiniCPM-V 4.6 gave
other answers with sharing forced on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import pytest_vlmbench
from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.models.base import LoadOptions, Request
from pytest_vlmbench.models.hf_text import HFCausalLM
from pytest_vlmbench.models.hf_vlm import HFVisionLanguageModel

HFModel = HFVisionLanguageModel | HFCausalLM
from pytest_vlmbench.strategies.base import StrategyConfig

VLM_FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl", "internvl3", "llava-onevision", "smolvlm", "llama-3.2-vision",
                "gemma-3", "llava-1.6-mistral", "minicpm-v-4.6")  # fmt: skip
TEXT_FAMILIES = ("llama-3.1-8b", "mistral-7b", "qwen2.5-7b", "gemma-2")
QUESTIONS = ("Is it a one?", "Is it a very large seven written by hand?", "Which digit, zero one two three four or five?",
             "Say yes or no: is this digit the shape of a two?")  # fmt: skip
SIZES = (None, (80, 40), (23, 57))


@pytest.fixture(scope="module", params=VLM_FAMILIES + TEXT_FAMILIES)
def tiny(request: pytest.FixtureRequest) -> Iterator[tuple[str, HFModel]]:
    model, _ = pytest_vlmbench.load_model(pytest_vlmbench.resolve_model(f"tiny:{request.param}"), LoadOptions(device="cpu"))
    assert isinstance(model, (HFVisionLanguageModel, HFCausalLM))
    yield request.param, model
    model.close()


def _requests(family: str) -> list[Request]:
    """Four items, one to three questions each, grouped by item."""
    digits = pytest_vlmbench.load_dataset("digits").items
    out = []
    for k in range(4):
        image, text = None, ""
        if family in VLM_FAMILIES:
            image = digits[k].image()
            assert image is not None
            size = SIZES[k % 3]
            image = image if size is None else image.resize(size)
        else:
            text = f"Text: example\nClass: sport\n\nText: item {k} says {'a lot of words ' * k}\n"
        for j in range(1 + k % 3):
            out.append(Request(text + "Look at it. " + QUESTIONS[(j + k) % 4], image, 8, group=str(k)))
    return out


def _answers(model: HFModel, requests: list[Request], batch: int, sharing: bool) -> tuple[list[str], int]:
    model.shares_prefix = sharing
    answers, shared = [], 0
    for start in range(0, len(requests), batch):
        chunk = model.generate(requests[start : start + batch])
        assert len(chunk) == len(requests[start : start + batch])
        answers += [a.text for a in chunk]
        shared += sum(a.tokens.shared for a in chunk if a.tokens is not None)
        assert all(a.tokens is not None for a in chunk)  # the HF adapters count every answer's tokens
    return answers, shared


def _first_scores(model: HFCausalLM, requests: list[Request], sharing: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The next-token scores of every request's first answer step, in request order (one batch)."""
    from transformers import LogitsProcessor, LogitsProcessorList

    captured: list[Any] = []

    class First(LogitsProcessor):
        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if not captured:
                captured.append(scores.clone())
            return scores

    original = model.model.generate

    def spy(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **kwargs, logits_processor=LogitsProcessorList([First()]))

    monkeypatch.setattr(model.model, "generate", spy)
    model.shares_prefix, model.prefix_memory.last = sharing, None
    model.generate(requests)
    monkeypatch.undo()
    return captured[0]


@pytest.mark.parametrize("family", TEXT_FAMILIES)
def test_shared_scores_equal_unshared_when_prefixes_are_padded(family: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answers of random tiny models hardly depend on positions, so this compares the scores
    themselves. Groups have prefixes of different lengths, so the prefix pass pads them: a pass
    that numbered its padding as positions put each padded row's suffix too close to its
    prefix (the reference text model then answered half-formed JSON; docs/reference_models.md)."""
    import torch

    model, _ = pytest_vlmbench.load_model(pytest_vlmbench.resolve_model(f"tiny:{family}"), LoadOptions(device="cpu"))
    assert isinstance(model, HFCausalLM)
    proven = model.shares_prefix
    if not proven:
        pytest.skip(f"{family} runs unshared")
    requests = _requests(family)
    plain = _first_scores(model, requests, False, monkeypatch)
    shared = _first_scores(model, requests, True, monkeypatch)
    model.shares_prefix = proven
    assert shared.shape == plain.shape
    assert torch.allclose(shared, plain, atol=1e-4), (shared - plain).abs().max()
    model.close()


@pytest.mark.parametrize("batch", [1, 8])
def test_shared_answers_equal_unshared(tiny: tuple[str, HFModel], batch: int) -> None:
    family, model = tiny
    proven = model.shares_prefix
    requests = _requests(family)
    plain, none_shared = _answers(model, requests, batch, False)
    assert none_shared == 0
    if not proven:
        pytest.skip(f"{family} runs unshared (its adapter's PREFIX_SHARING_TYPES leaves it out)")
    shared, count = _answers(model, requests, batch, True)
    model.shares_prefix = proven
    assert shared == plain
    assert (count > 0) == (batch > 1)  # one request per call: nothing to share


def _image_items() -> list[Item]:
    digits = pytest_vlmbench.load_dataset("digits").items[:3]
    out = []
    for k, item in enumerate(digits):
        size = SIZES[k % 3]

        def load(item: Item = item, size: tuple[int, int] | None = size) -> object:
            image = item.image()
            assert image is not None
            return image if size is None else image.resize(size)

        out.append(Item(id=item.id, label=item.label, load_image=load))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("strategy", ["closed_set", "binary"])
def test_evaluations_equal_with_sharing_on_and_off(tiny: tuple[str, HFModel], strategy: str) -> None:
    family, model = tiny
    if not model.shares_prefix:
        pytest.skip(f"{family} runs unshared")
    classes = tuple(pytest_vlmbench.load_dataset("digits").classes)
    if family in VLM_FAMILIES:
        dataset = Dataset("mixed-sizes", classes, _image_items(), modality="image")
        shots: StrategyConfig = StrategyConfig(permutations=2)
    else:
        items = [Item(id=f"t{k}", label=classes[k], text=f"the digit {classes[k]} {'again ' * k}") for k in range(3)]
        dataset = Dataset("texts", classes, items, modality="text")
        shots = StrategyConfig(permutations=2, exemplars=(Item(id="x", label="one", text="a single stroke"),))
    reused = model.prefix_memory.reused
    records = {
        on: pytest_vlmbench.evaluate(model, dataset, strategy, pytest_vlmbench.EvalConfig(shots, batch_size=8, prefix_sharing=on))
        for on in (True, False)
    }
    assert [p.answers for p in records[True].predictions] == [p.answers for p in records[False].predictions]
    assert [p.prediction for p in records[True].predictions] == [p.prediction for p in records[False].predictions]
    on, off = records[True].tokens, records[False].tokens
    assert on is not None and off is not None and off.shared == 0 and on.shared > 0
    assert on.computed < off.computed or strategy == "binary"  # binary asks ahead when sharing: more prompts
    if strategy == "binary" and len(records[True].predictions[0].detail["questions"]) > 8:
        # The first item is asked alone, a batch (8) of questions ahead, before any item has
        # told how many questions items need; its second round continued from its first round's prefix.
        assert model.prefix_memory.reused > reused
