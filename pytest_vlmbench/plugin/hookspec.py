"""Hooks that pytest-vlmbench calls; implement them in a ``conftest.py`` or a plugin."""

from __future__ import annotations

import pytest

from ..record import Record


@pytest.hookspec
def pytest_vlmbench_evaluated(item: pytest.Item, record: Record) -> None:
    """Called inside the test, right after an evaluation, with its :class:`~pytest_vlmbench.record.Record`.

    Raise (e.g. ``pytest.fail``) to fail the item; the record has already been saved.
    Example -- fail any item whose invalid-answer rate is above 20%::

        def pytest_vlmbench_evaluated(item, record):
            if record.metrics.invalid_rate > 0.2:
                pytest.fail(f"{record.model} answered off-list too often", pytrace=False)
    """
