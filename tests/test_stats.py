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


def _draw(rng, n_seeds, n_images, seed_sd, shared_sd, own_sd, resamples=200, mu=0.3):
    """One synthetic cell with a known truth ``mu``: seed s's value on image i is
    mu + a_s + u_i + e_si (a: the seed's network, u: the image, shared by every seed, e: the
    seed's own error on that image); returns the per-seed values and their paired bootstrap
    (one resample of the images shared by all seeds, as the suite measures)."""
    x = (mu + rng.normal(0, seed_sd, (n_seeds, 1)) + rng.normal(0, shared_sd, (1, n_images))
         + rng.normal(0, own_sd, (n_seeds, n_images)))
    idx = rng.integers(0, n_images, (resamples, n_images))
    return x.mean(1), x[:, idx].mean(2)


def _old_rule(values, image_values, level):
    """The rule before 2026-12-02: s^2/n plus the whole variance of the bootstrapped seed mean, t(n - 1)."""
    from scipy import stats as sps

    n = len(values)
    se = np.sqrt(values.var(ddof=1) / n + image_values.mean(0).var(ddof=1))
    return 2 * sps.t.ppf(1 - (1 - level) / 2, n - 1) * se


@pytest.mark.parametrize(
    "seed_sd, shared_sd, own_sd",
    [(0.005, 0.2, 0.05),  # the shared test images dominate (O4-like cells)
     (0.03, 0.1, 0.1),  # both terms matter
     (0.05, 0.0, 0.0)],  # no image noise at all: Student's t over the seeds alone
)
def test_the_interval_covers_a_known_truth_at_its_nominal_rate(seed_sd, shared_sd, own_sd):
    rng = np.random.default_rng(2)
    trials, mu, n_images = 3000, 0.3, 64
    covered, widths, old_widths = 0, [], []
    for _ in range(trials):
        values, image_values = _draw(rng, 5, n_images, seed_sd, shared_sd, own_sd, mu=mu)
        iv = interval(list(values), image_values, n_images=n_images)
        covered += iv.low <= mu <= iv.high
        widths.append(iv.high - iv.low)
        old_widths.append(_old_rule(values, image_values, 0.95))
    assert covered / trials >= 0.94, f"coverage {covered / trials:.3f} at 95%"
    assert covered / trials <= 0.97, f"coverage {covered / trials:.3f}: far wider than it needs to be"
    if shared_sd > 5 * seed_sd:  # where the image term dominates, narrower than the old rule (double counting, t(n - 1))
        assert np.median(np.array(widths) / np.array(old_widths)) < 0.8


def test_shared_image_noise_is_in_the_interval():
    # The same test images for every seed: their noise shifts every seed's value alike, so the
    # spread over seeds cannot see it. Without the image term the interval under-covers.
    rng = np.random.default_rng(5)
    trials, without = 1000, 0
    for _ in range(trials):
        values, _ = _draw(rng, 5, 64, 0.005, 0.2, 0.05, resamples=2)
        without += (iv := interval(list(values))).low <= 0.3 <= iv.high
    assert without / trials < 0.8


def test_the_shared_component_is_the_cross_seed_covariance():
    """Identical seeds (all noise shared): c is the whole bootstrap variance; independent image
    noise per seed: c is about 0 (it is in the seed spread already)."""
    rng = np.random.default_rng(6)
    one = rng.normal(0, 1, 500)
    assert np.isclose(stats.shared_image_variance(np.stack([one] * 5)), one.var(ddof=1))
    assert stats.shared_image_variance(rng.normal(0, 1, (5, 4000))) < 0.01


def test_one_seed_keeps_its_whole_image_noise_with_the_images_degrees_of_freedom():
    rng = np.random.default_rng(7)
    values, image_values = _draw(rng, 1, 20, 0.0, 0.1, 0.0)
    iv = interval(list(values), image_values, n_images=20)
    assert iv.df == 19 and np.isclose(iv.se_images, image_values.std(ddof=1) * np.sqrt(20 / 19))


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


def test_image_values_resample_the_images_shared_by_the_seeds():
    claim = Observation("X", "s", {"conv.bias": 1.0}, "<=", 0.05, ("init",), "w")
    rng = np.random.default_rng(4)
    n = 128
    parts = []
    for _ in range(5):
        target = rng.uniform(0.6, 0.9, n)
        parts.append({"conv.bias": (target, target - rng.uniform(0, 0.1, n), rng.uniform(0, 0.2, n))})
    values = claim.image_values(parts)
    assert values.shape == (5, stats.RESAMPLES)
    assert 0 < values.mean(0).std() < 0.05
    assert np.array_equal(values, claim.image_values(parts)), "deterministic: a fixed resampling seed"


def test_an_interval_is_plain_floats():
    """Records travel from xdist workers through execnet, which refuses numpy scalars."""
    iv = interval([0.1, 0.2, 0.3], np.array([[0.1, 0.11, 0.09]] * 3), level=stats.cell_level(7), n_images=3)
    assert all(type(v) in (float, int) for v in iv.as_dict().values())


def test_an_undefined_image_resample_leaves_the_interval_undefined():
    iv = interval([0.1, 0.2, 0.3], np.array([[0.2, np.nan, 0.19]] * 3))
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
