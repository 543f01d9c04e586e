"""Tiny Qwen3-VL: the native ``qwen3_vl`` architecture (e.g. Qwen/Qwen3-VL-2B-Instruct).

Qwen3-VL keeps Qwen2-VL's tokens and chat layout but has a 16-pixel patch (so a merged
image token covers 32x32 pixels), interleaved multimodal rotary sections, a learned
position grid in the vision tower, and *deepstack*: features from chosen vision layers
are added to the first decoder layers' hidden states at the image positions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import tiny
from ._common import small_text_config
from .vlm import _finish, _qwen_vision_token_ids, qwen_tokenizer


def build_qwen3_vl(target: Path) -> None:
    """Qwen3-VL: 2 text layers, 2 vision blocks (one deepstack layer), 64x64-pixel images (4 image tokens)."""
    import torch
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    tok, ids = qwen_tokenizer()
    # 16-pixel patches merged 2x2: a 64x64 image is 4x4 patches, i.e. 4 image tokens.
    patch, merge, side = 16, 2, 64
    pixels = {"shortest_edge": side * side, "longest_edge": side * side}
    half: dict[str, Any] = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}  # as the real checkpoint's
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(size=pixels, patch_size=patch, merge_size=merge, **half),
        video_processor=Qwen3VLVideoProcessor(size=pixels, patch_size=patch, merge_size=merge, **half),
        tokenizer=tok,
        chat_template=tiny.QWEN2_VL_CHAT_TEMPLATE,
    )
    config = Qwen3VLConfig(
        text_config=small_text_config(
            len(tok),
            head_dim=16,
            # Interleaved T/H/W rotary sections, summing to head_dim / 2.
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3],
                             "mrope_interleaved": True},  # fmt: skip
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config={"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "patch_size": patch,
                       "spatial_merge_size": merge, "out_hidden_size": 64, "num_position_embeddings": 16,
                       "deepstack_visual_indexes": [0]},  # fmt: skip
        **_qwen_vision_token_ids(ids),
    )
    torch.manual_seed(0)
    model = Qwen3VLForConditionalGeneration(config)
    _finish(target, model, processor, tok, ids["<|im_end|>"], ids["<|endoftext|>"])
