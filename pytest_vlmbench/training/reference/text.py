"""``qwen2-text``: a Qwen2 text LLM trained on BBC News leads to answer the project's questions about an article.

It reads ``bbc_news_lead`` (each article's headline and first 48 words, about 100 tokens): a
model of two layers trained from scratch on 1,557 articles does not learn a topic from
whole articles of up to 4,400 words. It trains on that dataset's ``train`` split (70% of
each class) and is measured on its ``test`` split, the default, which it never saw. Heads are 64 wide, the
narrowest that vLLM's CPU build runs; the embeddings are tied to keep the folder small.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...datasets.base import Dataset, Item
from ...datasets.offline import LEAD_WORDS
from ...datasets.resolve import DatasetOptions, load_dataset
from ...models.base import LoadOptions
from ...models.catalog import load_model, resolve_model
from ...models.hf_text import HFCausalLM
from ...models.tiny import QWEN2_VL_CHAT_TEMPLATE
from .loop import Check, Mix, Phase, Questions, check, epochs_of, fit, language_model_loss, seeded, tokenizer, with_labels

NAME = "qwen2-text"
DATASET = "bbc_news_lead"
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
"""Qwen2's special tokens (its chat template is ChatML)."""


@dataclass(frozen=True)
class Settings:
    """Everything the trained weights depend on (besides the library versions and the thread count)."""

    seed: int = 0
    phases: tuple[Phase, ...] = (Phase(3.0, 2e-3, Mix(closed_set=1.0, json=0.0, subset=0.0)), Phase(5.0, 1e-3))
    """Epochs over the passages (:func:`passages`), not over the 1,558 articles: closed_set's plain
    question alone first (with every question kind mixed from the start, the model stayed at
    chance), then every kind."""
    tokens_per_batch: int = 4096
    """Padded tokens in one batch: articles are batched by length, so a batch of short ones holds more."""
    hidden: int = 128
    """The model's width: two 64-wide heads."""
    word_epochs: float = 10.0
    """Epochs of the token embeddings alone first, as a bag-of-words classifier (:class:`WordStage`)."""
    word_batch_size: int = 64
    word_lr: float = 5e-3
    layers: int = 2
    vocab_size: int = 4096
    probe_weight: float = 1.0
    """Weight of the auxiliary probes' loss (:class:`Probes`); 0: none. At 0.5 binary reached only 0.39."""


def split() -> tuple[Dataset, Dataset]:
    """``(held out, trained on)``: ``bbc_news_lead``'s test and train splits."""
    return load_dataset(DATASET, DatasetOptions(split="test")), load_dataset(DATASET, DatasetOptions(split="train"))


def passages(trained_on: Dataset) -> Dataset:
    """What the model trains on: each training article's lead (as evaluated) and every further
    48-word passage of its body (about 7 per article), labelled with the article's class.

    1,558 leads are too few for a model trained from scratch to learn what a topic looks like
    (30 epochs over them left it at chance on the test leads); the rest of each article is
    more text about the same topic, and stays out of the test split like the article.
    """
    full = {it.id: it for it in load_dataset("bbc_news").items}
    items = []
    for it in trained_on.items:
        items.append(it)
        words = (full[it.id].text or "").strip().partition("\n")[2].split()
        for start in range(LEAD_WORDS, len(words), LEAD_WORDS):
            chunk = words[start : start + LEAD_WORDS]
            if len(chunk) >= LEAD_WORDS // 3:
                items.append(replace(it, id=f"{it.id}#{start}", text=" ".join(chunk)))
    return replace(trained_on, items=items)


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
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    return model


class WordStage:
    """The first stage: the token embeddings trained alone as a bag-of-words classifier, a linear
    head on their mean over a passage (the head is then dropped), as the reference VLM's vision
    tower is first trained alone. A model of two layers trained from scratch on these few
    articles otherwise stays at chance (the language-model loss alone, 30 epochs over the
    leads, left it there): with embeddings that already point towards the topics, attention
    that averages over the text is all the second stage must find."""

    def __init__(self, model: Any, tok: Any, dataset: Dataset, settings: Settings, rng: random.Random) -> None:
        import torch

        self.embed = model.get_input_embeddings()
        self.init_std = float(model.config.initializer_range)
        self.head = torch.nn.Linear(settings.hidden, len(dataset.classes))
        self.module = torch.nn.ModuleList([self.embed, self.head])
        """What :func:`.loop.fit` trains: the embeddings and the head."""
        self.tok = tok
        self.index = {c: i for i, c in enumerate(dataset.classes)}
        self.batches = epochs_of(dataset.items, settings.word_batch_size, rng)

    def logits(self, texts: list[str]) -> Any:
        """Class scores of ``texts``."""
        inputs = self.tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
        mask = inputs["attention_mask"].unsqueeze(-1).float()
        mean = (self.embed(inputs["input_ids"]) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(mean)

    def loss(self) -> Any:
        """The cross-entropy of the next training batch."""
        import torch

        items = next(self.batches)
        labels = torch.tensor([self.index[str(it.label)] for it in items])
        return torch.nn.functional.cross_entropy(self.logits([it.text or "" for it in items]), labels)

    def rescale(self) -> None:
        """Shrink the trained embeddings back to their initial spread (the config's ``initializer_range``),
        directions kept: they are also the output layer (tied), and the classifier's large weights would
        start the language model at a loss near 70."""
        import torch

        with torch.no_grad():
            weight = self.embed.weight
            weight.mul_(self.init_std / weight.std())

    def accuracy(self, test: Dataset) -> float:
        """The classifier's accuracy on ``test``: a diagnostic, the embeddings' ceiling."""
        import torch

        with torch.no_grad():
            found = self.logits([it.text or "" for it in test.items]).argmax(-1).tolist()
        return float(sum(f == self.index[str(it.label)] for f, it in zip(found, test.items)) / len(test.items))


class Probes:
    """Auxiliary linear probes, trained with the model and then dropped: at the position that gives
    the answer, the hidden state after all but the last layer must tell the article's class and,
    for a binary question, the class asked about. A yes/no answer is whether the two agree, a
    product of two features that the last layer's gated MLP computes in one step once both are
    there; without the probes neither was, and binary stayed at chance (loss ln 2 per answer
    token) however long it trained."""

    def __init__(self, model: Any, n_classes: int, settings: Settings) -> None:
        import torch

        self.model = model
        self.heads = torch.nn.ModuleList([torch.nn.Linear(settings.hidden, n_classes) for _ in range(2)])
        self.module = torch.nn.ModuleList([model, self.heads])
        """What :func:`.loop.fit` trains."""
        self.layer = settings.layers - 1
        """``hidden_states`` index of the probed state: after all but the last layer."""
        self.weight = settings.probe_weight

    def loss(self, batches: Iterator[dict[str, Any]]) -> Any:
        """The language-model loss plus the probes', weighted, for :func:`.loop.fit`."""
        import torch

        def loss() -> Any:
            batch = dict(next(batches))
            labels, classes = batch.pop("labels"), batch.pop("classes")
            out = self.model.model(**batch, output_hidden_states=True)
            targets = labels[:, 1:]
            where = targets != -100
            lm = torch.nn.functional.cross_entropy(self.model.lm_head(out.last_hidden_state[:, :-1][where]).float(), targets[where])
            # Every position that predicts a token of the answer: in the JSON style the yes/no comes
            # five tokens in, after {"answer": ".
            probed = out.hidden_states[self.layer][:, :-1][where]
            rows = where.nonzero()[:, 0]
            aux = sum(torch.nn.functional.cross_entropy(head(probed), classes[rows, k], ignore_index=-100)
                      for k, head in enumerate(self.heads) if bool((classes[:, k] != -100).any()))  # fmt: skip
            return lm + self.weight * aux

        return loss


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
    """Training batches without end: articles of similar length together, the batches in a new seeded order each epoch.

    Each batch also carries ``classes``: per row the true class's index and the asked one's (-100 for closed_set).
    """
    import torch

    lengths = {it.id: len(tok(it.text or "")["input_ids"]) + 64 for it in questions.dataset.items}  # + question and answer
    groups = _length_batches(questions.dataset.items, lengths, settings.tokens_per_batch)
    index = {str(c): i for i, c in enumerate(questions.dataset.classes)}
    while True:
        for items in rng.sample(groups, len(groups)):
            kind = questions.kind(rng)
            examples = [questions.example(item, kind, rng) for item in items]
            texts = [_chat(tok, e.prompt) + e.answer + tok.eos_token for e in examples]
            inputs = tok(texts, padding=True, return_tensors="pt", add_special_tokens=False)
            known = [(index[str(e.item.label)], index[e.asked] if e.asked is not None else -100) for e in examples]
            yield {**with_labels(inputs, tok, [e.answer for e in examples]), "classes": torch.tensor(known)}


def steps_per_epoch(questions: Questions, tok: Any, settings: Settings) -> int:
    """Batches in one pass over the training articles."""
    lengths = {it.id: len(tok(it.text or "")["input_ids"]) + 64 for it in questions.dataset.items}
    return len(_length_batches(questions.dataset.items, lengths, settings.tokens_per_batch))


def train(out: Path, settings: Settings, threads: int) -> float:
    """Train the model and save it as a Hugging Face folder at ``out``; returns the training seconds."""
    seeded(settings.seed, threads)
    trained_on = passages(split()[1])
    corpus = [*Questions(trained_on, Mix()).corpus(), *(it.text or "" for it in trained_on.items)]
    tok = tokenizer(corpus, SPECIAL, QWEN2_VL_CHAT_TEMPLATE, settings.vocab_size, words=False,
                    eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<|endoftext|>")  # fmt: skip
    # Each class name one token, as "business" and "tech" already are: the byte-level BPE of the
    # articles splits the others ("s" + "ports", "ent" + "ertainment"), and a first answer token
    # that several classes share made the model's answers miss the list (17% invalid).
    tok.add_tokens([str(c) for c in trained_on.classes])
    model = new_model(tok, settings)
    rng = random.Random(settings.seed)
    seconds = 0.0
    if settings.word_epochs:
        stage = WordStage(model, tok, trained_on, settings, rng)
        steps = int(settings.word_epochs * (len(trained_on.items) // settings.word_batch_size))
        seconds += fit(stage.module, stage.loss, steps, settings.word_lr)
        print(f"embeddings alone: accuracy {stage.accuracy(split()[0]):.4f} on the test leads", file=sys.stderr)
        stage.rescale()
    for phase in settings.phases:
        questions = Questions(trained_on, phase.mix)
        steps = int(phase.epochs * steps_per_epoch(questions, tok, settings))
        if settings.probe_weight:
            probes = Probes(model, len(trained_on.classes), settings)
            loss = probes.loss(batches(questions, tok, settings, rng))
            seconds += fit(probes.module, loss, steps, phase.lr, log_every=20)
        else:
            seconds += fit(model, language_model_loss(model, batches(questions, tok, settings, rng)), steps, phase.lr, log_every=20)
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
