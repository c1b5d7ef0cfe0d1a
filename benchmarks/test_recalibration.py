"""A1: BN recalibration (AdaBN, Li et al. 2016) as the remedy for swapped running statistics.

The battery (test_battery) measures every group and donor with and without AdaBN; this test
asserts that, where O1 is expected to hold, recalibration recovers most of the bn.running
damage (by construction: a machinery check).
"""

import pytest

from reusebench.lab import Case, EmptyGroupError


@pytest.mark.claims("A1")
def test_a1_adabn_recovers_running_stats_damage(claim_case, lab, judge):
    """Parametrized where O1 is not an expected failure (its `given`). A machinery check: AdaBN
    rewrites exactly the replaced statistics, so it holds wherever the code is right."""
    c = claim_case

    def damage(group: str, seed: int, recalibration: str = "none") -> float:
        return lab.measure(Case(c.arch, c.task, group, c.case, lab.dataset, recalibration=recalibration, seed=seed))["damage"]

    per_seed = {}
    try:
        for seed in lab.seeds:
            before, after = damage("bn.running", seed), damage("bn.running", seed, "adabn")
            if not before > 0:  # nothing to recover: the claim does not apply (e.g. statistics the donor shares)
                pytest.skip(f"A1 does not apply: replacing the running statistics costs nothing here (damage {before:.3f}, seed {seed})")
            per_seed[seed] = ((before - after) / before, f"damage(bn.running) {before:.3f} -> {after:.3f} with AdaBN")
    except EmptyGroupError as exc:
        pytest.skip(str(exc))
    judge(c, per_seed)
