"""What the reference trainers share: the tokenizer, the questions, the seeded loop, the check and the saved folder.

A training example is one chat-formatted prompt (built with the strategies' own templates and
the model's chat template, exactly as the adapter sends it) followed by the answer and the
end-of-answer token; the loss is on those last tokens only. Everything random -- the initial
weights, the order of the items, which question each gets -- follows one seed, and the loop
runs in float32 on the CPU with a fixed number of threads, so a rerun gives the same weights
(the same SHA-256 of ``model.safetensors``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...datasets.base import Dataset, Item
from ...evaluation.evaluate import EvalConfig, evaluate
from ...models.base import GenerativeModel
from ...strategies.base import StrategyConfig
from ...strategies.binary import BINARY
from ...strategies.closed_set import CLOSED_SET
from ...strategies.prompts import build_prompt

STYLES = ("plain", "json")
"""The answer styles trained: plain words, and ``{"answer": ...}`` when the prompt asks for JSON."""


@dataclass(frozen=True)
class Example:
    """One training example: the prompt (before the chat template), the answer the model must give, the item."""

    prompt: str
    answer: str
    item: Item
    asked: str | None = None
    """The class a binary question asks about."""


@dataclass(frozen=True)
class Mix:
    """How training questions are drawn: the share of each kind, and how each kind is varied."""

    closed_set: float = 0.45
    """Share of closed_set questions (the rest are binary)."""
    json: float = 0.2
    """Share, within each kind, of questions in the JSON answer style."""
    subset: float = 0.3
    """Share of closed_set questions listing a random subset of the classes (the true one among them),
    so that ``--num-classes`` runs find a model that picks from the list it is shown."""
    yes: float = 0.3
    """Share of binary questions whose answer is yes (about the true class; otherwise about another).
    Below one half, so that the model says yes when the class is the likeliest one, not merely likely:
    binary stops at the first yes."""


@dataclass(frozen=True)
class Phase:
    """One pass of the language-model training: its length, its peak learning rate and its question mix
    (each phase warms up and decays on its own, with a fresh optimizer)."""

    epochs: float
    lr: float
    mix: Mix = Mix()


def parse_phase(text: str) -> Phase:
    """``EPOCHS:LR[:share=value,...]`` (the shares of :class:`Mix`), as the command line gives a phase."""
    epochs, lr, *rest = text.split(":")
    shares = {k: float(v) for k, v in (pair.split("=") for pair in (rest[0] if rest else "").split(",") if pair)}
    return Phase(float(epochs), float(lr), Mix(**shares))


class Questions:
    """Draws the training questions about a dataset's items with the strategies' templates."""

    def __init__(self, dataset: Dataset, mix: Mix) -> None:
        self.dataset = dataset
        self.mix = mix
        self.templates = {
            (name, style): strategy.template(StrategyConfig(answer_style=style), dataset)
            for name, strategy in (("closed_set", CLOSED_SET), ("binary", BINARY))
            for style in STYLES
        }

    def kind(self, rng: random.Random) -> tuple[str, str]:
        """A strategy and an answer style, drawn by the mix."""
        name = "closed_set" if rng.random() < self.mix.closed_set else "binary"
        return name, ("json" if rng.random() < self.mix.json else "plain")

    def example(self, item: Item, kind: tuple[str, str], rng: random.Random) -> Example:
        """One question of ``kind`` about ``item``, with its answer."""
        name, style = kind
        label = str(item.label)
        classes = [str(c) for c in self.dataset.classes]
        if name == "closed_set":
            if rng.random() < self.mix.subset:
                others = [c for c in classes if c != label]
                classes = [label, *rng.sample(others, rng.randint(1, len(others)))]
            order = rng.sample(classes, len(classes))
            prompt = build_prompt(self.templates[kind], item, (), classes=", ".join(order))
            answer = label
        else:
            asked = label if rng.random() < self.mix.yes else rng.choice([c for c in classes if c != label])
            prompt = build_prompt(self.templates[kind], item, (), cls=asked)
            answer = "yes" if asked == label else "no"
        return Example(prompt, json.dumps({"answer": answer}) if style == "json" else answer, item,
                       asked if name == "binary" else None)  # fmt: skip

    def corpus(self) -> list[str]:
        """Text to train the tokenizer on: every template filled in, and every answer in both styles."""
        rng = random.Random(0)
        classes = [str(c) for c in self.dataset.classes]
        lines = ["user", "assistant", "system"]
        for style in STYLES:
            for last in classes:  # every class name last once (it is followed by "." there, by "," elsewhere)
                order = ", ".join([*rng.sample([c for c in classes if c != last], len(classes) - 1), last])
                lines.append(self.templates[("closed_set", style)].replace("{classes}", order))
            lines += [self.templates[("binary", style)].replace("{cls}", c) for c in classes]
        answers = [*classes, "yes", "no"]
        lines += answers + [json.dumps({"answer": a}) for a in answers]
        return lines * 20


def tokenizer(
    corpus: Sequence[str], special: list[str], chat_template: str, vocab_size: int, words: bool = True, **named: str
) -> Any:
    """A byte-level BPE of ``vocab_size`` tokens trained on ``corpus``, left-padded for batched generation.

    With ``words``, text is split at white space only (a space joins the word after it, as GPT-2's
    ``Ġ``), not at punctuation, so ``T-shirt/top`` or ``{"answer":`` can be one token: every answer
    then fits the default ``--max-new-tokens`` of 8, JSON included (GPT-2's split makes
    ``{"answer": "T-shirt/top"}`` eleven tokens). Without, GPT-2's split (for prose, whose words
    carry punctuation).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=not words)
    tok.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r" ?\S+|\s+"), behavior="isolated"), byte_level]) if words else byte_level
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)  # fmt: skip
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=chat_template, padding_side="left", **named)  # type: ignore[no-untyped-call]


def with_labels(inputs: Any, tokenizer: Any, answers: Sequence[str]) -> dict[str, Any]:
    """``inputs`` (left-padded rows ending with answer + end of answer) plus ``labels`` on those last tokens only.

    Raises ``ValueError`` if a row does not end with its answer's tokens as tokenized alone
    (the prompt's last token merged with the answer's first: the labels would be wrong).
    """
    import torch

    ids = inputs["input_ids"]
    labels = torch.full_like(ids, -100)
    for row, answer in enumerate(answers):
        tail = tokenizer(answer + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        if ids[row, -len(tail) :].tolist() != tail:
            raise ValueError(f"Row {row} does not end with the tokens of {answer!r}.")
        labels[row, -len(tail) :] = ids[row, -len(tail) :]
    return {**inputs, "labels": labels}


def epochs_of(items: Sequence[Item], batch_size: int, rng: random.Random) -> Iterator[list[Item]]:
    """Batches of ``items`` without end: each epoch in a new seeded order, the last short batch dropped."""
    order = list(range(len(items)))
    while True:
        rng.shuffle(order)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            yield [items[i] for i in order[start : start + batch_size]]


def fit(model: Any, loss_of: Callable[[], Any], steps: int, lr: float, log_every: int = 50) -> float:
    """Train the parameters of ``model`` for ``steps`` batches, ``loss_of()`` drawing each batch and returning its loss:
    AdamW (weight decay 0.01 on matrices only), a linear warm-up over the first 3% of the steps then a cosine
    decay to zero, gradients clipped at 1.0. Returns the seconds taken."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    rest = [p for p in params if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=lr)
    warmup = max(1, steps * 3 // 100)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * min(s, steps) / steps))
    )
    model.train()
    start = time.perf_counter()
    running = 0.0
    for step in range(steps):
        loss = loss_of()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        running += float(loss.detach())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            done = step + 1
            elapsed = time.perf_counter() - start
            print(f"step {done}/{steps}  loss {running / (done % log_every or log_every):.4f}  "
                  f"{elapsed:.0f} s (eta {elapsed / done * (steps - done):.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
            running = 0.0
    model.eval()
    return time.perf_counter() - start


def language_model_loss(model: Any, batches: Iterator[dict[str, Any]]) -> Callable[[], Any]:
    """The loss of ``model`` on the next of ``batches`` (inputs with ``labels``), for :func:`fit`.

    The mean cross-entropy of the labelled tokens, as ``model(**batch).loss`` computes it, but with
    the output layer applied only where a token is predicted that has a label: the other positions'
    logits (most of a long article's) would be computed for nothing.
    """
    import torch

    def loss() -> Any:
        batch = dict(next(batches))
        labels = batch.pop("labels")
        hidden = model.model(**batch).last_hidden_state
        targets = labels[:, 1:]
        where = targets != -100
        logits = model.lm_head(hidden[:, :-1][where])
        return torch.nn.functional.cross_entropy(logits.float(), targets[where])

    return loss


@dataclass(frozen=True)
class Check:
    """One strategy's result on the test items, through the project's own evaluation."""

    strategy: str
    answer_style: str
    n_items: int
    accuracy: float
    invalid_rate: float
    requests: int
    seconds: float


def check(model: GenerativeModel, dataset: Dataset, limit: int | None, runs: Sequence[tuple[str, str]]) -> list[Check]:
    """Evaluate ``model`` on ``dataset`` (its first ``limit`` items) with each ``(strategy, answer style)`` in ``runs``."""
    out = []
    for strategy, style in runs:
        config = EvalConfig(strategy=StrategyConfig(answer_style=style), limit=limit)
        record = evaluate(model, dataset, strategy, config)
        out.append(Check(strategy, style, record.n_items, record.metrics.accuracy, record.metrics.invalid_rate,
                         record.throughput.n_requests, record.throughput.wall_s))  # fmt: skip
    return out


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seeded(seed: int, threads: int) -> None:
    """Seed everything torch draws from and fix its thread count (float sums depend on it)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def timed(label: str, run: Callable[[], Any]) -> Any:
    """``run()``, printing how long it took."""
    start = time.perf_counter()
    result = run()
    print(f"{label}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return result
