import math
from pathlib import Path

import numpy as np
import pytest

from reusebench.claims import ClaimInconclusive, ClaimNotReproduced, ClaimUndefined, load_observations
from reusebench.protocol import ConfigError

REAL = Path(__file__).parents[1] / "benchmarks" / "observations.toml"


def test_the_real_observations_file_is_valid():
    book = load_observations(REAL)
    assert set(book.observations) >= {"O1", "O2", "O3", "O4", "O4r", "R1", "R2", "C1", "M1", "A1"}
    assert book.observations["A1"].given == "O1"


def test_evaluate_linear_claim():
    o1 = load_observations(REAL).observations["O1"]
    verdict = o1.evaluate({"bn.running": 0.9, "bn.affine": 0.1})
    assert verdict.holds and verdict.value == pytest.approx(0.8)
    verdict.check()
    failing = o1.evaluate({"bn.running": 0.2, "bn.affine": 0.1})
    with pytest.raises(ClaimNotReproduced, match=r"O1 does not hold: value 0.100 \[0.100, 0.100\] \(one value: no interval .*need >= 0.2\): does not hold; damage\(bn.running\)=0.200"):
        failing.check()
    undefined = o1.evaluate({"bn.running": math.nan, "bn.affine": 0.1})
    assert not undefined.holds, "non-finite never holds"
    with pytest.raises(ClaimUndefined):  # and is not mistaken for an expected failure
        undefined.check()
    assert not issubclass(ClaimUndefined, ClaimNotReproduced)


BASE = """
[observation.X]
statement = "s"
terms = { "conv.bias" = 1.0 }
op = "<="
threshold = 0.05
cases = ["init"]
why = "w"
"""


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE.replace('"conv.bias"', '"conv.gamma"'), r"unknown group 'conv.gamma'.*conv.bias"),
        (BASE.replace('"<="', '"<"'), r"unknown operator '<'.*>=, <="),
        (BASE.replace("0.05", '"small"'), r"threshold must be a finite number, got 'small'"),
        (BASE.replace('["init"]', '["defaults"]'), r"donor 'defaults' makes no sense for group 'conv.bias'"),
        (BASE.replace('why = "w"', ""), r"missing field 'why'"),
        (BASE.replace('terms = { "conv.bias" = 1.0 }', 'terms = ["conv.bias"]'), r"'terms' must be a table"),
        (BASE.replace('["init"]', '"init"'), r"'cases' a list of names"),
        (BASE.replace('"conv.bias" = 1.0', '"conv.bias@magic" = 1.0'), r"unknown recalibration 'magic'.*none, adabn"),
        (BASE + 'axis = "variant"\n', r"a claim with 'terms' is over donors, got axis 'variant'"),
        (BASE.replace('terms = { "conv.bias" = 1.0 }', 'axis = "variant"').replace('["init"]', '["most"]'), r"unknown variant 'most'.*all, conv, conv\+bn.affine"),
        (BASE + 'given = "O9"\n', r"unknown claim 'O9'"),
        (BASE.replace("1.0 }", '"one" }'), r"coefficients must be numbers"),
        (BASE.replace("[observation.X]", "[observation.X"), r"cannot read the observations file"),
        (BASE + '[calibration]\ndataset = "shapes"\n', r"\[calibration\]: needs 'dataset', 'device' and optionally 'overrides'"),
        (
            BASE + '[[expected]]\nobservation="X"\nprofile="smoke"\narch="vgg"\ntask="seg"\ncase="init"\nstatus="holds"\nreason="r"\n',
            r"unknown architecture 'vgg'",
        ),
        (
            BASE + '[[expected]]\nobservation="X"\nprofile="smoke"\narch="unet"\ntask="seg"\ncase="init"\nstatus="fails"\n',
            r"unknown status 'fails'.*valid choices: holds, does not hold, inconclusive",
        ),
        (
            BASE + '[[expected_failure]]\nobservation="X"\nprofile="smoke"\narch="unet"\ntask="seg"\ncase="init"\nreason="r"\n',
            r"\[\[expected_failure\]\] entries were replaced by \[\[expected\]\] with a status",
        ),
        (BASE + 'machinery_tasks = ["cls"]\n', r"unknown task of 'machinery_tasks' 'cls'"),
    ],
)
def test_bad_observations_file_names_the_value_and_choices(tmp_path, text, message):
    path = tmp_path / "observations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_observations(path)


def test_judged_on_the_mean_and_its_interval():
    o2 = load_observations(REAL).observations["O2"]  # damage(bn.affine) <= 0.1
    clear = o2.judge({0: (0.02, "a"), 1: (0.03, "b"), 2: (0.025, "c"), 3: (0.02, "d"), 4: (0.03, "e")})
    assert clear.outcome == "holds" and clear.value == pytest.approx(0.025)
    one_bad_seed = o2.judge({0: (0.02, "a"), 1: (0.15, "b"), 2: (0.05, "c"), 3: (0.04, "d"), 4: (0.03, "e")})
    assert one_bad_seed.outcome == "inconclusive", "one seed on the wrong side no longer sinks a claim, nor passes it"
    assert [s.holds for s in one_bad_seed.per_seed] == [True, False, True, True, True]
    assert "mean of 5 seeds" in one_bad_seed.evidence and "seed 1: 0.150 (b)" in one_bad_seed.evidence
    with pytest.raises(ClaimInconclusive):
        one_bad_seed.check()
    far = o2.judge({s: (0.5 + 0.01 * s, "") for s in range(5)})
    assert far.outcome == "does not hold"
    with pytest.raises(ClaimNotReproduced):
        far.check()
    assert not issubclass(ClaimInconclusive, AssertionError), "inconclusive is no failure (and no expected failure)"


def test_a_bigger_family_widens_each_interval():
    o2 = load_observations(REAL).observations["O2"]
    values = {s: (0.06 + 0.01 * s, "") for s in range(5)}
    one, many = o2.judge(values, family_size=1), o2.judge(values, family_size=28)
    assert many.interval.low < one.interval.low and many.interval.high > one.interval.high
    assert one.outcome == "holds" and many.outcome == "inconclusive"


def test_merged_and_machinery_cells():
    book = load_observations(REAL)
    o1, r1 = book.observations["O1"], book.observations["R1"]
    assert "init" not in o1.distinct_cases and "rerandom" not in o1.distinct_cases and "defaults" in o1.distinct_cases
    assert o1.label("defaults") == "defaults (= init = rerandom)"
    assert o1.tier("defaults") == "machinery" and o1.tier("other_seed") == "evidence"
    assert "all" not in r1.distinct_cases
    assert all(book.observations["A1"].tier(c) == "machinery" for c in book.observations["A1"].cases)
    # R1's earlier design is an ablation, counted apart from the evidence
    assert [c for c in r1.distinct_cases if r1.tier(c) == "ablation"] == ["conv", "conv+bn.affine"]
    assert r1.tier("head") == r1.tier("head-frozen") == r1.tier("kept") == "evidence"


def test_an_ablation_case_must_be_a_case_and_not_machinery(tmp_path):
    path = tmp_path / "observations.toml"
    path.write_text(REAL.read_text().replace('ablation = ["conv", "conv+bn.affine", "all"]', 'ablation = ["conv", "sideways"]', 1))
    with pytest.raises(ConfigError, match=r"unknown case of 'ablation' \(variant\) 'sideways' \(from observations.toml \[observation.R1\]\); valid choices: head, "):
        load_observations(path)


def test_an_expected_failure_on_a_merged_case_is_refused(tmp_path):
    text = REAL.read_text() + '[[expected]]\nobservation="O2"\nprofile="smoke"\narch="unet"\ntask="seg"\ncase="init"\nstatus="holds"\nreason="r"\n'
    path = tmp_path / "observations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="unknown case 'init'.*valid choices: other_task, .*defaults"):
        load_observations(path)


def test_selecting_a_merged_donor_selects_its_cell():
    o2 = load_observations(REAL).observations["O2"]
    assert o2.members("defaults") == ("defaults", "init", "rerandom") and o2.members("other_seed") == ("other_seed",)


def test_only_a_contradiction_of_the_calibrated_status_fails():
    from reusebench.claims import NOT_CALIBRATED, is_contradiction, move

    assert is_contradiction("holds", "does not hold") and is_contradiction("does not hold", "holds")
    for expected, now in [("inconclusive", "holds"), ("inconclusive", "does not hold"), ("holds", "inconclusive"),
                          ("does not hold", "inconclusive"), (NOT_CALIBRATED, "does not hold"), ("holds", "holds")]:
        assert not is_contradiction(expected, now), (expected, now)
    assert move("holds", "inconclusive") == "holds -> inconclusive" and move("holds", "holds") is None
    assert move(NOT_CALIBRATED, "holds") is None, "an uncalibrated cell has nothing to move from"


def test_statuses_per_cell_machinery_and_uncalibrated_cells():
    book = load_observations(REAL)
    o4r = book.observations["O4r"]
    assert o4r.tier("other_task", "seg") == "machinery" and o4r.tier("other_task", "ae") == "evidence"
    assert book.expected_status("O4r", "smoke", "unet", "seg", "other_task") == "holds", "machinery: holds by construction"
    assert book.expected_status("O3", "no-such-profile", "unet", "seg", "init") == "not calibrated"


def test_an_undefined_image_resample_is_dropped_or_leaves_the_seeds_alone():
    """A bootstrap that is undefined on a few resamples drops them; on many, the interval falls
    back to the seeds (said in `noise`), never making a cell with finite per-seed values undefined."""
    o3 = load_observations(REAL).observations["O3"]
    values = {s: (0.9 + 0.01 * s, "") for s in range(5)}
    rng = np.random.default_rng(0)
    few = 0.9 + rng.normal(0, 0.01, (5, 100))
    few[:, :3] = np.nan
    v = o3.judge(values, few, n_images=64)
    assert v.outcome != "undefined" and "3 of 100 resamples undefined, dropped" in v.noise
    many = few.copy()
    many[:, :50] = np.nan
    v = o3.judge(values, many, n_images=64)
    assert v.outcome == "holds" and v.noise.startswith("seeds only") and v.interval.se_images == 0


@pytest.mark.parametrize("noise", [None, "seeds, test images and layers (paired bootstrap)"])
def test_a_records_decide_derives_again_from_its_interval(noise):
    """``rederive_decide`` (run by the merge) gives a record the what-if of the code that
    merges: from a record this code wrote, exactly the one ``judge`` gave it."""
    from reusebench.claims import rederive_decide

    o2 = load_observations(REAL).observations["O2"]
    rng = np.random.default_rng(1)
    values = {s: (0.09 + 0.02 * rng.standard_normal(), "") for s in range(5)}
    images = 0.09 + rng.normal(0, 0.02, (5, 200))
    v = o2.judge(values, images, family_size=20, n_images=128, noise=noise)
    assert v.outcome == "inconclusive" and v.decider is not None
    record = {"kind": "claim", "outcome": v.outcome, **v.record()}
    judged = dict(record["decide"])
    record["decide"]["seeds"] = -1  # as an older code's what-if
    rederive_decide(record, 128)
    assert record["decide"] == judged
