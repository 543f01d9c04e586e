"""Tiny LLaVA-OneVision (``llava_onevision``, the llava-hf ``-ov-hf`` checkpoints).

A real ``LlavaOnevisionProcessor``: a SigLIP-sized image processor at 28x28 pixels with an
any-resolution grid of at most two tiles (28x28, 28x56, 56x28), so an image becomes
4 base tokens plus 2-8 grid and newline tokens; its ``LlavaOnevisionVideoProcessor`` (which
needs torchvision) is sized alike so the checkpoint saves and reloads as the real one does.
"""

from __future__ import annotations

from pathlib import Path

from ._common import chat_template, small_text_config, tokenizer_for
from .vlm import _finish

ONEVISION_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]


def build_llava_onevision(target: Path) -> None:
    """LLaVA-OneVision: 2-layer SigLIP on 28x28 tiles of 14x14 patches (4 tokens a tile), Qwen2 decoder."""
    import torch
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        LlavaOnevisionImageProcessor,
        LlavaOnevisionProcessor,
        LlavaOnevisionVideoProcessor,
    )

    template = chat_template(image_token="<image>\n")
    tok = tokenizer_for(
        "Qwen2Tokenizer",
        ONEVISION_SPECIAL,
        template,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
    )
    eos, pad, image, video = (tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>", "<image>", "<video>"))
    size, patch = 28, 14
    pinpoints = [[size, size], [size, 2 * size], [2 * size, size]]
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size={"height": size, "width": size}, image_grid_pinpoints=pinpoints),
        video_processor=LlavaOnevisionVideoProcessor(size={"height": size, "width": size}),
        tokenizer=tok,
        num_image_tokens=(size // patch) ** 2,
        vision_feature_select_strategy="full",
        chat_template=template,
        vision_aspect_ratio="anyres_max_9",
    )
    config = LlavaOnevisionConfig(
        vision_config={"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": size, "patch_size": patch,
                       "vision_use_head": False},  # fmt: skip
        text_config={"model_type": "qwen2", **small_text_config(len(tok), eos_token_id=eos, pad_token_id=pad,
                                                                bos_token_id=pad, tie_word_embeddings=False)},  # fmt: skip
        image_token_index=image,
        video_token_index=video,
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        vision_aspect_ratio="anyres_max_9",
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlavaOnevisionForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)
