"""Tiny MiniCPM-V 4.6: transformers' native ``minicpmv4_6`` (openbmb/MiniCPM-V-4.6).

A SigLIP-style NaViT vision tower whose window-attention merger and MLP merger each fold
2x2 patches (16x fewer tokens), over a Qwen3.5 decoder (linear and full attention layers).
The real ``MiniCPMV4_6Processor`` slices large images into a grid of crops, each with its own
placeholder; here a 56-pixel scale makes an image 4 tokens and a crop at most 4 more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import chat_template, small_text_config, tokenizer_for
from .vlm import _finish

MINICPMV_TOKENS: dict[str, Any] = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "image_start_token": "<image>",
    "image_end_token": "</image>",
    "slice_start_token": "<slice>",
    "slice_end_token": "</slice>",
    "image_id_start_token": "<image_id>",
    "image_id_end_token": "</image_id>",
}
"""The named tokens ``MiniCPMV4_6Processor`` reads off its tokenizer."""


def build_minicpmv4_6(target: Path) -> None:
    """MiniCPM-V 4.6: 2 vision layers (merger after the first), 56-pixel scale, slices of at most 2 crops."""
    import torch
    from transformers import (
        MiniCPMV4_6Config,
        MiniCPMV4_6ForConditionalGeneration,
        MiniCPMV4_6ImageProcessor,
        MiniCPMV4_6Processor,
        MiniCPMV4_6VideoProcessor,
    )

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *MINICPMV_TOKENS.values()]
    template = chat_template(image_token=MINICPMV_TOKENS["image_token"])
    tok = tokenizer_for("Qwen2Tokenizer", special, template, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                        unk_token="<|endoftext|>", **MINICPMV_TOKENS)  # fmt: skip
    eos, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    # Sides are rounded to multiples of patch * 4 (two 2x2 merges): 28 pixels per image token.
    size, patch = 56, 7
    processor = MiniCPMV4_6Processor(
        image_processor=MiniCPMV4_6ImageProcessor(scale_resolution=size, patch_size=patch, max_slice_nums=2),
        video_processor=MiniCPMV4_6VideoProcessor(scale_resolution=size, patch_size=patch, max_slice_nums=2),
        tokenizer=tok,
        chat_template=template,
    )
    config = MiniCPMV4_6Config(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": size, "patch_size": patch},  # fmt: skip
        text_config={
            "model_type": "qwen3_5_text",
            **small_text_config(len(tok), eos_token_id=eos, pad_token_id=pad, bos_token_id=pad),
            "head_dim": 16,
            "layer_types": ["linear_attention", "full_attention"],
            "linear_key_head_dim": 16,
            "linear_value_head_dim": 16,
            "linear_num_key_heads": 2,
            "linear_num_value_heads": 4,
        },
        insert_layer_id=0,
        image_size=size,
        image_token_id=tok.convert_tokens_to_ids(MINICPMV_TOKENS["image_token"]),
        video_token_id=tok.convert_tokens_to_ids(MINICPMV_TOKENS["video_token"]),
    )
    torch.manual_seed(0)
    model = MiniCPMV4_6ForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)
