"""The interval of a claim's value: coverage at its nominal rate, outcomes at the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from reusebench import stats
from reusebench.claims import Observation
from reusebench.stats import Interval, interval, outcome


def test_the_interval_covers_a_known_mean_at_its_nominal_rate():
    # Five seeds, seed noise only: Student's t is exact for normal seed effects.
    rng = np.random.default_rng(1)
    trials, mu = 4000, 0.3
    covered = sum(
        (iv := interval(list(mu + rng.normal(0, 0.05, 5)))).low <= mu <= iv.high for _ in range(trials)
    )
    assert 0.935 <= covered / trials <= 0.965


def test_shared_image_noise_is_in_the_interval():
    # The same test images for every seed: their noise shifts every seed's value alike, so the
    # spread over seeds cannot see it. Without the image term the interval under-covers; with
    # the bootstrap over images (here its distribution, drawn directly) it covers.
    rng = np.random.default_rng(2)
    trials, mu, seed_sd, image_sd = 2000, 0.3, 0.01, 0.03
    with_images = without = 0
    for _ in range(trials):
        common = rng.normal(0, image_sd)
        values = mu + common + rng.normal(0, seed_sd, 5)
        image_means = values.mean() + rng.normal(0, image_sd, 1000)
        with_images += (iv := interval(list(values), image_means)).low <= mu <= iv.high
        without += (iv := interval(list(values))).low <= mu <= iv.high
    assert with_images / trials >= 0.94
    assert without / trials < 0.8


def test_a_family_of_cells_gets_no_wrong_verdict_at_the_nominal_rate():
    # Twenty cells whose true value sits exactly at the threshold of a ">=" claim: "holds" is
    # true there, so a wrong verdict is "does not hold" on any of them.
    rng = np.random.default_rng(3)
    trials, cells = 2000, 20
    level = stats.cell_level(cells)
    wrong = 0
    for _ in range(trials):
        ivs = [interval(list(rng.normal(0, 1, 5)), level=level) for _ in range(cells)]
        wrong += any(outcome(iv, ">=", 0.0) == "does not hold" for iv in ivs)
    assert 0.03 <= wrong / trials <= 0.06


@pytest.mark.parametrize(
    "low, high, op, expected",
    [(0.55, 0.7, ">=", "holds"), (0.3, 0.45, ">=", "does not hold"), (0.45, 0.55, ">=", "inconclusive"),
     (0.01, 0.04, "<=", "holds"), (0.06, 0.2, "<=", "does not hold"), (0.04, 0.06, "<=", "inconclusive"),
     (float("nan"), float("nan"), ">=", "undefined")],
)
def test_outcomes_against_the_threshold(low, high, op, expected):
    threshold = 0.5 if op == ">=" else 0.05
    assert outcome(Interval((low + high) / 2, low, high, 0, 0, 5, 0.95), op, threshold) == expected


def test_image_means_resample_the_images_shared_by_the_seeds():
    claim = Observation("X", "s", {"conv.bias": 1.0}, "<=", 0.05, ("init",), "w")
    rng = np.random.default_rng(4)
    n = 128
    parts = []
    for _ in range(5):
        target = rng.uniform(0.6, 0.9, n)
        parts.append({"conv.bias": (target, target - rng.uniform(0, 0.1, n), rng.uniform(0, 0.2, n))})
    means = claim.image_means(parts)
    assert means.shape == (stats.RESAMPLES,)
    assert 0 < means.std() < 0.05
    assert np.array_equal(means, claim.image_means(parts)), "deterministic: a fixed resampling seed"


def test_an_interval_is_plain_floats():
    """Records travel from xdist workers through execnet, which refuses numpy scalars."""
    iv = interval([0.1, 0.2, 0.3], np.array([0.2, 0.21, 0.19]), level=stats.cell_level(7))
    assert all(type(v) in (float, int) for v in iv.as_dict().values())


def test_an_undefined_image_resample_leaves_the_interval_undefined():
    iv = interval([0.1, 0.2, 0.3], np.array([0.2, np.nan, 0.19]))
    assert outcome(iv, ">=", 0.0) == "undefined"


def test_the_power_of_a_rank_claim_grows_with_the_true_correlation():
    from reusebench.stats import FAILS, HOLDS, cell_level, rank_claim_power

    level = cell_level(24)
    weak, strong, certain = (rank_claim_power(13, 5, rho, 0.5, level=level)[HOLDS] for rho in (0.2, 0.8, 0.99))
    assert weak == 0.0 and 0.1 < strong < 0.9 and certain > 0.95
    assert rank_claim_power(13, 5, 0.0, 0.5, level=cell_level(1))[FAILS] > 0.8, "no correlation: mostly 'does not hold'"
    assert rank_claim_power(13, 5, 0.8, 0.5, level=level) == rank_claim_power(13, 5, 0.8, 0.5, level=level), "deterministic"


def test_the_power_follows_the_rule_for_one_seed_and_either_operator():
    from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE, rank_claim_power

    one = rank_claim_power(13, 1, 0.9, 0.5, level=0.95)
    assert one[INCONCLUSIVE] == 0.0 and one[HOLDS] > 0.9, "one seed: the rule's interval has no width"
    below = rank_claim_power(13, 5, 0.0, 0.5, level=0.95, op="<=")
    assert below[HOLDS] > 0.8 and below[FAILS] == 0.0
    with pytest.raises(ValueError, match="unknown operator '>'; valid choices: >=, <="):
        rank_claim_power(13, 5, 0.0, 0.5, level=0.95, op=">")
