"""The strategy registry: what a ``--strategy`` value names.

Extend it from a ``conftest.py`` (``STRATEGIES.register("mine", "my_pkg.strategy:run",
needs="generate")``) or from a package through the entry-point group
``pytest_vlmbench.strategies.prompting``.
"""

from __future__ import annotations

from ..registry import Registry
from .prompting import StrategyFn

STRATEGIES: Registry[StrategyFn] = Registry("strategy", "pytest_vlmbench.strategies.prompting")

STRATEGIES.register("closed_set", "pytest_vlmbench.strategies.prompting:closed_set", aliases=["closed-set"], needs="generate")
STRATEGIES.register("binary", "pytest_vlmbench.strategies.prompting:binary", aliases=["yes-no", "yes_no"], needs="generate")
STRATEGIES.register("direct", "pytest_vlmbench.strategies.direct:direct", aliases=["classify"], needs="classify")
