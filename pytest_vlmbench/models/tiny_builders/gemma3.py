"""Tiny Gemma 3: the native ``gemma3`` architecture (e.g. google/gemma-3-4b-it).

A SigLIP vision tower whose patch grid is average-pooled down to ``mm_tokens_per_image``
soft tokens; the processor expands each ``<start_of_image>`` in the prompt into
``<start_of_image>`` + that many ``<image_soft_token>`` + ``<end_of_image>``, and the
decoder attends bidirectionally within an image.
"""

from __future__ import annotations

from pathlib import Path

from ._common import chat_template, small_text_config, tokenizer_for
from .vlm import _finish

GEMMA3_SPECIAL = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>",
                  "<start_of_image>", "<end_of_image>", "<image_soft_token>"]  # fmt: skip


def build_gemma3(target: Path) -> None:
    """Gemma 3: 2 text layers (sliding + global), SigLIP at 32x32 pixels pooled to 4 image tokens."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessor, Gemma3Processor

    template = chat_template(image_token="<start_of_image>", start="<start_of_turn>", end="<end_of_turn>")
    tok = tokenizer_for("GemmaTokenizer", GEMMA3_SPECIAL, template, byte_level=False,
                        bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>",
                        boi_token="<start_of_image>", eoi_token="<end_of_image>",
                        image_token="<image_soft_token>")  # fmt: skip
    ids = {t: tok.convert_tokens_to_ids(t) for t in GEMMA3_SPECIAL}
    eos, pad = ids["<end_of_turn>"], ids["<pad>"]
    # 32x32 pixels in 8-pixel patches: a 4x4 grid, average-pooled 2x2 into 4 soft tokens.
    size, patch, tokens = 32, 8, 4
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": size, "width": size}, image_mean=[0.5, 0.5, 0.5],
                                             image_std=[0.5, 0.5, 0.5]),  # fmt: skip
        tokenizer=tok,
        chat_template=template,
        image_seq_length=tokens,
    )
    config = Gemma3Config(
        text_config=small_text_config(
            len(tok),
            head_dim=16,
            query_pre_attn_scalar=16,
            # Gemma 3 interleaves local (sliding-window) and global layers; the window exceeds
            # any tiny prompt, so padding never shifts what a token sees.
            layer_types=["sliding_attention", "full_attention"],
            sliding_window=512,
            bos_token_id=ids["<bos>"],
            eos_token_id=eos,
            pad_token_id=pad,
        ),
        vision_config={"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 2, "image_size": size,
                       "patch_size": patch, "vision_use_head": False},  # fmt: skip
        mm_tokens_per_image=tokens,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        # Untied: restricting the output head to answer words must not zero the input embeddings
        # too (the real model ties them), or the tiny model would answer without seeing the image.
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(config)
    _finish(target, model, processor, tok, eos, pad)
