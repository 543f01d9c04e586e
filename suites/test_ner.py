"""Named-entity recognition: every selected NER model x NER dataset x NER strategy.

Without options this runs offline on ``ner_generated`` -- 60 *generated* sentences
(templates filled with invented names, PER/LOC/ORG in IOB2; a smoke test of the NER path,
not a benchmark) -- with ``tiny:bert-ner``, a tiny random BERT token-classification head:

- ``ner_direct``: the head as built (CoNLL-2003's tags, untrained): entity F1 near 0;
- ``ner_finetune``: a new token head trained on the set's generated ``train`` split first
  (the record gains a ``training`` section; the weights are cached).

The real datasets (``--dataset conll2003``, ``wnut_17``, ``wikiner``, a CoNLL file, a
JSONL/Parquet file with ``tokens`` + ``ner_tags``) and LLM prompting
(``--model tiny:qwen2.5-7b --strategy ner_prompt [--answer-style json]``) run here too
(docs/strategies.md, "Named-entity recognition").
"""

import pytest

pytestmark = pytest.mark.vlmbench(
    models=["tiny:bert-ner"],
    datasets=["ner_generated"],
    strategies=["ner_direct", "ner_finetune", "ner_prompt"],
    modality="text",
    # A token head tags every token: only a prompted LLM's answer can fail to parse (the gate judges it).
    max_invalid_rate={"ner_direct": 0.0, "ner_finetune": 0.0},
)


def test_ner(vlmbench):
    record = vlmbench.run()
    assert record.n_items > 0, "no sentence was evaluated"
    assert record.ner is not None, "a NER run's record has no entity scores"
