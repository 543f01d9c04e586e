"""What a comparison can see: the smallest drop it would catch with 80% power.

A threshold of 0.01 on 200 items is below anything a paired test can find there: a drop of
two items is never significant. The gate says so (docs/gate.md, "Detectable drop").

Accuracy and invalid_rate (McNemar's exact test): a drop of ``k`` items out of ``n`` is
modelled as ``D = max(changed, k)`` discordant items, ``(D + k) / 2`` of them gone wrong: the
runs keep the churn they showed (``changed`` items moved between the baseline and this run;
a drop among runs that churn a lot is harder to see) and the drop comes on top. The test's
critical count for ``D`` at the level ``alpha`` gives the power, exactly (binomial tails);
the detectable drop is the smallest ``k / n`` with power >= 0.8, at most the baseline itself
(accuracy cannot fall below 0). With nothing changed that is ``ceil(log2(1 / alpha)) / n``:
at alpha 0.05, five items.

Bootstrapped metrics (macro F1 ...): ``(z(1 - alpha) + z(0.8))`` standard errors of the paired
bootstrap (a normal approximation); none when no item changed (the bootstrap has no spread).

``alpha`` is the family's worst case (``alpha / m`` under a correction,
:func:`.multiplicity.sure_alpha`): what an item must reach however the others came out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from statistics import NormalDist

from .metrics import METRICS, fmt
from .multiplicity import Correction, Hypothesis, adjust, sure_alpha

POWER = 0.8


def critical_count(discordant: int, alpha: float) -> int | None:
    """The fewest items (of ``discordant``) that must go the worse way for McNemar's exact
    one-sided p to be at most ``alpha``; ``None`` when no outcome is significant."""
    from scipy.stats import binom

    if discordant <= 0 or 0.5**discordant > alpha:
        return None
    x = int(binom.isf(alpha, discordant, 0.5)) + 1  # P(X > x - 1) <= alpha, give or take one step of rounding
    while x > 0 and binom.sf(x - 2, discordant, 0.5) <= alpha:
        x -= 1
    while binom.sf(x - 1, discordant, 0.5) > alpha:
        x += 1
    return x


def mcnemar_power(drop_items: int, changed: int, alpha: float) -> float:
    """Power of McNemar's exact test to find a drop of ``drop_items`` among ``changed`` discordant items."""
    from scipy.stats import binom

    discordant = max(changed, drop_items)
    need = critical_count(discordant, alpha)
    if need is None or drop_items <= 0:
        return 0.0
    worse_share = (discordant + drop_items) / (2 * discordant)
    return float(binom.sf(need - 1, discordant, worse_share))


def mcnemar_detectable(n: int, changed: int, alpha: float, most: int, power: float = POWER) -> int | None:
    """The fewest items (at most ``most``) whose drop the test finds with ``power``; ``None`` if none does."""
    if most <= 0 or mcnemar_power(most, changed, alpha) < power:
        return None
    low, high = 1, most  # power grows with the drop: bisect for the first that is enough
    while low < high:
        mid = (low + high) // 2
        if mcnemar_power(mid, changed, alpha) >= power:
            high = mid
        else:
            low = mid + 1
    return low


def detectable_drop(h: Hypothesis, alpha: float, power: float = POWER) -> float | None:
    """The smallest worsening of ``h``'s metric its comparison detects with ``power`` at ``alpha``
    (metric units); ``None`` when it cannot be said (no baseline value, nothing paired, or no
    drop the metric can make is enough)."""
    spec = METRICS[h.metric]
    if h.baseline is None or h.n <= 0:
        return None
    if spec.test == "mcnemar":
        room = h.baseline if spec.higher_is_better else 1.0 - h.baseline  # how far the rate can move
        items = mcnemar_detectable(h.n, h.changed, alpha, int(math.floor(room * h.n + 1e-9)), power)
        return None if items is None else items / h.n
    if not h.se:
        return None
    z = NormalDist().inv_cdf
    return (z(1 - alpha) + z(power)) * h.se


def detectable_text(h: Hypothesis) -> str:
    """``accuracy detectable >= 0.023 (n=500, 12 changed)``, as the gate section and ``vlmbench compare`` print it."""
    # Rounded up: a rounded-down figure would name a drop the test does not catch (9 items of
    # 2,000 are 0.0045; an 8-item drop, "0.004", is not significant under a correction).
    seen = "no drop it can make" if h.detectable is None else f">= {fmt(math.ceil(h.detectable * 1000 - 1e-9) / 1000)}"
    return f"{h.metric} detectable {seen} (n={h.n}, {h.changed} changed)"


def adjust_family(groups: Sequence[Sequence[Hypothesis]], method: Correction) -> list[list[Hypothesis]]:
    """Every hypothesis of every compared item, adjusted as one family (same shape as ``groups``),
    with its detectable drop at the family's worst-case level."""
    flat = [h for group in groups for h in group]
    adjusted = iter(adjust([h.p_for_family for h in flat], method))
    m = len(flat)
    out = []
    for group in groups:
        out.append([
            replace(h, adjusted=next(adjusted), correction=method,
                    detectable=detectable_drop(h, sure_alpha(h.alpha, m, method)))
            for h in group
        ])  # fmt: skip
    return out
