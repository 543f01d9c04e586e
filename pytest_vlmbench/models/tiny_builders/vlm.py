"""Tiny vision-language models: Qwen2-VL, Qwen2.5-VL, LLaVA-NeXT, Idefics3 (SmolVLM) and Mllama.

Each one gets its real processor class, sized so that an image becomes a handful of
tokens; the special tokens each processor looks up are in the trained vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...datasets.class_names import FASHION_MNIST_CLASSES
from .. import tiny
from ._common import answer_in_words, chat_template, small_text_config, tokenizer_for


def _finish(
    target: Path, model: Any, processor: Any, tokenizer: Any, eos: int, pad: int, classes: Sequence[str] | None = None
) -> None:
    answer_in_words(model, tokenizer, eos=[eos], classes=classes)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    model.save_pretrained(target)
    processor.save_pretrained(target)


def _qwen_vision_token_ids(ids: dict[str, int]) -> dict[str, Any]:
    """The config fields through which Qwen2-VL-style models find their image tokens."""
    return {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }


def qwen_tokenizer() -> tuple[Any, dict[str, int]]:
    """The ``Qwen2Tokenizer`` of the Qwen-VL family builds, and the ids of its special tokens."""
    tok = tokenizer_for("Qwen2Tokenizer", tiny.QWEN2_VL_SPECIAL, tiny.QWEN2_VL_CHAT_TEMPLATE,
                        eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token="<|endoftext|>")  # fmt: skip
    return tok, {t: tok.convert_tokens_to_ids(t) for t in tiny.QWEN2_VL_SPECIAL}


def _qwen_processor(processor_cls: Any, tokenizer: Any) -> Any:
    """A Qwen2-VL-family processor that turns every image into 56x56 pixels (4 image tokens)."""
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    pixels = 56 * 56
    return processor_cls(
        image_processor=Qwen2VLImageProcessor(min_pixels=pixels, max_pixels=pixels),
        video_processor=Qwen2VLVideoProcessor(min_pixels=pixels, max_pixels=pixels),
        tokenizer=tokenizer,
        chat_template=tiny.QWEN2_VL_CHAT_TEMPLATE,
    )


def build_qwen2_vl(target: Path) -> None:
    """Qwen2-VL: 2 text layers, 1 vision block, 56x56-pixel images (4 image tokens).

    The default offline model: its head is restricted to Fashion-MNIST's class words and
    yes/no, so the default run's answers name the default dataset's classes.
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLProcessor,
    )

    tokenizer = tiny.train_tokenizer(
        tiny.QWEN2_VL_SPECIAL,
        tiny.QWEN2_VL_CHAT_TEMPLATE,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tiny.QWEN2_VL_SPECIAL}
    processor = _qwen_processor(Qwen2VLProcessor, tokenizer)
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            # mrope_section must sum to head_dim / 2 = 64 / 4 / 2.
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2},
        **_qwen_vision_token_ids(ids),
    )
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config)
    _finish(target, model, processor, tokenizer, ids["<|im_end|>"], ids["<|endoftext|>"],
            classes=FASHION_MNIST_CLASSES)  # fmt: skip


def build_qwen2_5_vl(target: Path) -> None:
    """Qwen2.5-VL: windowed-attention vision tower, 56x56-pixel images (4 image tokens)."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
    )

    tok, ids = qwen_tokenizer()
    processor = _qwen_processor(Qwen2_5_VLProcessor, tok)
    config = Qwen2_5_VLConfig(
        text_config=small_text_config(
            len(tok),
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                       "out_hidden_size": 64, "fullatt_block_indexes": [1], "window_size": 56},  # fmt: skip
        **_qwen_vision_token_ids(ids),
    )
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration(config)
    _finish(target, model, processor, tok, ids["<|im_end|>"], ids["<|endoftext|>"])


def _build_llava_next(target: Path, text_model_type: str, tokenizer_cls: str) -> None:
    """LLaVA-NeXT (LLaVA-1.6): CLIP vision tower at 28x28 pixels, any-resolution grid of one tile."""
    import torch
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessor, LlavaNextProcessor

    special = ["<s>", "</s>", "<unk>", "<pad>", "<image>", "<|im_start|>", "<|im_end|>"]
    tok = tokenizer_for(tokenizer_cls, special, chat_template(), byte_level=False, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")
    eos, pad, image = (tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<pad>", "<image>"))
    size = 28
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessor(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}, image_grid_pinpoints=[[size, size]]
        ),
        tokenizer=tok,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=chat_template(),
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
    )
    config = LlavaNextConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": size, "patch_size": 14, "projection_dim": 32},  # fmt: skip
        text_config={"model_type": text_model_type, **small_text_config(len(tok), eos_token_id=eos, pad_token_id=pad)},
        image_token_index=image,
        image_grid_pinpoints=[[size, size]],
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = LlavaNextForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)


def build_llava_next_mistral(target: Path) -> None:
    """llava-v1.6-mistral: LLaVA-NeXT over a Mistral decoder."""
    _build_llava_next(target, "mistral", "LlamaTokenizer")


def build_llava_next_llama(target: Path) -> None:
    """llama3-llava-next: LLaVA-NeXT over a Llama decoder."""
    _build_llava_next(target, "llama", "PreTrainedTokenizerFast")


IDEFICS3_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>", "<image>", "<global-img>"]


def build_idefics3(target: Path) -> None:
    """Idefics3 (the architecture of SmolVLM-Instruct): 32x32 images, no splitting, 4 image tokens."""
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    special = IDEFICS3_SPECIAL + [f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
    template = chat_template(start="<|im_start|>", end="<end_of_utterance>")
    tok = tokenizer_for("GPT2Tokenizer", special, template,
                     bos_token="<|im_start|>", eos_token="<end_of_utterance>", unk_token="<|endoftext|>", pad_token="<|endoftext|>")  # fmt: skip
    eos, pad, image = (tok.convert_tokens_to_ids(t) for t in ("<end_of_utterance>", "<|endoftext|>", "<image>"))
    size, patch, scale = 32, 8, 2
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(
            size={"longest_edge": size}, max_image_size={"longest_edge": size}, do_image_splitting=False
        ),
        tokenizer=tok,
        image_seq_len=(size // patch) ** 2 // scale**2,
        chat_template=template,
    )
    config = Idefics3Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": size, "patch_size": patch},  # fmt: skip
        text_config={"model_type": "llama", **small_text_config(len(tok), eos_token_id=eos, pad_token_id=pad)},
        scale_factor=scale,
        image_token_id=image,
    )
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)


MLLAMA_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|image|>", "<|python_tag|>", "<|finetune_right_pad_id|>"]


def build_mllama(target: Path) -> None:
    """Mllama (Llama 3.2 Vision): one 28x28 tile, one cross-attention layer."""
    import torch
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaImageProcessor, MllamaProcessor

    template = chat_template(image_token="<|image|>", start="<|begin_of_text|>", end="<|eot_id|>")
    tok = tokenizer_for("PreTrainedTokenizerFast", MLLAMA_SPECIAL, template,
                     bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", unk_token="<|end_of_text|>",
                     pad_token="<|finetune_right_pad_id|>")  # fmt: skip
    eos, pad, image = (tok.convert_tokens_to_ids(t) for t in ("<|eot_id|>", "<|finetune_right_pad_id|>", "<|image|>"))
    size = 28
    processor = MllamaProcessor(
        image_processor=MllamaImageProcessor(size={"height": size, "width": size}, max_image_tiles=1),
        tokenizer=tok,
        chat_template=template,
    )
    config = MllamaConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_global_layers": 1,
                       "attention_heads": 2, "image_size": size, "patch_size": 14, "max_num_tiles": 1,
                       "intermediate_layers_indices": [0], "vision_output_dim": 64,
                       "supported_aspect_ratios": [[1, 1]]},  # fmt: skip
        text_config=small_text_config(len(tok) + 8, cross_attention_layers=[1], eos_token_id=eos, pad_token_id=pad,
                                      bos_token_id=tok.bos_token_id),  # fmt: skip
        image_token_index=image,
    )
    torch.manual_seed(0)
    model = MllamaForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)
