"""Tiny Phi-4-multimodal: transformers' native ``phi4_multimodal`` (microsoft/Phi-4-multimodal-instruct).

A real ``Phi4MultimodalProcessor`` with its image processor *and* its audio feature
extractor (the processor cannot be built without one). The image processor cuts an image
into square crops plus a global view and writes each image's token count with constants of
the real 448-px / 14-px geometry (a 32x32 patch grid pooled 2x2: 256 global tokens, 16 row
separators, 1 divider, then the crops' tokens and their row separators), so the tiny vision
tower keeps that 32x32 patch grid: 32-pixel crops of 1-pixel patches. An image is therefore
at least 545 tokens, as in the real model; only the widths are tiny.
"""

from __future__ import annotations

from pathlib import Path

from ._common import small_text_config, tokenizer_for
from .vlm import _finish

PHI4MM_SPECIAL = ["<|endoftext|>", "<|end|>", "<|user|>", "<|assistant|>", "<|system|>", "<|image|>", "<|audio|>"]

PHI4MM_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|image|>"
    "{% elif content['type'] == 'audio' %}<|audio|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
"""The layout of the hub's HF-format template: ``<|user|><|image|>text<|end|><|assistant|>``."""


def build_phi4_multimodal(target: Path) -> None:
    """Phi-4-multimodal: 2 text layers (partial rotary), 2-layer SigLIP-style tower on 32-px crops, 1-block audio encoder."""
    import torch
    from transformers import (
        Phi4MultimodalConfig,
        Phi4MultimodalFeatureExtractor,
        Phi4MultimodalForCausalLM,
        Phi4MultimodalImageProcessor,
        Phi4MultimodalProcessor,
    )

    tok = tokenizer_for(
        "GPT2Tokenizer",
        PHI4MM_SPECIAL,
        PHI4MM_CHAT_TEMPLATE,
        bos_token="<|endoftext|>",
        eos_token="<|end|>",
        pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        extra_special_tokens={"image_token": "<|image|>", "audio_token": "<|audio|>"},
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in PHI4MM_SPECIAL}
    eos, pad = ids["<|end|>"], ids["<|endoftext|>"]
    # The processor's token count assumes a 32x32 patch grid per crop (448 / 14 in the real model).
    size, patch = 32, 1
    processor = Phi4MultimodalProcessor(
        image_processor=Phi4MultimodalImageProcessor(size={"height": size, "width": size}, patch_size=patch, dynamic_hd=4),
        audio_processor=Phi4MultimodalFeatureExtractor(),
        tokenizer=tok,
        chat_template=PHI4MM_CHAT_TEMPLATE,
    )
    config = Phi4MultimodalConfig(
        **small_text_config(len(tok), bos_token_id=pad, eos_token_id=[eos], pad_token_id=pad),
        # Phi-4-mini rotates 3/4 of each head with LongRoPE; the switch to the long factors at
        # 4096 positions is far beyond a classification prompt, as in the real model.
        # ``factor`` is max / original positions (8192 / 4096), which transformers asks to be explicit.
        rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "partial_rotary_factor": 0.75, "factor": 2.0,
                         "short_factor": [1.0] * 6, "long_factor": [1.0] * 6},  # fmt: skip
        original_max_position_embeddings=4096,
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": size, "patch_size": patch, "crop_size": size,
                       "image_token_id": ids["<|image|>"]},  # fmt: skip
        audio_config={"hidden_size": 32, "intermediate_size": 64, "num_blocks": 1, "num_attention_heads": 2,
                      "ext_pw_out_channel": 32, "depthwise_separable_out_channel": 32, "nemo_conv_channels": 32,
                      "audio_token_id": ids["<|audio|>"]},  # fmt: skip
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = Phi4MultimodalForCausalLM(config)
    _finish(target, model, processor, tok, eos, pad)
