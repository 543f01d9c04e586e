"""The HTML report of one or more saved runs (issue #13): one self-contained file that opens from disk.

A plain library, like the gate it reads its verdicts from: ``vlmbench report`` (:mod:`pytest_vlmbench.cli.report`)
and ``--vlmbench-report`` (:mod:`pytest_vlmbench.plugin.report`) both call :func:`write_report`.
:mod:`.data` holds the pivots, :mod:`.figures` draws them with matplotlib (the ``report`` extra),
:mod:`.html` writes the page. What the page shows is documented in docs/results.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

from ..gate.baseline import Run
from ..gate.significance import DEFAULT_ALPHA
from ..gate.thresholds import Threshold
from ..gate.verdict import Verdict
from ..secrets import redact
from .data import NO_MATPLOTLIB, ReportData, ReportError, build_data
from .html import render_page

__all__ = ["ReportData", "ReportError", "build_data", "check_can_draw", "package_version", "render_page", "write_report"]


def check_can_draw() -> None:
    """:class:`ReportError` when matplotlib is missing: said before a run, not after it."""
    if find_spec("matplotlib") is None:
        raise ReportError(NO_MATPLOTLIB)


def package_version() -> str:
    try:
        return version("pytest-vlmbench")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown version"


def write_report(
    path: str | os.PathLike[str],
    runs: Sequence[Run],
    *,
    thresholds: Mapping[str, Threshold] | None = None,
    alpha: float = DEFAULT_ALPHA,
    title: str = "pytest-vlmbench report",
    produced_by: str = "",
    verdicts: Mapping[str, Verdict] | None = None,
) -> ReportData:
    """Write the report of ``runs`` (oldest first) to ``path``; returns what it showed.

    ``verdicts``: the gate's verdicts on the last run's items by node id, when a pytest run
    already judged them (else the gate judges each run against the one before it here).
    The page passes through :func:`pytest_vlmbench.secrets.redact`, like every other output.
    It is written to a temporary file and renamed, so a half-written report never looks done.
    """
    check_can_draw()
    data = build_data(runs, thresholds=thresholds, alpha=alpha, title=title, produced_by=produced_by, verdicts=verdicts)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(redact(render_page(data)), encoding="utf-8")
    tmp.replace(target)
    return data
