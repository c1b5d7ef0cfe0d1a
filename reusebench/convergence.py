"""Whether a fixture network converged, read from its training metadata (``fixtures/training.py``).

The rule (``EarlyStop``): training stops once ``patience`` evaluations in a row have not beaten
the best by the tolerance (max(``plateau_tol``, ``plateau_noise`` paired standard errors)).
Under a cosine schedule the budget's end can fall inside that window: the network then stops
with the schedule, its window cut short. It counts as converged *at the budget* when at least
half the window (``patience / 2`` evaluations) passed without a gain beyond the tolerance, the
rule at half its patience, and its final evaluation (whose weights it keeps) is within the
tolerance of its best; otherwise it has not converged (it was still gaining when the budget
ended, or fell back). The look-ahead (``patience_check``) says whether twice the patience would have
kept a better state.
"""

from __future__ import annotations

import math

RULE, BUDGET, NOT_CONVERGED = "converged (rule)", "converged at the budget", "not converged"


def convergence(meta: dict) -> dict:
    """``status`` (RULE, BUDGET or NOT_CONVERGED), the evaluations since the kept one, and the
    look-ahead's verdict on doubling the patience."""
    rule = meta.get("rule") or {}
    patience = int(rule.get("patience") or 0)
    curve = meta.get("monitor_curve") or []
    best = meta.get("best_step")
    since = sum(1 for step, _ in curve if best is not None and step > best and (meta.get("stopped_at") is None or step <= meta["stopped_at"]))
    if meta.get("converged"):
        status = RULE
    elif (best and patience and since >= math.ceil(patience / 2) and math.isfinite(meta.get("best_value") or math.nan)
          and curve and meta["best_value"] - curve[-1][1] <= float(rule.get("tol") or 0)):
        status = BUDGET  # the weights kept are the final ones: they must be as good as the best, within the tolerance
    else:
        status = NOT_CONVERGED
    check = meta.get("patience_check")
    doubled = None if check is None else (
        f"twice the patience keeps a state better by {check['gain']:.4f} at step {check['step']} (tolerance {check['tol']:.4f})"
        if check.get("improved") else
        "twice the patience keeps the same state" + ("" if check.get("complete") else " within the budget (its window cut by the budget)"))
    return {"status": status, "since_best": since, "patience": patience, "doubled_patience": doubled,
            "doubling_changes": bool(check and check.get("improved")), "gain_if_doubled": (check or {}).get("gain", 0.0)}
