"""Tiny token-classification heads (NER): BERT, DistilBERT and RoBERTa with CoNLL-2003's tags, untrained."""

from __future__ import annotations

from pathlib import Path

from .text import ENCODER, ROBERTA_SPECIAL, _bert_tokenizer, _byte_bpe_tokenizer, _classifier

CONLL_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")
"""CoNLL-2003's tag set, in its hub order, as dslim/bert-base-NER and similar fine-tunes name them."""


def build_bert_token(target: Path) -> None:
    """``BertForTokenClassification`` over CoNLL-2003's tags (a random head: chance until fine-tuned)."""
    tok = _bert_tokenizer()
    _classifier(target, "BertConfig", "BertForTokenClassification", tok, CONLL_TAGS, vocab_size=len(tok), **ENCODER)


def build_distilbert_token(target: Path) -> None:
    tok = _bert_tokenizer("DistilBertTokenizer")
    _classifier(target, "DistilBertConfig", "DistilBertForTokenClassification", tok, CONLL_TAGS,
                vocab_size=len(tok), dim=64, n_layers=2, n_heads=4, hidden_dim=128)  # fmt: skip


def build_roberta_token(target: Path) -> None:
    tok = _byte_bpe_tokenizer("RobertaTokenizer", ROBERTA_SPECIAL)
    _classifier(target, "RobertaConfig", "RobertaForTokenClassification", tok, CONLL_TAGS,
                vocab_size=len(tok), pad_token_id=tok.pad_token_id, **{**ENCODER, "max_position_embeddings": 514})  # fmt: skip
