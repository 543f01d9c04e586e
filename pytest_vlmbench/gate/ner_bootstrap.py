"""Paired bootstrap over sentences for NER metrics (entity-level, strict IOB2, and token accuracy).

A NER record's predictions are tag sequences (:mod:`pytest_vlmbench.datasets.ner`), so the
per-item pairing of :mod:`.compare` pairs sentences. Each sentence contributes counts --
per entity type: entities right (same span and type), predicted, gold; tokens right and
tokens -- and a resample of sentences recomputes the metric from the summed counts, as
:func:`.significance.paired_bootstrap` does for classes (Berg-Kirkpatrick et al. 2012).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ner.scores import tag_rows
from ..ner.spans import spans
from .significance import DEFAULT_ALPHA, DEFAULT_RESAMPLES, Direction, TestResult, averaged_metric, bootstrap_p, untestable_pairs


def is_tag_set(classes: Sequence[str]) -> bool:
    """True when ``classes`` are IOB tags (``O``, ``B-X``, ``I-X``): the record is a NER run."""
    return "O" in classes and all(c == "O" or c[:2] in ("B-", "I-") for c in classes)


def _counts(labels: Sequence[str], predictions: Sequence[str | None], types: list[str]) -> Any:
    """Per sentence: ``[tp x T, predicted x T, gold x T, tokens right, tokens]``."""
    import numpy as np

    gold, pred = tag_rows(labels, predictions)
    index = {t: i for i, t in enumerate(types)}
    k = len(types)
    rows = np.zeros((len(gold), 3 * k + 2))
    for n, (g, p) in enumerate(zip(gold, pred)):
        gs, ps = set(spans(g)), set(spans(p))
        for span in ps & gs:
            rows[n, index[span.kind]] += 1
        for span in ps:
            rows[n, k + index[span.kind]] += 1
        for span in gs:
            rows[n, 2 * k + index[span.kind]] += 1
        rows[n, 3 * k] = sum(a == b for a, b in zip(g, p))
        rows[n, 3 * k + 1] = len(g)
    return rows


def ner_metric(metric: str, counts: Any, k: int) -> Any:
    """``metric`` from summed counts (``[..., 3k + 2]``)."""
    import numpy as np

    tp, predicted, gold = counts[..., :k], counts[..., k : 2 * k], counts[..., 2 * k : 3 * k]
    if metric == "token_accuracy":
        total = counts[..., 3 * k + 1]
        return np.where(total > 0, counts[..., 3 * k] / np.where(total > 0, total, 1), 0.0)
    if metric.startswith(("macro_", "weighted_")):
        return averaged_metric(metric, tp, predicted, gold)
    t, p, g = tp.sum(axis=-1), predicted.sum(axis=-1), gold.sum(axis=-1)
    num, den = {"entity_precision": (t, p), "entity_recall": (t, g), "entity_f1": (2 * t, p + g)}[metric]
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)


def ner_bootstrap(
    metric: str,
    labels: Sequence[str],
    baseline: Sequence[str | None],
    current: Sequence[str | None],
    classes: Sequence[str],
    *,
    higher_is_better: bool = True,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TestResult:
    """Paired bootstrap over sentences of a NER metric (entity_*, token_accuracy, macro_*/weighted_* over types)."""
    untestable = untestable_pairs("paired bootstrap (sentences)", baseline, current, alpha)
    if untestable is not None:
        return untestable
    types = sorted({c[2:] for c in classes if c != "O"})
    k = len(types)
    counts_b, counts_c = _counts(labels, baseline, types), _counts(labels, current, types)

    def delta(weights: Any) -> Any:
        diff = ner_metric(metric, weights @ counts_c, k) - ner_metric(metric, weights @ counts_b, k)
        return diff if higher_is_better else -diff

    return bootstrap_p("paired bootstrap (sentences)", baseline, current, delta, direction, resamples, seed)
