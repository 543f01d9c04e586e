"""Tiny text models: decoder LLMs, sequence-classification heads and a sentence encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._common import BBC_CLASSES, answer_in_words, bpe_vocab, chat_template, small_text_config, tokenizer_for, wordpiece_vocab

BERT_SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VLLM_HEADS: dict[str, Any] = {"num_attention_heads": 2, "num_key_value_heads": 1}
"""Two 32-wide heads (not four 16-wide): vLLM's CPU attention supports head_dim 32 and up, so
the Llama, Mistral and Qwen2 builds run on vLLM too (``--engine vllm``, docs/scale.md)."""


def _causal_lm(
    target: Path, config_cls: str, model_cls: str, tokenizer_cls: str, special: dict[str, str], byte_level: bool = True, **config: Any
) -> None:
    """Shared body of the decoder builders: tokenizer, 2-layer model, answer-word head, save."""
    import torch
    import transformers

    start, end = "<|im_start|>", "<|im_end|>"
    tokens = list(dict.fromkeys([*special.values(), start, end]))
    named: dict[str, Any] = dict(special)  # token names (bos_token=...), not tokenizer_for's own keywords
    tokenizer = tokenizer_for(tokenizer_cls, tokens, chat_template(start=start, end=end), byte_level=byte_level, **named)
    ids = {k: tokenizer.convert_tokens_to_ids(v) for k, v in special.items()}
    eos = tokenizer.convert_tokens_to_ids(end)
    cfg = getattr(transformers, config_cls)(
        **small_text_config(len(tokenizer), **config),
        bos_token_id=ids.get("bos_token"),
        eos_token_id=eos,
        pad_token_id=ids.get("pad_token", eos),
    )
    torch.manual_seed(0)
    model = getattr(transformers, model_cls)(cfg)
    answer_in_words(model, tokenizer, eos=[eos])
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = cfg.pad_token_id
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def build_llama(target: Path) -> None:
    """Llama 3.x: ``LlamaForCausalLM`` with the byte-level fast tokenizer Llama 3 checkpoints declare."""
    _causal_lm(target, "LlamaConfig", "LlamaForCausalLM", "PreTrainedTokenizerFast",
               {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, **VLLM_HEADS)  # fmt: skip


def build_mistral(target: Path) -> None:
    """Mistral v0.3: ``MistralForCausalLM`` with a ``LlamaTokenizer`` (as the real checkpoint has)."""
    _causal_lm(target, "MistralConfig", "MistralForCausalLM", "LlamaTokenizer",
               {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, byte_level=False, sliding_window=None, **VLLM_HEADS)  # fmt: skip


def build_qwen2(target: Path) -> None:
    """Qwen2.5: ``Qwen2ForCausalLM`` with a ``Qwen2Tokenizer``."""
    _causal_lm(target, "Qwen2Config", "Qwen2ForCausalLM", "Qwen2Tokenizer",
               {"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}, **VLLM_HEADS)  # fmt: skip


def build_phi3(target: Path) -> None:
    """Phi-3-mini: ``Phi3ForCausalLM`` with a ``LlamaTokenizer`` (as the real checkpoint has)."""
    _causal_lm(target, "Phi3Config", "Phi3ForCausalLM", "LlamaTokenizer",
               {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, byte_level=False,
               sliding_window=None, **VLLM_HEADS)  # fmt: skip


def build_gemma2(target: Path) -> None:
    """Gemma 2: ``Gemma2ForCausalLM`` with a ``GemmaTokenizer``."""
    _causal_lm(target, "Gemma2Config", "Gemma2ForCausalLM", "GemmaTokenizer",
               {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}, byte_level=False,
               head_dim=16, query_pre_attn_scalar=16, sliding_window=64)  # fmt: skip


def _classifier(target: Path, config_cls: str, model_cls: str, tokenizer: Any, labels: tuple[str, ...], **config: Any) -> None:
    import torch
    import transformers

    cfg = getattr(transformers, config_cls)(
        id2label=dict(enumerate(labels)), label2id={name: i for i, name in enumerate(labels)}, **config
    )
    torch.manual_seed(0)
    model = getattr(transformers, model_cls)(cfg)
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def _bert_tokenizer(cls: str = "BertTokenizer") -> Any:
    import transformers

    return getattr(transformers, cls)(vocab=wordpiece_vocab(BERT_SPECIAL))


def _byte_bpe_tokenizer(cls: str, special: dict[str, str]) -> Any:
    import transformers

    vocab, merges = bpe_vocab(list(dict.fromkeys(special.values())))
    return getattr(transformers, cls)(vocab=vocab, merges=merges, **special)


ENCODER: dict[str, Any] = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 512}
# In this order the ids are RoBERTa's own (<s>=0, <pad>=1, </s>=2, <unk>=3): its positions
# start after the pad id, so another pad id would overflow the position table.
ROBERTA_SPECIAL = {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>", "unk_token": "<unk>",
                   "sep_token": "</s>", "cls_token": "<s>", "mask_token": "<mask>"}  # fmt: skip


def build_bert_classifier(target: Path) -> None:
    """``BertForSequenceClassification``; its labels are BBC News's classes, as a fine-tuned checkpoint's would be."""
    tok = _bert_tokenizer()
    _classifier(target, "BertConfig", "BertForSequenceClassification", tok, BBC_CLASSES, vocab_size=len(tok), **ENCODER)


def build_distilbert_classifier(target: Path) -> None:
    tok = _bert_tokenizer("DistilBertTokenizer")
    _classifier(target, "DistilBertConfig", "DistilBertForSequenceClassification", tok, BBC_CLASSES,
                vocab_size=len(tok), dim=64, n_layers=2, n_heads=4, hidden_dim=128)  # fmt: skip


def build_roberta_classifier(target: Path) -> None:
    tok = _byte_bpe_tokenizer("RobertaTokenizer", ROBERTA_SPECIAL)
    _classifier(target, "RobertaConfig", "RobertaForSequenceClassification", tok, BBC_CLASSES,
                vocab_size=len(tok), pad_token_id=tok.pad_token_id, **{**ENCODER, "max_position_embeddings": 514})  # fmt: skip


def build_gpt2_classifier(target: Path) -> None:
    """GPT-2 has no pad token; like a real fine-tune, the checkpoint sets ``pad_token_id`` to EOS."""
    tok = _byte_bpe_tokenizer("GPT2Tokenizer", {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    _classifier(target, "GPT2Config", "GPT2ForSequenceClassification", tok, BBC_CLASSES, vocab_size=len(tok),
                n_embd=64, n_layer=2, n_head=4, n_positions=512,
                pad_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip


def build_bart_classifier(target: Path) -> None:
    tok = _byte_bpe_tokenizer("BartTokenizer", ROBERTA_SPECIAL)
    _classifier(target, "BartConfig", "BartForSequenceClassification", tok, BBC_CLASSES, vocab_size=len(tok),
                d_model=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
                encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=512,
                pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)  # fmt: skip


def build_bert_encoder(target: Path) -> None:
    """A plain ``BertModel``: the architecture of all-MiniLM-L6-v2 (sentence embeddings)."""
    import torch
    from transformers import BertConfig, BertModel

    tok = _bert_tokenizer()
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), **ENCODER)).save_pretrained(target)
    tok.save_pretrained(target)
