"""The strategy registry: what a ``--strategy`` value names.

What gets registered is a :class:`~pytest_vlmbench.strategies.base.Strategy` (or a lazy
``"module:attr"`` string naming one), which carries its own ``needs``, function, template
and record description. Extend it from a ``conftest.py``::

    STRATEGIES.register("mine", "my_pkg.strategy:MINE")   # MINE = Strategy(name="mine", ...)

or from a package through the entry-point group ``pytest_vlmbench.strategies``. Look a
strategy up with :func:`get_strategy`, never by comparing names.
"""

from __future__ import annotations

from dataclasses import replace

from ..registry import Registry
from .base import Strategy

STRATEGIES: Registry[Strategy] = Registry("strategy", "pytest_vlmbench.strategies")

STRATEGIES.register("closed_set", "pytest_vlmbench.strategies.closed_set:CLOSED_SET", aliases=["closed-set"])
STRATEGIES.register("binary", "pytest_vlmbench.strategies.binary:BINARY", aliases=["yes-no", "yes_no"])
STRATEGIES.register("direct", "pytest_vlmbench.strategies.direct:DIRECT", aliases=["classify"])
STRATEGIES.register("finetune", "pytest_vlmbench.strategies.trained:FINETUNE", aliases=["fine-tune", "ft"])
STRATEGIES.register("linear_probe", "pytest_vlmbench.strategies.trained:LINEAR_PROBE", aliases=["linear-probe", "probe"])
STRATEGIES.register("ner_direct", "pytest_vlmbench.strategies.ner:NER_DIRECT", aliases=["ner-direct"])
STRATEGIES.register("ner_finetune", "pytest_vlmbench.strategies.ner:NER_FINETUNE", aliases=["ner-finetune", "ner-ft"])
STRATEGIES.register("ner_prompt", "pytest_vlmbench.strategies.ner:NER_PROMPT", aliases=["ner-prompt"])


def get_strategy(name: str) -> Strategy:
    """The :class:`Strategy` registered under ``name`` or an alias of it (importing it on first use).

    Raises :class:`~pytest_vlmbench.registry.UnknownNameError` for an unknown name, and
    ``TypeError`` when the entry is not a ``Strategy`` (e.g. a bare function). The result
    carries the registered canonical name, which is what records and item ids use.
    """
    entry = STRATEGIES.get(name)
    strategy: object = entry.load()
    if not isinstance(strategy, Strategy):
        raise TypeError(
            f"Strategy entry {entry.name!r} is {type(strategy).__name__}, not a "
            f"pytest_vlmbench.strategies.Strategy; register a Strategy(name=..., needs=..., execute=...)."
        )
    return strategy if strategy.name == entry.name else replace(strategy, name=entry.name)
