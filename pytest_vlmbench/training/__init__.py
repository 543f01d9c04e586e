"""Training for the ``finetune`` and ``linear_probe`` strategies: plain library code, no pytest.

- :mod:`.split`: the training items (a training split, or a seeded hold-out), never an evaluated one;
- :mod:`.fit`: the seeded torch loop and the cached fit every fine-tune shares;
- :mod:`.finetune`: ``finetune`` of a sequence-classification head (every weight) and, through
  :mod:`.lora`, of a generative text LLM (LoRA adapters and a head, with peft);
- :mod:`.ner_finetune`: a token-classification head for NER;
- :mod:`.embed` and :mod:`.probe`: frozen embeddings and a scikit-learn logistic regression;
- :mod:`.weights_cache`: trained weights kept under the cache directory, keyed by base model,
  data, hyperparameters and seed, so an unchanged rerun does not train again;
- :mod:`.pipeline`: :func:`~.pipeline.train_and_evaluate` (split, train, evaluate), the whole path for library use.

Nothing is imported here, so that declaring a strategy loads no training code.
"""
