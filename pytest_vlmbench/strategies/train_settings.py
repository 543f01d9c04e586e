"""The hyperparameters of the training strategies (``finetune``, ``linear_probe``).

Kept apart from :mod:`.base` so the settings a strategy records and the library that
trains (:mod:`pytest_vlmbench.training`) share one definition. The defaults are the usual
ones for fine-tuning BERT-sized classifiers (Devlin et al.; the benchmarks in
``docs/benchmarks.md`` fine-tune BERT, DistilBERT, RoBERTa, GPT-2 and BART without stating
theirs): learning rate 2e-5, 3 epochs, batch 16, 256 tokens, 10% linear warm-up, weight
decay 0.01. ``finetune`` of a generative text model trains LoRA adapters instead
(:mod:`pytest_vlmbench.training.lora`), with LoRA's usual defaults: rank 8, alpha 16,
dropout 0.05, learning rate 2e-4 (LoRA trains few weights from zero: a tenth of that barely moves them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

HOLDOUT = "holdout"
"""The ``split`` value that forces a seeded hold-out of the evaluated split."""


@dataclass(frozen=True)
class TrainSettings:
    """How a training strategy trains; every field that can change the result is recorded."""

    learning_rate: float | None = None
    """``None``: 2e-5 for a full fine-tune, 2e-4 for LoRA (:meth:`lr`)."""
    epochs: int = 3
    batch_size: int = 16
    """Training items per optimiser step (and per embedding batch of ``linear_probe``)."""
    max_length: int = 256
    """Tokens per training text (longer texts are truncated)."""
    warmup_ratio: float = 0.1
    """Share of the optimiser steps over which the learning rate rises linearly from 0; it then decays linearly to 0."""
    weight_decay: float = 0.01
    split: str | None = None
    """The split trained on: ``None`` = ``train`` when the source has one besides the evaluated split, else a
    hold-out; a split name; or ``holdout``."""
    limit: int | None = None
    """At most this many training items (seeded, balanced over classes); ``None``: all."""
    test_fraction: float = 0.3
    """Hold-out only: the seeded share of each class that is evaluated; the rest is trained on."""
    probe_c: float = 1.0
    """``linear_probe``: inverse regularisation strength of the logistic regression (scikit-learn's ``C``)."""
    lora_r: int = 8
    """LoRA (``finetune`` of a generative text model): the rank of each adapter."""
    lora_alpha: float = 16.0
    """LoRA: the adapters' scale is ``lora_alpha / lora_r``."""
    lora_dropout: float = 0.05
    """LoRA: dropout on the adapters' input."""

    def lr(self, lora: bool = False) -> float:
        """The learning rate trained with: the one given, else the default of a full fine-tune or of LoRA."""
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-4 if lora else 2e-5

    @classmethod
    def parse(cls, text: str) -> TrainSettings:
        """``"epochs=1,lr=1e-3,split=holdout"`` -> settings (``lr`` names ``learning_rate``); ``ValueError`` with one sentence."""
        names = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, raw = (s.strip() for s in part.partition("="))
            key = {"lr": "learning_rate"}.get(key, key)
            if not sep or key not in names or not raw:
                raise ValueError(f"takes KEY=VALUE pairs with KEY one of lr, {', '.join(n for n in names if n != 'learning_rate')}; got {part!r}")
            kind = str(names[key].type)
            try:
                values[key] = raw if "str" in kind else int(raw) if "int" in kind else float(raw)
            except ValueError:
                raise ValueError(f"{key} takes a {'whole ' if 'int' in kind else ''}number, got {raw!r}") from None
        settings = replace(cls(), **values)
        if min(settings.epochs, settings.batch_size, settings.max_length, settings.limit or 1, settings.lora_r) < 1 or settings.lr() <= 0:
            raise ValueError("lr, epochs, batch_size, max_length, limit and lora_r must be positive")
        if settings.lora_alpha <= 0 or not 0 <= settings.lora_dropout < 1:
            raise ValueError("lora_alpha must be positive and lora_dropout at least 0 and below 1")
        if not 0 < settings.test_fraction < 1:
            raise ValueError(f"test_fraction must lie between 0 and 1, got {settings.test_fraction}")
        return settings

    @classmethod
    def parser(cls, error: type[Exception]) -> Callable[[str, Any], TrainSettings]:
        """An options-table parser: ``(flag, raw value) -> settings``, raising ``error`` with one sentence."""

        def parse(flag: str, value: Any) -> TrainSettings:
            try:
                return cls.parse(str(value or ""))
            except ValueError as exc:
                raise error(f"{flag} {exc}.") from None

        return parse

    def finetune_json(self, lora: bool = False) -> dict[str, Any]:
        """What ``finetune`` records in the config (the baseline key) and keys its weights cache by;
        ``lora``: LoRA's, its learning rate and adapter settings included."""
        adapters = {"train_lora_r": self.lora_r, "train_lora_alpha": self.lora_alpha, "train_lora_dropout": self.lora_dropout}
        return {
            "train_lr": self.lr(lora), "train_epochs": self.epochs, "train_batch_size": self.batch_size,
            "train_max_length": self.max_length, "train_warmup_ratio": self.warmup_ratio,
            "train_weight_decay": self.weight_decay, **(adapters if lora else {}), **self._data_json(),
        }  # fmt: skip

    def probe_json(self) -> dict[str, Any]:
        """What ``linear_probe`` records in the config and keys its cache by."""
        return {"probe_c": self.probe_c, **self._data_json()}

    def _data_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"train_split": self.split or "auto", "train_limit": self.limit}
        if self.split in (None, HOLDOUT):
            out["train_test_fraction"] = self.test_fraction
        return out
