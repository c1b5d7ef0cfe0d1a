"""A1: BN recalibration (AdaBN, Li et al. 2016) as the remedy for swapped running statistics.

The battery (test_battery) measures every group and donor with and without AdaBN; this test
asserts that, where O1 holds, recalibration recovers most of the bn.running damage.
"""

import pytest

from fixtures.lab import Case, EmptyGroupError


@pytest.mark.claims("A1")
def test_a1_adabn_recovers_running_stats_damage(claim_case, lab, judge):
    c = claim_case
    per_seed = {}
    try:
        for seed in lab.seeds:
            before, after = (
                lab.measure(Case(c.arch, c.task, "bn.running", c.case, lab.dataset, recalibration=r, seed=seed))["damage"]
                for r in ("none", "adabn")
            )
            per_seed[seed] = ((before - after) / before, f"damage(bn.running) {before:.3f} -> {after:.3f} with AdaBN")
    except EmptyGroupError as exc:
        pytest.skip(str(exc))
    judge(c, per_seed)
