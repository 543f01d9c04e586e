"""Adapter-side units: the direct channel, OOM halving, label maps, image conventions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_vlmbench.evaluation.batching import BatchSizer, is_out_of_memory, run_batched
from pytest_vlmbench.datasets.base import Dataset, Item
from pytest_vlmbench.models.base import Adapter, Answer, DirectClassifier, GenerativeModel, Provides, Request
from pytest_vlmbench.models.labels import LabelMismatch, map_labels
from pytest_vlmbench.evaluation.evaluate import AdapterError, EvalConfig, evaluate

CLASSES = ("business", "sports", "tech")


def text_dataset(n: int = 6) -> Dataset:
    items = [Item(id=str(i), label=CLASSES[i % 3], text=f"an article about {CLASSES[i % 3]}") for i in range(n)]
    return Dataset(name="toy", classes=CLASSES, items=items, modality="text", source="test")


class OutOfMemoryError(RuntimeError):
    """Named like ``torch.cuda.OutOfMemoryError``: the runner detects it by name."""


class KeywordClassifier(Adapter):
    """A direct classifier that reads the class from the text; runs out of memory above ``max_batch``."""

    provides: Provides = "classify"

    def __init__(self, max_batch: int = 100) -> None:
        self.name = "keyword"
        self.max_batch = max_batch
        self.batches: list[int] = []

    def classify(self, requests: Sequence[Request], classes: Sequence[str]) -> list[str | None]:
        if len(requests) > self.max_batch:
            raise OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.batches.append(len(requests))
        return [next((c for c in classes if c in r.prompt), None) for r in requests]


class EchoGenerator(Adapter):
    def __init__(self, max_batch: int = 100) -> None:
        self.name = "echo"
        self.max_batch = max_batch
        self.batches: list[int] = []

    def generate(self, requests: Sequence[Request]) -> list[Answer]:
        if len(requests) > self.max_batch:
            raise OutOfMemoryError("out of memory")
        self.batches.append(len(requests))
        return [Answer("sports") for _ in requests]


def test_protocols_are_distinct() -> None:
    assert isinstance(KeywordClassifier(), DirectClassifier)
    assert not isinstance(KeywordClassifier(), GenerativeModel)
    assert isinstance(EchoGenerator(), GenerativeModel)


def test_direct_strategy_scores_the_classifier() -> None:
    record = evaluate(KeywordClassifier(), text_dataset(), "direct", EvalConfig(batch_size=4))
    assert record.strategy == "direct"
    assert record.metrics.accuracy == 1.0
    assert record.throughput.oom_retries == 0 and record.throughput.final_batch_size == 4


def test_out_of_memory_halves_the_batch_and_is_recorded() -> None:
    model = KeywordClassifier(max_batch=2)
    record = evaluate(model, text_dataset(9), "direct", EvalConfig(batch_size=8))
    assert record.metrics.accuracy == 1.0 and record.n_items == 9
    assert record.throughput.oom_retries == 2  # 8 -> 4 -> 2
    assert record.throughput.final_batch_size == 2
    assert max(model.batches) == 2 and sum(model.batches) == 9


def test_out_of_memory_on_generation_too() -> None:
    model = EchoGenerator(max_batch=3)
    record = evaluate(model, text_dataset(4), "closed_set", EvalConfig(batch_size=8))
    assert record.throughput.oom_retries == 2 and record.throughput.final_batch_size == 2


def test_out_of_memory_at_batch_one_is_raised() -> None:
    def send(chunk: Sequence[int]) -> list[int]:
        raise OutOfMemoryError("out of memory")

    with pytest.raises(OutOfMemoryError):
        run_batched([1, 2, 3], BatchSizer(4), send)


def test_other_errors_are_not_retried() -> None:
    sizer = BatchSizer(4)
    with pytest.raises(ValueError):
        run_batched([1, 2], sizer, lambda chunk: (_ for _ in ()).throw(ValueError("bad")))
    assert sizer.oom_retries == 0
    assert is_out_of_memory(OutOfMemoryError()) and not is_out_of_memory(RuntimeError("out of memory"))


def test_a_strategy_the_model_cannot_serve_is_one_sentence() -> None:
    with pytest.raises(AdapterError, match="use --strategy direct"):
        evaluate(KeywordClassifier(), text_dataset(), "binary", EvalConfig())
    with pytest.raises(AdapterError, match="prompting strategy"):
        evaluate(EchoGenerator(), text_dataset(), "direct", EvalConfig())


def test_label_map_by_name_by_option_and_mismatch() -> None:
    assert map_labels({0: "Business", 1: "SPORTS", 2: "tech"}, CLASSES) == {0: "business", 1: "sports", 2: "tech"}
    mapped = map_labels({0: "LABEL_0", 1: "LABEL_1", 2: "other"}, CLASSES, {"LABEL_0": "tech", "LABEL_1": "sports"})
    assert mapped == {0: "tech", 1: "sports"}  # "other" is never predicted
    with pytest.raises(LabelMismatch, match="--label-map"):
        map_labels({0: "LABEL_0", 1: "LABEL_1"}, CLASSES)
    with pytest.raises(LabelMismatch, match="not classes"):
        map_labels({0: "LABEL_0"}, CLASSES, {"LABEL_0": "weather"})


def test_vlm_image_lists_follow_the_family_convention() -> None:
    from pytest_vlmbench.models.hf_vlm import HFVisionLanguageModel

    adapter = HFVisionLanguageModel.__new__(HFVisionLanguageModel)  # no weights needed for this rule
    reqs = [Request("a", image="img1"), Request("b", image="img2")]  # type: ignore[arg-type]
    adapter.nested_images = True
    assert adapter._images(reqs) == [["img1"], ["img2"]]
    adapter.nested_images = False
    assert adapter._images(reqs) == ["img1", "img2"]
    assert adapter._images([Request("text only")]) is None


def test_classifier_head_with_label_map(tmp_path: Any) -> None:
    """A head whose labels are LABEL_i is mapped with LoadOptions.label_map (as --label-map does)."""
    from pytest_vlmbench.models.base import LoadOptions
    from pytest_vlmbench.models.hf_classifier import HFSequenceClassifier
    from pytest_vlmbench.models.tiny_builders.text import build_bert_classifier
    from pytest_vlmbench.models.zoo import make_spec
    from transformers import AutoConfig

    build_bert_classifier(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)
    config.id2label = {i: f"LABEL_{i}" for i in range(5)}
    config.label2id = {v: k for k, v in config.id2label.items()}
    config.save_pretrained(tmp_path)
    spec = make_spec("head", str(tmp_path), "hf-seq-cls")
    label_map = (("LABEL_0", "business"), ("LABEL_3", "sports"), ("LABEL_4", "tech"))
    model = HFSequenceClassifier(str(tmp_path), spec, LoadOptions(device="cpu", label_map=label_map))
    answers = model.classify([Request("one text"), Request("another text")], CLASSES)
    assert set(answers) <= set(CLASSES)
    assert model.info.labels == tuple(f"LABEL_{i}" for i in range(5)) and model.label_map == label_map
    bare = HFSequenceClassifier(str(tmp_path), spec, LoadOptions(device="cpu"))
    with pytest.raises(LabelMismatch):
        bare.classify([Request("x")], CLASSES)


@given(n=st.integers(0, 40), batch=st.integers(1, 16), limit=st.integers(1, 16))
def test_run_batched_keeps_order_whatever_the_memory(n: int, batch: int, limit: int) -> None:
    """Halving never loses, repeats or reorders items, and ends at a size that fits."""
    sent: list[int] = []

    def send(chunk: Sequence[int]) -> list[int]:
        if len(chunk) > limit:
            raise OutOfMemoryError("out of memory")
        sent.extend(chunk)
        return [x * 10 for x in chunk]

    sizer = BatchSizer(batch)
    assert run_batched(list(range(n)), sizer, send) == [x * 10 for x in range(n)]
    assert sent == list(range(n))
    assert sizer.oom_retries == 0 or sizer.size <= limit


def test_text_llm_without_chat_template_uses_the_plain_prompt(tmp_path: Any) -> None:
    """Base (non-instruct) checkpoints have no chat template: the prompt goes in as it is."""
    from pytest_vlmbench.models.base import LoadOptions
    from pytest_vlmbench.models.hf_text import HFCausalLM
    from pytest_vlmbench.models.tiny_builders.text import build_qwen2
    from pytest_vlmbench.models.zoo import make_spec

    build_qwen2(tmp_path)
    config_path = tmp_path / "tokenizer_config.json"
    import json

    config = json.loads(config_path.read_text())
    config.pop("chat_template", None)
    config_path.write_text(json.dumps(config))
    (tmp_path / "chat_template.jinja").unlink(missing_ok=True)
    model = HFCausalLM(str(tmp_path), make_spec("base-lm", str(tmp_path), "hf-causal-lm"), LoadOptions(device="cpu"))
    assert not model.tokenizer.chat_template
    assert model._text(Request("Answer: ")) == "Answer: "
    requests = [Request("Is it sports? yes or no", max_new_tokens=3), Request("Choose one from tech, business.")]
    answers = model.generate(requests)
    assert len(answers) == 2 and all(isinstance(a.text, str) for a in answers)
    # Each answer carries its own counts: every prompt token (nothing shared without groups), and the new ones
    # (a batch decodes up to its largest max_new_tokens).
    plain = model.tokenizer([r.prompt for r in requests], add_special_tokens=True)["input_ids"]
    assert [a.tokens.prompt if a.tokens else None for a in answers] == [len(ids) for ids in plain]
    assert all(a.tokens and a.tokens.shared == 0 and 0 < a.tokens.generated <= 8 for a in answers)
    model.close()


def test_an_uncached_hub_model_offline_fails_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_vlmbench.models.hf_common import from_pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoConfig

    with pytest.raises(OSError, match=r"^nobody/no-such-model is not in the local Hugging Face cache and the hub is offline"):
        from_pretrained(AutoConfig, "nobody/no-such-model", local_files_only=True)


def test_every_built_in_adapter_declares_what_it_provides() -> None:
    """An adapter's ``provides`` says which method it has; the evaluation reads the member, never probes for methods."""
    import importlib
    import inspect

    from pytest_vlmbench.models.zoo import FAMILIES

    classes: set[type[Adapter]] = set()
    for family in FAMILIES.values():
        module = importlib.import_module(family.factory.split(":")[0])
        classes |= {c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__ and issubclass(c, Adapter)}
    from pytest_vlmbench.models.scripted import ScriptedModel
    from pytest_vlmbench.models.vllm_engine import VLLMModel
    from pytest_vlmbench.training.probe import ProbeClassifier
    from pytest_vlmbench.training.trained import TrainedClassifier

    classes |= {ScriptedModel, VLLMModel, ProbeClassifier, TrainedClassifier}
    assert len(classes) >= 12, sorted(c.__name__ for c in classes)
    for cls in classes:
        assert callable(getattr(cls, cls.provides, None)), f"{cls.__name__} provides {cls.provides!r} but has no such method"
        other = "generate" if cls.provides == "classify" else "classify"
        assert not hasattr(cls, other), f"{cls.__name__} has both generate and classify"
