"""Regression gate and comparisons across saved runs (issue #5).

A plain library: no pytest, no torch. It reads and compares
:class:`~pytest_vlmbench.record.Record` objects. :mod:`pytest_vlmbench.plugin.gate` puts it into
pytest, :mod:`pytest_vlmbench.cli.compare` into the ``vlmbench`` command. The method is
documented in docs/gate.md.
"""

from __future__ import annotations

from .baseline import Run, SavedRecord, load_run, parse_run
from .compare import CaseComparison, Finding, compare_records
from .flips import case_flips, run_flips
from .metrics import METRICS, GateError, MetricSpec
from .series import CaseHistory, Series, compare_series, render
from .significance import TestResult, mcnemar, paired_bootstrap
from .thresholds import Threshold, merge_layers, parse_layer, parse_threshold
from .verdict import Verdict, gate_report_lines, judge_record

__all__ = [
    "METRICS",
    "CaseComparison",
    "CaseHistory",
    "Finding",
    "GateError",
    "MetricSpec",
    "Run",
    "SavedRecord",
    "Series",
    "TestResult",
    "Threshold",
    "Verdict",
    "case_flips",
    "compare_records",
    "compare_series",
    "gate_report_lines",
    "judge_record",
    "load_run",
    "mcnemar",
    "merge_layers",
    "paired_bootstrap",
    "parse_layer",
    "parse_run",
    "parse_threshold",
    "render",
    "run_flips",
]
