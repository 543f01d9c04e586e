"""Tiny random-weight models of real architectures, built offline and cached on disk.

``--model tiny:qwen2-vl`` loads a 2-layer, 64-wide Qwen2-VL with a real ``Qwen2VLProcessor``
through exactly the adapter code that loads ``Qwen/Qwen2-VL-7B-Instruct``. Its answers are
random, so its accuracy is chance: it exists to exercise every code path on any CPU, and
so that users can smoke-test suites in CI before the nightly GPU run.

The tokenizer is a byte-level BPE trained here on generated text, with every special
token the processor looks up added as a special token (a processor that cannot find one
of its tokens fails to load, offline or not).
A build goes to a temporary directory that is renamed into place, so concurrent workers
(pytest-xdist) never see half-written files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..datasets.class_names import DIGIT_CLASSES, FASHION_MNIST_CLASSES
from ..registry import import_target
from ..cache_dir import cache_dir

BUILD_VERSION = "2"
"""Bump when a builder changes, so cached builds are rebuilt."""

QWEN2_VL_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

QWEN2_VL_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}{{ '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant{{ '\\n' }}{% endif %}"
)


_PROMPTS = (
    "Question: Answer this question in one word: What type of object is in this photo? Choose one from {classes}. Answer:",
    "Answer the question in one word: yes or no. Is the {cls} in this photo?",
)
"""closed_set's and binary's image prompts as they read when the tiny tokenizer was first trained. A copy,
not an import: models sit below strategies, and a reworded prompt must not change every tiny build."""


def _corpus() -> list[str]:
    """Text for the tokenizer: prompts, answers, and common class names."""
    words = [
        *FASHION_MNIST_CLASSES,
        *DIGIT_CLASSES,
        "yes", "no", "Yes", "No", "cat", "dog", "car", "tire", "bird", "plane", "the", "a", "photo",
        "business", "entertainment", "politics", "sport", "sports", "tech", "news", "article", "text",
    ]  # fmt: skip
    lines = [*_PROMPTS, "Answer: ", "user", "assistant", "system"]
    lines += [" ".join(words[i : i + 5]) for i in range(0, len(words), 3)]
    return lines * 20


def train_tokenizer(special_tokens: list[str], chat_template: str, **named: str) -> Any:
    """A ~500-token byte-level BPE of the tiny builds' prompt words, wrapped as a fast tokenizer with ``special_tokens``."""
    return byte_level_bpe(_corpus(), 500, special_tokens, chat_template, **named)


def byte_level_bpe(corpus: Iterable[str], vocab_size: int, special_tokens: list[str], chat_template: str, **named: str) -> Any:
    """A byte-level BPE of ``vocab_size`` tokens trained on ``corpus``, as a fast tokenizer with ``special_tokens``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=chat_template, **named)


_VLM = "pytest_vlmbench.models.tiny_builders.vlm"
_TEXT = "pytest_vlmbench.models.tiny_builders.text"
_IMAGE_TEXT = "pytest_vlmbench.models.tiny_builders.image_text"
BUILDERS: dict[str, Callable[[Path], None] | str] = {
    "qwen2-vl": f"{_VLM}:build_qwen2_vl",
    "qwen2.5-vl": f"{_VLM}:build_qwen2_5_vl",
    "llava-next-mistral": f"{_VLM}:build_llava_next_mistral",
    "llava-next-llama": f"{_VLM}:build_llava_next_llama",
    "idefics3": f"{_VLM}:build_idefics3",
    "mllama": f"{_VLM}:build_mllama",
    "qwen3-vl": "pytest_vlmbench.models.tiny_builders.qwen3_vl:build_qwen3_vl",
    "gemma3": "pytest_vlmbench.models.tiny_builders.gemma3:build_gemma3",
    "internvl": "pytest_vlmbench.models.tiny_builders.internvl:build_internvl",
    "llava-onevision": "pytest_vlmbench.models.tiny_builders.onevision:build_llava_onevision",
    "minicpm-v-4.6": "pytest_vlmbench.models.tiny_builders.minicpmv:build_minicpmv4_6",
    "phi-4-multimodal": "pytest_vlmbench.models.tiny_builders.phi4mm:build_phi4_multimodal",
    "llama": f"{_TEXT}:build_llama",
    "mistral": f"{_TEXT}:build_mistral",
    "qwen2": f"{_TEXT}:build_qwen2",
    "gemma2": f"{_TEXT}:build_gemma2",
    "phi3": f"{_TEXT}:build_phi3",
    "bert-cls": f"{_TEXT}:build_bert_classifier",
    "distilbert-cls": f"{_TEXT}:build_distilbert_classifier",
    "roberta-cls": f"{_TEXT}:build_roberta_classifier",
    "gpt2-cls": f"{_TEXT}:build_gpt2_classifier",
    "bart-cls": f"{_TEXT}:build_bart_classifier",
    "bert-encoder": f"{_TEXT}:build_bert_encoder",
    "bert-ner": "pytest_vlmbench.models.tiny_builders.token:build_bert_token",
    "distilbert-ner": "pytest_vlmbench.models.tiny_builders.token:build_distilbert_token",
    "roberta-ner": "pytest_vlmbench.models.tiny_builders.token:build_roberta_token",
    "clip": f"{_IMAGE_TEXT}:build_clip",
    "siglip": f"{_IMAGE_TEXT}:build_siglip",
}
"""Tiny builder name (a zoo entry's ``tiny_builder``) -> builder, or ``"module:attr"`` of one."""


def _builder_sources() -> list[Path]:
    here = Path(__file__).resolve().parent
    return [here / "tiny.py", *sorted((here / "tiny_builders").glob("*.py"))]


def tiny_path(alias: str, builder: Callable[[Path], None]) -> Path:
    """Directory of the cached tiny build of ``alias``, building it first when missing."""
    import transformers

    digest = hashlib.sha256(f"{alias}:{BUILD_VERSION}:{transformers.__version__}".encode())
    for source in _builder_sources():  # an edited builder gets a fresh build, not a stale cache
        digest.update(source.read_bytes())
    key = digest.hexdigest()[:12]
    final = cache_dir() / "tiny" / f"{alias.replace('/', '_')}-{key}"
    if (final / "vlmbench-tiny.json").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Writing model shards" bars for a 1 MB model are noise
        builder(staging)
        (staging / "vlmbench-tiny.json").write_text(json.dumps({"alias": alias, "build_version": BUILD_VERSION}))
        try:
            staging.rename(final)
        except OSError:
            if not (final / "vlmbench-tiny.json").is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def build(alias: str) -> Path:
    """Build (or find in the cache) the tiny model for a zoo alias."""
    try:
        builder = BUILDERS[alias]
    except KeyError:
        raise LookupError(
            f"No tiny build exists for {alias!r}; tiny builds exist for: {', '.join(sorted(BUILDERS))}."
        ) from None
    if isinstance(builder, str):
        builder = import_target(builder)
    return tiny_path(alias, builder)
