"""Is a change in a quality metric more than noise? Tests on the paired per-item predictions.

Both runs answered the same items, so they are compared item by item, not as two samples:

- accuracy and invalid_rate: McNemar's exact test. Only the items whose outcome changed
  (right -> wrong or wrong -> right) carry information; under "no real change" each of them
  is equally likely to have gone either way, so the count that went the observed way is
  Binomial(changed, 1/2). The p-value is the exact one-sided tail, computed with integers.
- precision/recall/F1 averages: a seeded paired bootstrap over items. Items are resampled
  with replacement (the same items for both runs), the metric difference is recomputed on
  each resample, and the p-value is the share of resamples, shifted to centre on "no
  change", that are at least as extreme as the observed difference.

Both are one-sided in the direction of the observed change: a gate asks "did it get
worse?", and the summary asks "did it get better?".

Too few items to decide: with ``k`` changed items the smallest p-value any outcome can give
is ``0.5 ** k`` (all changes the same way). When that is above ``alpha`` no result could be
significant, and the test says so instead of returning a p-value. At alpha 0.05 that means
fewer than 5 changed items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

DEFAULT_ALPHA = 0.05
DEFAULT_RESAMPLES = 2000

Direction = Literal["worse", "better", None]
"""The side a one-sided test looks at; ``None``: the side the observed change is on."""


@dataclass(frozen=True)
class TestResult:
    """The outcome of a paired significance test."""

    method: str
    """``McNemar exact`` or ``paired bootstrap``."""
    n_pairs: int
    """Items present in both runs."""
    n_changed: int
    """Items whose outcome differs between the runs."""
    p_value: float | None
    """One-sided p-value in the direction of the change; ``None`` when undecidable."""
    reason: str | None = None
    """Why there is no p-value (too few changed items, nothing paired)."""

    def significant(self, alpha: float) -> bool:
        return self.p_value is not None and self.p_value <= alpha


def min_changed_items(alpha: float) -> int:
    """Fewest changed items for which any outcome can reach ``p <= alpha``."""
    if alpha <= 0:
        return 1 << 30
    return max(1, math.ceil(math.log2(1 / alpha) - 1e-12))


def too_few_reason(n_changed: int, alpha: float) -> str | None:
    need = min_changed_items(alpha)
    if n_changed >= need:
        return None
    return f"too few changed items to decide: {n_changed} changed, {need} needed at alpha {alpha:g}"


def binomial_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exact (integer arithmetic)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    # Sum the shorter side: P(X >= k) = 1 - P(X <= k-1).
    total = 2**n
    if k > n // 2:
        return float(sum(math.comb(n, i) for i in range(k, n + 1)) / total)
    return 1.0 - float(sum(math.comb(n, i) for i in range(k)) / total)


def mcnemar(
    baseline: Sequence[bool], current: Sequence[bool], alpha: float = DEFAULT_ALPHA, direction: Direction = None
) -> TestResult:
    """McNemar's exact test on paired binary outcomes, True meaning good (e.g. correct).

    With ``b`` items True -> False and ``c`` items False -> True, the p-value for
    ``direction="worse"`` is P(X >= b) for X ~ Binomial(b + c, 1/2), for ``"better"``
    P(X >= c); ``None`` tests the direction the data moved (P(X >= max(b, c))).
    """
    b = sum(1 for x, y in zip(baseline, current) if x and not y)
    c = sum(1 for x, y in zip(baseline, current) if y and not x)
    n = min(len(baseline), len(current))
    changed = b + c
    if changed == 0:
        return TestResult("McNemar exact", n, 0, 1.0)
    reason = too_few_reason(changed, alpha)
    if reason is not None:
        return TestResult("McNemar exact", n, changed, None, reason)
    k = b if direction == "worse" else c if direction == "better" else max(b, c)
    return TestResult("McNemar exact", n, changed, binomial_tail(k, changed))


_AVERAGED = {f"{avg}_{m}" for avg in ("macro", "weighted") for m in ("precision", "recall", "f1")}


def per_class_metric(kind: str, tp: Any, predicted: Any, support: Any) -> Any:
    """Per-class ``precision``, ``recall`` or ``f1`` from per-class counts (arrays ``[..., K]``),
    0 where undefined (scikit-learn's ``zero_division=0``)."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "precision":
            return np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        if kind == "recall":
            return np.where(support > 0, tp / np.where(support > 0, support, 1), 0.0)
        denom = predicted + support
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)


def averaged_metric(metric: str, tp: Any, predicted: Any, support: Any) -> Any:
    """An averaged metric (``macro_f1`` ...) from per-class counts (arrays ``[..., K]``), like
    scikit-learn's ``precision_recall_fscore_support(..., labels=present, zero_division=0)``.

    Both averages are over the classes with at least one item (``support > 0``), as the
    record's metrics are (:mod:`pytest_vlmbench.evaluation.scores`): a class absent from the
    evaluated items is left out of the macro average, and has weight 0 in the weighted one.
    An average over no class at all is 0.
    """
    import numpy as np

    avg, _, kind = metric.partition("_")
    per_class = per_class_metric(kind, tp, predicted, support)
    weights = (support > 0).astype(float) if avg == "macro" else support
    total = weights.sum(axis=-1)
    return np.where(total > 0, (per_class * weights).sum(axis=-1) / np.where(total > 0, total, 1), 0.0)


def _codes(values: Sequence[str | None], index: dict[str, int]) -> Any:
    import numpy as np

    invalid = len(index)  # invalid answers (and unknown names) are credited to no class
    return np.array([index.get(v, invalid) if v is not None else invalid for v in values], dtype=np.int64)


def _counts(labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> tuple[Any, Any, Any]:
    """Per-class true positives, predictions and support (float arrays of length ``len(classes)``)."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    t, p = _codes(labels, index), _codes(predictions, index)
    tp = np.bincount(t[t == p], minlength=k + 1)[:k].astype(float)
    predicted = np.bincount(p, minlength=k + 1)[:k].astype(float)
    support = np.bincount(t, minlength=k + 1)[:k].astype(float)
    return tp, predicted, support


def metric_from_predictions(
    metric: str, labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]
) -> float:
    """An averaged metric computed from one run's per-item predictions."""
    return float(averaged_metric(metric, *_counts(labels, predictions, classes)))


QUALITY_METRICS = (
    "accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_precision", "weighted_recall",
    "weighted_f1", "invalid_rate",
)  # fmt: skip
"""The record's quality metrics, in :class:`~pytest_vlmbench.record.Metrics` order."""


def quality_from_predictions(
    labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]
) -> dict[str, float]:
    """Every metric of :data:`QUALITY_METRICS` from one run's per-item predictions, defined as
    :func:`pytest_vlmbench.evaluation.scores.classification_report` defines them (``None`` is
    an invalid answer; with no items, every metric is 0)."""
    n = len(labels)
    if n == 0:
        return dict.fromkeys(QUALITY_METRICS, 0.0)
    values = {"accuracy": sum(p == t for p, t in zip(predictions, labels)) / n}
    counts = _counts(labels, predictions, classes)
    for name in QUALITY_METRICS[1:-1]:
        values[name] = float(averaged_metric(name, *counts))
    values["invalid_rate"] = sum(p is None for p in predictions) / n
    return values


def classes_without_items(labels: Sequence[str], classes: Sequence[str]) -> tuple[str, ...]:
    """The classes, in order, that no item of ``labels`` belongs to: left out of the macro averages."""
    present = set(labels)
    return tuple(c for c in classes if c not in present)


def legacy_macro(metric: str, labels: Sequence[str], predictions: Sequence[str | None], classes: Sequence[str]) -> float:
    """A macro average as records written before ``classes_without_items`` existed computed it:
    over every class, a class without items counting with its (zero) recall and F1."""
    per_class = per_class_metric(metric.partition("_")[2], *_counts(labels, predictions, classes))
    return float(per_class.mean()) if len(classes) else 0.0


def paired_bootstrap(
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
    """Paired bootstrap test of an averaged precision/recall/F1 metric.

    ``labels`` are the true classes of the paired items, ``baseline`` and ``current`` the two
    runs' predictions for them (``None`` = invalid). ``direction`` as in :func:`mcnemar`.
    Seeded, so a rerun gives the same p.
    """
    import numpy as np

    if metric not in _AVERAGED:
        raise ValueError(f"paired_bootstrap supports {sorted(_AVERAGED)}, not {metric!r}")
    untestable = untestable_pairs("paired bootstrap", baseline, current, alpha)
    if untestable is not None:
        return untestable
    n = len(labels)

    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    eye = np.eye(k + 1)[:, :k]  # one-hot rows; the invalid code maps to all zeros
    t, pb, pc = _codes(labels, index), _codes(baseline, index), _codes(current, index)
    true_1h = eye[t]
    columns = {
        "support": true_1h,
        "pred_b": eye[pb],
        "pred_c": eye[pc],
        "tp_b": true_1h * (t == pb)[:, None],
        "tp_c": true_1h * (t == pc)[:, None],
    }
    stacked = np.concatenate(list(columns.values()), axis=1)  # (n, 5K)

    def delta(weights: Any) -> Any:
        counts = weights @ stacked
        support, pred_b, pred_c, tp_b, tp_c = np.split(counts, 5, axis=-1)
        diff = averaged_metric(metric, tp_c, pred_c, support) - averaged_metric(metric, tp_b, pred_b, support)
        return diff if higher_is_better else -diff

    return bootstrap_p("paired bootstrap", baseline, current, delta, direction, resamples, seed)


def untestable_pairs(
    name: str, baseline: Sequence[str | None], current: Sequence[str | None], alpha: float
) -> TestResult | None:
    """The result when the pairs need no resampling: nothing changed (p = 1), or too few changed to test."""
    n = len(baseline)
    changed = sum(1 for x, y in zip(baseline, current) if x != y)
    if changed == 0:
        return TestResult(name, n, 0, 1.0)
    reason = too_few_reason(changed, alpha)
    return None if reason is None else TestResult(name, n, changed, None, reason)


def bootstrap_p(
    name: str,
    baseline: Sequence[str | None],
    current: Sequence[str | None],
    delta: Callable[[Any], Any],
    direction: Direction,
    resamples: int,
    seed: int,
) -> TestResult:
    """The paired bootstrap's p-value of ``delta`` (the metric's change in the good direction,
    for a matrix of per-item resampling weights, one row per resample). Seeded; the weights
    are drawn in chunks so that memory stays bounded whatever the item count."""
    import numpy as np

    n = len(baseline)
    changed = sum(1 for x, y in zip(baseline, current) if x != y)
    observed = float(delta(np.ones(n)))  # improvement (>0) or worsening (<0) in the good direction
    rng = np.random.default_rng(seed)
    deltas = []
    chunk = max(1, min(resamples, 2_000_000 // max(n, 1)))
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        draws = rng.integers(0, n, size=(rows, n)) + n * np.arange(rows)[:, None]
        weights = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n).astype(float)
        deltas.append(delta(weights))
    boot = np.concatenate(deltas)
    if direction is None:
        if observed == 0:
            return TestResult(name, n, changed, 1.0)
        direction = "worse" if observed < 0 else "better"
    # Centre the bootstrap distribution on "no change" and count the resamples at least as
    # far out as the observation on the tested side (Berg-Kirkpatrick et al. 2012). An
    # observation on the other side gives a p-value near 1.
    centred = boot - observed
    if direction == "worse":
        extreme = int(np.sum(centred <= observed + 1e-12))
    else:
        extreme = int(np.sum(centred >= observed - 1e-12))
    return TestResult(name, n, changed, (1 + extreme) / (1 + resamples))
