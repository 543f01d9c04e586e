"""Tiny InternVL3 (transformers' native ``internvl``, the ``-hf`` checkpoints).

A real ``InternVLProcessor``: a Qwen2 tokenizer whose named special tokens
(``start_image_token`` ``<img>``, ``end_image_token`` ``</img>``, ``context_image_token``
``<IMG_CONTEXT>``, ``video_token`` ``<video>``) are what the processor looks up, and a
``GotOcr2ImageProcessor`` tiling images into 32x32 tiles (at most two, plus a thumbnail
when there are two), each tile four ``<IMG_CONTEXT>`` tokens after the pixel shuffle.
"""

from __future__ import annotations

from pathlib import Path

from ._common import chat_template, small_text_config, tokenizer_for
from .vlm import _finish

INTERNVL_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>", "<video>"]


def build_internvl(target: Path) -> None:
    """InternVL3: 2-layer InternViT on 32x32 tiles of 8x8 patches, pixel shuffle 0.5 -> 4 tokens a tile."""
    import torch
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    template = chat_template(image_token="<IMG_CONTEXT>\n")
    tok = tokenizer_for(
        "Qwen2Tokenizer",
        INTERNVL_SPECIAL,
        template,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        extra_special_tokens={
            "start_image_token": "<img>",
            "end_image_token": "</img>",
            "context_image_token": "<IMG_CONTEXT>",
            "video_token": "<video>",
        },
    )
    eos, pad, image = (tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>", "<IMG_CONTEXT>"))
    size, patch, downsample = 32, 8, 0.5
    seq_len = int((size // patch) ** 2 * downsample**2)
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(
            size={"height": size, "width": size}, crop_to_patches=True, min_patches=1, max_patches=2
        ),
        video_processor=InternVLVideoProcessor(size={"height": size, "width": size}),
        tokenizer=tok,
        image_seq_length=seq_len,
        chat_template=template,
    )
    config = InternVLConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": size, "patch_size": patch},  # fmt: skip
        text_config={"model_type": "qwen2", **small_text_config(len(tok), eos_token_id=eos, pad_token_id=pad,
                                                                bos_token_id=pad, tie_word_embeddings=False)},  # fmt: skip
        image_token_id=image,
        image_seq_length=seq_len,
        downsample_ratio=downsample,
        # The head is restricted to answer words; tied, that would wipe the input embeddings too.
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = InternVLForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)
