"""Tiny dual encoders for zero-shot image classification: CLIP and SigLIP."""

from __future__ import annotations

from pathlib import Path

from ._common import bpe_vocab

TOWER = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}


def build_clip(target: Path) -> None:
    """``CLIPModel`` with a ``CLIPProcessor`` (``CLIPTokenizer`` + ``CLIPImageProcessor``), 32x32 images."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    vocab, merges = bpe_vocab(list(dict.fromkeys(special.values())))
    tok = CLIPTokenizer(vocab=vocab, merges=merges, **special)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}), tokenizer=tok
    )
    config = CLIPConfig(
        text_config={**TOWER, "vocab_size": len(tok), "max_position_embeddings": 77,
                     "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id},  # fmt: skip
        vision_config={**TOWER, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(target)
    processor.save_pretrained(target)


def build_siglip(target: Path) -> None:
    """``SiglipModel`` with a ``SiglipProcessor``, 32x32 images.

    The real SigLIP tokenizer is SentencePiece-only (``SiglipTokenizer`` needs the
    ``sentencepiece`` package); the tiny build uses a ``GemmaTokenizer`` of the same
    SentencePiece style, so it needs nothing extra. Texts are padded to 16 tokens, as the
    real model pads to 64: SigLIP was trained on max-length padding.
    """
    import torch
    from transformers import GemmaTokenizer, SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipProcessor

    special = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}
    vocab, merges = bpe_vocab(list(special.values()), byte_level=False)
    tok = GemmaTokenizer(vocab=vocab, merges=merges, model_max_length=16, **special)
    processor = SiglipProcessor(image_processor=SiglipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok)
    config = SiglipConfig(
        text_config={**TOWER, "vocab_size": len(tok), "max_position_embeddings": 16, "pad_token_id": tok.pad_token_id,
                     "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id},  # fmt: skip
        vision_config={**TOWER, "image_size": 32, "patch_size": 8},
    )
    torch.manual_seed(0)
    SiglipModel(config).save_pretrained(target)
    processor.save_pretrained(target)
