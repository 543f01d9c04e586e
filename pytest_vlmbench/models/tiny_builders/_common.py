"""Shared pieces of the tiny builders: tokenizer vocabularies and answer-word heads.

Transformers 5 tokenizer classes take ``vocab=`` and ``merges=`` directly, so each tiny
model gets a tokenizer of its real class (``LlamaTokenizer``, ``BertTokenizer``, ...)
built from a vocabulary trained here, offline, on :func:`tiny._corpus` text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...datasets.class_names import DIGIT_CLASSES, FASHION_MNIST_CLASSES
from .. import tiny

BBC_CLASSES = ("business", "entertainment", "politics", "sports", "tech")
"""The ``bbc_news`` classes: the labels of the tiny classifier heads, as a fine-tune's would be."""


def answer_classes() -> tuple[str, ...]:
    """Every built-in dataset's class names: what tiny generative models answer with."""
    return (*FASHION_MNIST_CLASSES, *DIGIT_CLASSES, *BBC_CLASSES)


def bpe_vocab(special_tokens: Sequence[str], *, byte_level: bool = True, vocab_size: int = 500) -> tuple[dict[str, int], Any]:
    """A trained BPE vocabulary and merge list with ``special_tokens`` first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if byte_level:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        alphabet = []
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special_tokens), initial_alphabet=alphabet, show_progress=False
    )
    tok.train_from_iterator(tiny._corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    # Pairs, not "a b" strings: LlamaTokenizer accepts only pairs, the others both.
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


def wordpiece_vocab(special_tokens: Sequence[str], vocab_size: int = 500) -> dict[str, int]:
    """A lower-cased WordPiece vocabulary (BERT style): ``special_tokens``, then every character of the
    corpus alone and as a ``##`` continuation, then its most frequent whole words (ties by spelling).

    Counted here rather than trained with ``tokenizers``' WordPieceTrainer, whose tie-breaking follows
    Rust's per-process hash order: two builds of the same source gave 237 or 238 tokens, so the
    tiny BERT heads (and their answers) differed from one machine or run to the next.
    """
    import re

    words: dict[str, int] = {}
    for line in tiny._corpus():
        for word in re.findall(r"\w+|[^\w\s]", line.lower()):
            words[word] = words.get(word, 0) + 1
    chars = sorted({c for word in words for c in word})
    tokens = [*special_tokens, *chars, *(f"##{c}" for c in chars)]
    room = max(0, vocab_size - len(tokens))
    tokens += [w for w, _ in sorted(words.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1][:room]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}


def tokenizer_for(
    cls: str,
    special: Sequence[str],
    template: str | None,
    *,
    byte_level: bool = True,
    extra_special_tokens: Mapping[str, str] | None = None,
    **named: str,
) -> Any:
    """A trained tokenizer of class ``cls`` knowing ``special`` tokens, padding on the left.

    ``PreTrainedTokenizerFast`` is what Llama 3 checkpoints declare (a byte-level BPE
    object); the named classes (``LlamaTokenizer``, ``Qwen2Tokenizer``, ...) are built from
    a vocabulary and merges, byte-level or with SentencePiece's ``▁`` word marks.
    ``extra_special_tokens`` names further tokens as tokenizer attributes, the way some
    processors look theirs up (InternVL's ``context_image_token``, OneVision's ``image_token``).
    """
    import transformers

    extras = dict(extra_special_tokens or {})
    if cls == "PreTrainedTokenizerFast":
        tok = tiny.train_tokenizer(list(special), template or "", **named)
    else:
        vocab, merges = bpe_vocab(special, byte_level=byte_level)
        kwargs: dict[str, Any] = {"extra_special_tokens": extras} if extras else {}
        tok = getattr(transformers, cls)(vocab=vocab, merges=merges, chat_template=template, **named, **kwargs)
    extra = [t for t in special if t not in named.values() and t not in extras.values()]
    if extra:
        tok.add_special_tokens({"additional_special_tokens": extra})
    tok.padding_side = "left"
    return tok


def answer_in_words(model: Any, tokenizer: Any, eos: Iterable[int], classes: Sequence[str] | None = None) -> None:
    """Zero the output rows of every token but whole answer words (yes, no, class names) and EOS.

    Random weights would otherwise answer byte soup, which exercises only the "invalid"
    path; restricted this way a tiny model names classes and says yes/no (at random), so
    parsing, voting and the metrics all see real cases.
    """
    import torch

    words = {"yes", "no"} | {w.lower() for name in (classes or answer_classes()) for w in name.replace("/", " ").split()}
    keep = set(eos) | {i for i in range(len(tokenizer)) if tokenizer.decode([i]).strip().lower() in words}
    head = model.get_output_embeddings().weight
    with torch.no_grad():
        mask = torch.zeros(head.shape[0], dtype=torch.bool)
        mask[sorted(keep)] = True
        head[~mask] = 0.0
        head[mask] *= 8.0


def small_text_config(vocab_size: int, **extra: Any) -> dict[str, Any]:
    """The 2-layer, 64-wide decoder shape shared by every tiny language model."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        # Rotary positions cost nothing to allow: long BBC articles fit without warnings.
        "max_position_embeddings": 8192,
        **extra,
    }


def chat_template(image_token: str = "<image>", start: str = "<|im_start|>", end: str = "<|im_end|>") -> str:
    """A ChatML-style template; ``image_token`` is what an image content part renders to."""
    return (
        "{% for message in messages %}" + start + "{{ message['role'] }}{{ '\\n' }}"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for content in message['content'] %}"
        "{% if content['type'] == 'image' %}" + image_token + ""
        "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
        "{% endfor %}{% endif %}" + end + "{{ '\\n' }}{% endfor %}"
        "{% if add_generation_prompt %}" + start + "assistant{{ '\\n' }}{% endif %}"
    )
