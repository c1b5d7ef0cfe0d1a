"""Layer classes by damage, after Zhang, Bengio, Singer 2019, "Are all layers created equal?" (arXiv 1902.01996).

A layer is robust if re-initialising / re-randomising it barely hurts, critical if it breaks
the network. On our damage scale (0 harmless, 1 as bad as untrained): robust up to
``ROBUST_MAX``, critical from ``CRITICAL_MIN``, intermediate between them.
"""

from __future__ import annotations

import math

from reusebench.files import num

ROBUST_MAX = 0.1
CRITICAL_MIN = 0.5


def layer_class(damage) -> str:
    """A layer's class by its damage: robust, intermediate or critical (see ROBUST_MAX, CRITICAL_MIN)."""
    x = num(damage)
    if x is None or not math.isfinite(x):
        return "non-finite"
    return "robust" if x <= ROBUST_MAX else "critical" if x >= CRITICAL_MIN else "intermediate"
