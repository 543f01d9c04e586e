"""``qwen2-text``: a Qwen2 text LLM trained on BBC News to answer the project's questions about an article.

BBC News has one split, so the model trains on the same seeded 70% of each class that
``finetune`` and ``linear_probe`` train on (:func:`~pytest_vlmbench.training.split.holdout`),
and the held-out 30% measures it honestly; a run over all 2,225 articles includes the ones it
was trained on. Articles are sent whole, as the strategies send them (the longest is about
4,400 words), so the context window is 8,192 positions. Heads are 64 wide, the narrowest that
vLLM's CPU build runs; the embeddings are tied to keep the folder small.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...datasets.base import Dataset, Item
from ...datasets.resolve import load_dataset
from ...models.base import LoadOptions
from ...models.catalog import load_model, resolve_model
from ...models.hf_text import HFCausalLM
from ...models.tiny import QWEN2_VL_CHAT_TEMPLATE
from ..split import holdout
from .loop import Check, Mix, Questions, check, fit, language_model_loss, seeded, tokenizer, with_labels

NAME = "qwen2-text"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
"""Qwen2's special tokens (its chat template is ChatML)."""
TEST_FRACTION = 0.3
"""The held-out share of each class: the training strategies' default, so the same articles."""


@dataclass(frozen=True)
class Settings:
    """Everything the trained weights depend on (besides the library versions and the thread count)."""

    seed: int = 0
    epochs: float = 20.0
    tokens_per_batch: int = 6144
    """Padded tokens in one batch: articles are batched by length, so a batch of short ones holds more."""
    lr: float = 2e-3
    hidden: int = 128
    """The model's width: two 64-wide heads."""
    layers: int = 2
    vocab_size: int = 4096
    mix: Mix = Mix()


def split() -> tuple[Dataset, Dataset]:
    """``(held out, trained on)`` of BBC News: the training strategies' hold-out."""
    return holdout(load_dataset("bbc_news"), TEST_FRACTION)


def new_model(tok: Any, settings: Settings) -> Any:
    """A Qwen2 of the settings' sizes with fresh weights (seeded by the caller)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    config = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=settings.hidden,
        intermediate_size=2 * settings.hidden,
        num_hidden_layers=settings.layers,
        num_attention_heads=settings.hidden // 64,
        num_key_value_heads=1,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    return model


def _chat(tok: Any, prompt: str) -> str:
    # The adapter's text (models/hf_text.py): one user message through the chat template.
    return str(tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False))


def _length_batches(items: Sequence[Item], lengths: dict[str, int], budget: int) -> list[list[Item]]:
    """Items sorted by length, cut into batches of at most ``budget`` padded tokens (one item at least)."""
    batches: list[list[Item]] = []
    for item in sorted(items, key=lambda it: (lengths[it.id], it.id)):
        if batches and (len(batches[-1]) + 1) * lengths[item.id] <= budget:
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


def batches(questions: Questions, tok: Any, settings: Settings, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Training batches without end: articles of similar length together, the batches in a new seeded order each epoch."""
    lengths = {it.id: len(tok(it.text or "")["input_ids"]) + 64 for it in questions.dataset.items}  # + question and answer
    groups = _length_batches(questions.dataset.items, lengths, settings.tokens_per_batch)
    while True:
        for items in rng.sample(groups, len(groups)):
            kind = questions.kind(rng)
            examples = [questions.example(item, kind, rng) for item in items]
            texts = [_chat(tok, e.prompt) + e.answer + tok.eos_token for e in examples]
            inputs = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
            yield with_labels(inputs, tok, [e.answer for e in examples])


def steps_per_epoch(questions: Questions, tok: Any, settings: Settings) -> int:
    """Batches in one pass over the training articles."""
    lengths = {it.id: len(tok(it.text or "")["input_ids"]) + 64 for it in questions.dataset.items}
    return len(_length_batches(questions.dataset.items, lengths, settings.tokens_per_batch))


def train(out: Path, settings: Settings, threads: int) -> float:
    """Train the model and save it as a Hugging Face folder at ``out``; returns the training seconds."""
    seeded(settings.seed, threads)
    _, trained_on = split()
    questions = Questions(trained_on, settings.mix)
    corpus = [*questions.corpus(), *(it.text or "" for it in trained_on.items)]
    tok = tokenizer(corpus, SPECIAL, QWEN2_VL_CHAT_TEMPLATE, settings.vocab_size, words=False,
                    eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<|endoftext|>")  # fmt: skip
    model = new_model(tok, settings)
    steps = int(settings.epochs * steps_per_epoch(questions, tok, settings))
    batched = batches(questions, tok, settings, random.Random(settings.seed))
    seconds = fit(model, language_model_loss(model, batched), steps, settings.lr, log_every=20)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return seconds


def check_folder(folder: Path, limit: int | None, runs: list[tuple[str, str]]) -> list[Check]:
    """Load the saved folder as ``--model PATH`` would (the ``hf-text`` adapter) and evaluate it on the held-out articles."""
    model, _ = load_model(resolve_model(str(folder)), LoadOptions(device="cpu"))
    if not isinstance(model, HFCausalLM):
        raise TypeError(f"{folder} loads as {type(model).__name__}, not through the Hugging Face text adapter.")
    held_out, _ = split()
    return check(model, held_out, limit, runs)
