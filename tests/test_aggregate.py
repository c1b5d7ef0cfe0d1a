"""Claim-level answers (reusebench.aggregate) and what would decide an inconclusive cell (stats.what_would_decide)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reusebench import stats
from reusebench.aggregate import answer, answers
from reusebench.claims import decide_commands


def cell(case: str, values: list[float], *, se_images: float = 0.0, outcome: str = "inconclusive", arch="unet", task="seg",
         observation="O2", op="<=", threshold=0.1, tier="evidence") -> dict:
    return {"observation": observation, "arch": arch, "task": task, "case": case, "tier": tier, "op": op, "threshold": threshold,
            "unit": "damage", "outcome": outcome, "interval": {"se_images": se_images},
            "per_seed": [{"seed": s, "value": v} for s, v in enumerate(values)]}


def test_the_aggregate_is_the_cells_rule_on_per_seed_means():
    cells = [cell("other_task", [0.0, 0.1, 0.2]), cell("other_seed", [0.2, 0.3, 0.4])]
    a = answer(cells, n_images=None, family_size=1)
    per_seed = np.array([0.1, 0.2, 0.3])  # the mean over the two cells, seed by seed
    expected = stats.interval(list(per_seed), level=stats.cell_level(1))
    assert a.mean.interval.mean == pytest.approx(0.2)
    assert (a.mean.interval.low, a.mean.interval.high) == pytest.approx((expected.low, expected.high))
    assert a.cells == 2 and a.seeds == 3


def test_a_shared_seed_effect_does_not_narrow_the_aggregate():
    # seed 2 is a bad draw in every cell (its networks serve them all): the per-seed aggregate keeps
    # that spread; treating the 10 cells as independent would shrink it by sqrt(10)
    cells = [cell(f"c{i}", [0.0 + i * 1e-3, 0.0, 0.5]) for i in range(10)]
    a = answer(cells, n_images=None, family_size=1)
    assert a.mean.interval.se_seeds == pytest.approx(np.std([0.0, 0.0, 0.5], ddof=1) / math.sqrt(3), rel=0.02)


def test_the_image_term_is_bounded_by_the_cells_mean_standard_error():
    cells = [cell("a", [0.1, 0.1, 0.1], se_images=0.02), cell("b", [0.1, 0.1, 0.1], se_images=0.04)]
    a = answer(cells, n_images=128, family_size=1)
    assert a.mean.interval.se_images == pytest.approx(0.03)


@pytest.mark.parametrize("values, outcome", [([0.01, 0.02, 0.03, 0.02], "holds"), ([0.5, 0.6, 0.55, 0.52], "does not hold"),
                                             ([-0.5, 0.9, 0.0, 0.4], "inconclusive")])
def test_the_aggregate_outcome_against_the_threshold(values, outcome):
    assert answer([cell("a", values), cell("b", values)], n_images=None, family_size=1).mean.outcome == outcome


def test_the_share_counts_cells_on_the_claims_side():
    cells = [cell("a", [0.0, 0.05, 0.02]), cell("b", [0.5, 0.6, 0.7]), cell("c", [0.0, 0.01, 0.0]), cell("d", [0.3, 0.2, 0.4])]
    a = answer(cells, n_images=None, family_size=1)
    assert a.share == 0.5
    assert a.share_interval[0] <= 0.5 <= a.share_interval[1]


def test_answers_split_donor_strata_and_skip_machinery_and_duplicates():
    claims = [cell("other_task", [0.0, 0.1]), cell("other_seed", [0.2, 0.3]), cell("init", [0.5, 0.6]),
              cell("init", [0.5, 0.6], tier="machinery", task="ae"), cell("other_task", [0.0, 0.1])]  # a duplicate of the first
    found = answers(claims, n_images=None)
    assert [(a.stratum, a.cells) for a in found] == [
        ("all cells", 3), ("trained, shared initialisation", 1), ("trained, independent initialisation", 1), ("untrained (synthetic)", 1)]


def test_what_would_decide_a_seed_dominated_cell():
    iv = stats.interval([0.2, 0.35, 0.05, 0.3, 0.25], level=stats.cell_level(20))
    assert stats.outcome(iv, "<=", 0.5) == "inconclusive"
    d = stats.what_would_decide(iv, 0.5, None)
    assert d.dominant == "seeds" and d.images is None and not d.at_threshold
    # at the decider's n, the interval (same mean and spread) clears the threshold; one seed fewer does not
    s2 = iv.se_seeds ** 2 * 5
    half = lambda n: stats.interval_of_terms(iv.mean, n, s2 / n, 0.0, math.inf, iv.level).high  # noqa: E731
    assert half(d.seeds) < 0.5 <= half(d.seeds - 1)


def test_what_would_decide_an_image_dominated_cell_and_one_at_the_threshold():
    iv = stats.interval_of_terms(0.3, 5, 0.0001, 0.01, 127, stats.cell_level(20))
    d = stats.what_would_decide(iv, 0.5, 128)
    assert d.dominant == "test images" and d.images is not None and d.images > 128
    at = stats.what_would_decide(stats.interval_of_terms(0.499, 5, 0.01, 0.01, 127, stats.cell_level(20)), 0.5, 128)
    assert at.at_threshold and "at the threshold" in at.text()


def test_the_commands_that_would_decide_a_cell():
    decide = {"seeds": 12, "images": None, "both": None}
    test = "benchmarks/test_observations.py::test_o_claims[O2-unet-seg-other_task]"
    assert decide_commands(decide, test, "smoke") == ['./dev main --set "seeds=[0, 1, ..., 11]" -k "test_o_claims[O2-unet-seg-other_task]"']
    assert decide_commands({"seeds": None, "images": 256, "both": None}, test, "standard") == [
        './dev main --reusebench-profile standard --set n_test=256 -k "test_o_claims[O2-unet-seg-other_task]"']


def test_a_term_over_layers_holds_a_cell_that_seeds_cannot_decide():
    iv = stats.interval_of_terms(0.3, 5, 0.0001, 0.04, 127, stats.cell_level(24))
    d = stats.what_would_decide(iv, 0.5, None, "test images and layers")
    assert d.held_by == "test images and layers" and not d.at_threshold and d.images is None
    assert "the design cannot decide it" in d.text()


def test_the_what_if_at_the_profiles_own_n_is_the_measured_interval():
    # an inconclusive cell whose image term has few df (a shared-image covariance estimated from
    # weakly correlated seeds): the what-if at its own seeds and images must not decide it, so no
    # decider names the run's own n (it once read "20 seeds; 128 test images" at 20 and 128)
    iv = stats.interval_of_terms(0.0, 20, 0.0001, 0.0009, 4.0, stats.cell_level(20))
    assert stats.outcome(iv, "<=", 0.12) == "inconclusive"  # half-width 0.152; at df 127 it would be 0.090
    assert stats.image_term_df(iv) == pytest.approx(4.0)
    d = stats.what_would_decide(iv, 0.12, 128)
    assert d.seeds is None or d.seeds > 20
    assert d.images is None or d.images > 128


def test_a_fixed_term_with_few_df_holds_a_cell_far_from_its_threshold():
    # C1-like: the layers term is wide at its own df; infinitely many seeds leave it wider than
    # the margin, so the cell is held by it, not "at the threshold"
    iv = stats.interval_of_terms(-0.1, 20, 0.0004, 0.04, 3.0, stats.cell_level(24))
    d = stats.what_would_decide(iv, 0.5, None, "test images and layers")
    assert d.margin == pytest.approx(0.6)
    assert d.held_by == "test images and layers" and not d.at_threshold


def test_the_share_decided_per_claim_counts_a_cell_held_by_the_design_as_undecided():
    from reusebench.report.sections.answers import decided_rows

    claims = [cell("a", [0.0], outcome="holds"), cell("b", [0.0], outcome="does not hold"),
              {**cell("c", [0.0]), "decide": {"at_threshold": True, "held_by": None}},
              {**cell("d", [0.0]), "decide": {"at_threshold": False, "held_by": "test images and layers"}},
              {**cell("e", [0.0]), "decide": {"at_threshold": False, "held_by": None, "seeds": 30}},
              cell("f", [0.0], outcome="holds", tier="machinery"),  # not evidence: not counted
              {**cell("g", [0.0], observation="O4", outcome="holds")}]
    rows = decided_rows(claims)
    assert rows == [["O2", 5, 2, 1, 1, 1, "60%"], ["O4", 1, 1, 0, 0, 0, "100%"], ["all", 6, 3, 1, 1, 1, "67%"]]
