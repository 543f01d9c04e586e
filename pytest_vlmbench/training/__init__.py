"""Training for the ``finetune`` and ``linear_probe`` strategies: plain library code, no pytest.

- :mod:`.split`: the training items (a training split, or a seeded hold-out), never an evaluated one;
- :mod:`.finetune`: a plain, seeded torch loop over a sequence-classification head;
- :mod:`.embed` and :mod:`.probe`: frozen embeddings and a scikit-learn logistic regression;
- :mod:`.weights_cache`: trained weights kept under the cache directory, keyed by base model,
  data, hyperparameters and seed, so an unchanged rerun does not train again;
- :mod:`.run`: :func:`~.run.train_and_evaluate`, the whole path for library use.

Nothing is imported here, so that declaring a strategy loads no training code.
"""
