"""Regression gate and comparisons across saved runs (issue #5).

A plain library: no pytest, no torch. :mod:`pytest_vlmbench.plugin.gate` puts it into
pytest, :mod:`pytest_vlmbench.cli.compare` into the ``vlmbench`` command. The method is
documented in docs/gate.md.
"""

from __future__ import annotations

from .baseline import Run, load_run, parse_run, record_key
from .compare import CaseComparison, Finding, compare_records
from .flips import case_flips, run_flips
from .metrics import METRICS, GateError, MetricSpec
from .series import Series, compare_series, render
from .significance import TestResult, mcnemar, paired_bootstrap
from .thresholds import Threshold, merge_layers, parse_layer, parse_threshold

__all__ = [
    "METRICS",
    "CaseComparison",
    "Finding",
    "GateError",
    "MetricSpec",
    "Run",
    "Series",
    "TestResult",
    "Threshold",
    "case_flips",
    "compare_records",
    "compare_series",
    "load_run",
    "mcnemar",
    "merge_layers",
    "paired_bootstrap",
    "parse_layer",
    "parse_run",
    "parse_threshold",
    "record_key",
    "render",
    "run_flips",
]
