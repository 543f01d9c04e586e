"""The training strategies: ``finetune`` and ``linear_probe`` train a classifier, then ``direct`` evaluates it.

Both train on the dataset's training split (or a seeded hold-out of the evaluated split
when there is none; never on an evaluated item) before the evaluation, and the record
gains a ``training`` section with what that cost (:mod:`pytest_vlmbench.record.training`):

- ``finetune``: every weight of a sequence-classification head (BERT, DistilBERT, RoBERTa,
  GPT-2, BART, MiniLM ...) with a new head over the dataset's classes; AdamW, linear
  warm-up and decay (:mod:`pytest_vlmbench.training.finetune`).
- ``linear_probe``: a logistic regression on frozen embeddings: a sentence encoder's for
  text, CLIP/SigLIP's for images, both concatenated for text+image items
  (:mod:`pytest_vlmbench.training.probe`).

The training itself is library code in :mod:`pytest_vlmbench.training`, named here by the name
it registers its trainer under (:data:`pytest_vlmbench.training.pipeline.TRAINERS`), so that declaring a
strategy imports none of it and ``strategies`` refers to nothing above it; the hyperparameters
come from :attr:`StrategyConfig.training` and are recorded in the record's ``config``.
"""

from __future__ import annotations

from typing import Any

from .base import Strategy, StrategyConfig
from .direct import direct


def _finetune_settings(config: StrategyConfig) -> dict[str, Any]:
    return config.training.finetune_json()


def _probe_settings(config: StrategyConfig) -> dict[str, Any]:
    return config.training.probe_json()


FINETUNE = Strategy(
    name="finetune", needs="classify", execute=direct, settings=_finetune_settings,
    trainer="finetune",
)  # fmt: skip
"""The ``finetune`` declaration registered in ``STRATEGIES``."""

LINEAR_PROBE = Strategy(
    name="linear_probe", needs="classify", execute=direct, settings=_probe_settings,
    trainer="linear_probe",
)  # fmt: skip
"""The ``linear_probe`` declaration registered in ``STRATEGIES``."""
