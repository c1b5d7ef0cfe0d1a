"""The answer an audit gives: per group and per layer, reuse as is, reuse after AdaBN, or retrain.

A replacement from your pre-trained model (the ``pretrained`` donor) that costs at most
``REUSABLE_MAX`` of what training gained (damage <= 0.1, O2's "reusable" threshold) is safe
to reuse. If only AdaBN recalibration brings it there, reuse it and re-estimate the BN
statistics on your data. Otherwise retrain it.
"""

from __future__ import annotations

import math

REUSABLE_MAX = 0.1


def audit_verdict(damage_none: float, damage_adabn: float | None, running_stats: bool = False) -> str:
    """``running_stats``: the group is BN running statistics, which AdaBN does not keep but
    re-estimates, so "reuse + AdaBN" reads "re-estimate" for them."""
    if not math.isfinite(damage_none):
        return "undefined"
    if damage_none <= REUSABLE_MAX:
        return "reuse"
    if damage_adabn is not None and math.isfinite(damage_adabn) and damage_adabn <= REUSABLE_MAX:
        return "re-estimate (AdaBN)" if running_stats else "reuse + AdaBN"
    return "retrain"
