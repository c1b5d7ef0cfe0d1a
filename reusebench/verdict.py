"""The answer an audit gives: per group and per layer, reuse as is, reuse after AdaBN, or retrain.

A replacement from your pre-trained model (the ``pretrained`` donor) that costs at most
``REUSABLE_MAX`` of what training gained (damage <= 0.1, O2's "reusable" threshold) is safe
to reuse. If only AdaBN recalibration brings it there, reuse it and re-estimate the BN
statistics on your data. Otherwise retrain it. Each damage is judged by its 95% interval over
the test images: a verdict is given only where the interval is clear of the threshold.
"""

from __future__ import annotations

import math

REUSABLE_MAX = 0.1


Interval = tuple[float, float]  # 95% bootstrap interval of a damage over the images it is measured on (an audit: its validation data)


def audit_verdict(damage_none: Interval, damage_adabn: Interval | None, running_stats: bool = False) -> str:
    """The verdict from the damages' intervals (the audit trains one network per role: its
    noise is over test images). reuse: the whole interval at or below ``REUSABLE_MAX``;
    retrain: wholly above it, with and without AdaBN; inconclusive: anything that straddles.
    ``running_stats``: the group is BN running statistics, which AdaBN does not keep but
    re-estimates, so "reuse + AdaBN" reads "re-estimate (AdaBN)" for them."""
    low, high = damage_none
    if not (math.isfinite(low) and math.isfinite(high)):
        return "undefined"
    if high <= REUSABLE_MAX:
        return "reuse"
    adabn_ok = damage_adabn is not None and all(math.isfinite(v) for v in damage_adabn)
    if adabn_ok and damage_adabn[1] <= REUSABLE_MAX:
        return "re-estimate (AdaBN)" if running_stats else "reuse + AdaBN"
    if low > REUSABLE_MAX and (not adabn_ok or damage_adabn[0] > REUSABLE_MAX):
        return "retrain"
    return "inconclusive"
