"""The VLM families added for issue #14, through the zoo and the real adapter, offline.

For each ``tiny:`` build: the real architecture and processor class load through the
``hf-vlm`` adapter (Phi-4-multimodal through its own loader, ``models/phi4_multimodal.py``,
into the same adapter), closed_set and binary give records, and batched greedy answers equal
one-by-one answers for images of mixed sizes and prompts of mixed lengths (left padding and
per-image token counts are right). ``tests/test_tiny_zoo.py`` also runs them through a suite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pytest_vlmbench
from pytest_vlmbench.models.base import GenerativeModel, LoadOptions, Request

FAMILIES = {
    "qwen3-vl": ("Qwen3VLForConditionalGeneration", "Qwen3VLProcessor"),
    "gemma-3": ("Gemma3ForConditionalGeneration", "Gemma3Processor"),
    "internvl3": ("InternVLForConditionalGeneration", "InternVLProcessor"),
    "llava-onevision": ("LlavaOnevisionForConditionalGeneration", "LlavaOnevisionProcessor"),
    "minicpm-v-4.6": ("MiniCPMV4_6ForConditionalGeneration", "MiniCPMV4_6Processor"),
    "phi-4-multimodal": ("Phi4MultimodalForCausalLM", "Phi4MultimodalProcessor"),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def tiny_vlm(request: pytest.FixtureRequest) -> Iterator[GenerativeModel]:
    model, _ = pytest_vlmbench.load_model(pytest_vlmbench.resolve_model(f"tiny:{request.param}"), LoadOptions(device="cpu"))
    architecture, processor = FAMILIES[request.param]
    assert model.info.architecture == architecture
    assert type(getattr(model, "processor")).__name__ == processor
    assert isinstance(model, GenerativeModel)
    yield model
    model.close()


@pytest.mark.parametrize("strategy", ["closed_set", "binary"])
def test_evaluates_digits(tiny_vlm: GenerativeModel, strategy: str) -> None:
    dataset = pytest_vlmbench.load_dataset("digits").limited(4)
    record = pytest_vlmbench.evaluate(tiny_vlm, dataset, strategy, pytest_vlmbench.EvalConfig(batch_size=8))
    assert record.n_items == 4 and record.n_errors == 0


def test_batched_answers_equal_one_by_one(tiny_vlm: GenerativeModel) -> None:
    items = pytest_vlmbench.load_dataset("digits").items[:8]
    prompts = ["Is this a seven?", "Answer in one word: what digit is written in this photo? Choose one from zero, one, two."]
    sizes = [None, (80, 40), (23, 57)]
    requests = []
    for k, item in enumerate(items):
        image = item.image()
        assert image is not None
        size = sizes[k % 3]
        requests.append(Request(prompts[k % 2], image if size is None else image.resize(size), 6))
    batched = tiny_vlm.generate(requests)
    assert [a.text for a in batched] == [tiny_vlm.generate([r])[0].text for r in requests]
