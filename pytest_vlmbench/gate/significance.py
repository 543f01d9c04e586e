"""Is a change in a quality metric more than noise? Tests on the paired per-item predictions.

Both runs answered the same items, so they are compared item by item, not as two samples:

- accuracy and invalid_rate: McNemar's exact test. Only the items whose outcome changed
  (right -> wrong or wrong -> right) carry information; under "no real change" each of them
  is equally likely to have gone either way, so the count that went the observed way is
  Binomial(changed, 1/2). The p-value is the exact one-sided tail, computed with integers.
- precision/recall/F1 averages: a seeded paired bootstrap over items. Items are resampled
  with replacement (the same items for both runs), the metric difference is recomputed on
  each resample, and the p-value is the share of resamples, shifted to centre on "no
  change", that are at least as extreme as the observed difference. The metric is the
  record's own (:mod:`pytest_vlmbench.tasks.metrics`), from the per-item counts summed
  with each resample's weights, all resamples of a chunk at once.

Both are one-sided in the direction of the observed change: a gate asks "did it get
worse?", and the summary asks "did it get better?".

Too few items to decide: with ``k`` changed items the smallest p-value any outcome can give
is ``0.5 ** k`` (all changes the same way). When that is above ``alpha`` no result could be
significant, and the test says so instead of returning a p-value. At alpha 0.05 that means
fewer than 5 changed items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..record import Label
from ..tasks import CLASSIFICATION, Task
from ..tasks.metrics import Counts

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
    se: float | None = None
    """The paired bootstrap's standard error of the change (for the detectable drop, :mod:`.power`)."""

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


def paired_bootstrap(
    metric: str,
    labels: Sequence[Label],
    baseline: Sequence[Label | None],
    current: Sequence[Label | None],
    classes: Sequence[str],
    *,
    task: Task = CLASSIFICATION,
    higher_is_better: bool = True,
    alpha: float = DEFAULT_ALPHA,
    direction: Direction = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> TestResult:
    """Paired bootstrap test of a metric the ``task`` bootstraps (:attr:`~pytest_vlmbench.tasks.Task.bootstrapped`):
    precision/recall/F1 averages of a classification run; for NER also entity-level scores and token accuracy,
    resampling sentences (Berg-Kirkpatrick et al. 2012).

    ``labels`` are the gold labels of the paired items, ``baseline`` and ``current`` the two
    runs' predictions for them (``None`` = invalid). The metric is recomputed on each resample
    from the task's per-item counts (:attr:`~pytest_vlmbench.tasks.Task.paired_counts`), the
    record's own metrics. ``direction`` as in :func:`mcnemar`. Seeded, so a rerun gives the same p.
    """
    if metric not in task.bootstrapped:
        raise ValueError(f"paired_bootstrap supports {sorted(task.bootstrapped)} on {task.name}, not {metric!r}")
    name = "paired bootstrap (sentences)" if task.unit == "sentence" else "paired bootstrap"
    untestable = untestable_pairs(name, baseline, current, alpha)
    if untestable is not None:
        return untestable
    counts = task.paired_counts(labels, baseline, current, classes)
    return bootstrap_p(name, metric, counts, changed_items(baseline, current), higher_is_better=higher_is_better,
                       direction=direction, resamples=resamples, seed=seed)  # fmt: skip


def changed_items(baseline: Sequence[object], current: Sequence[object]) -> int:
    """Items whose prediction differs between the two runs."""
    return sum(1 for x, y in zip(baseline, current) if x != y)


def untestable_pairs(name: str, baseline: Sequence[object], current: Sequence[object], alpha: float) -> TestResult | None:
    """The result when the pairs need no resampling: nothing changed (p = 1), or too few changed to test."""
    n = len(baseline)
    changed = changed_items(baseline, current)
    if changed == 0:
        return TestResult(name, n, 0, 1.0)
    reason = too_few_reason(changed, alpha)
    return None if reason is None else TestResult(name, n, changed, None, reason)


def bootstrap_p(
    name: str,
    metric: str,
    counts: tuple[Counts, Counts],
    changed: int,
    *,
    higher_is_better: bool,
    direction: Direction,
    resamples: int,
    seed: int,
) -> TestResult:
    """The paired bootstrap's p-value for the change of ``metric`` from the baseline's per-item
    ``counts`` to the current run's (the same items, in the same order), ``changed`` of which
    differ. Seeded; the resampling weights are drawn in chunks so that memory stays bounded
    whatever the item count."""
    import numpy as np

    baseline, current = counts
    n = baseline.n

    def delta(weights: Any) -> Any:
        """The metric's change in the good direction, one per row of per-item ``weights``."""
        diff = current.total(weights).value(metric) - baseline.total(weights).value(metric)
        return diff if higher_is_better else -diff

    observed = float(delta(np.ones((1, n)))[0])  # improvement (>0) or worsening (<0), computed as the resamples are
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
            return TestResult(name, n, changed, 1.0, se=float(np.std(boot)))
        direction = "worse" if observed < 0 else "better"
    # Centre the bootstrap distribution on "no change" and count the resamples at least as
    # far out as the observation on the tested side (Berg-Kirkpatrick et al. 2012). An
    # observation on the other side gives a p-value near 1.
    centred = boot - observed
    if direction == "worse":
        extreme = int(np.sum(centred <= observed + 1e-12))
    else:
        extreme = int(np.sum(centred >= observed - 1e-12))
    return TestResult(name, n, changed, (1 + extreme) / (1 + resamples), se=float(np.std(boot)))
