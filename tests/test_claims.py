import math
from pathlib import Path

import pytest

from reusebench.claims import ClaimNotReproduced, ClaimUndefined, load_observations
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
    with pytest.raises(ClaimNotReproduced, match=r"O1 does not hold: value 0.100 \(the one seed; need >= 0.2\); damage\(bn.running\)=0.200"):
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
            BASE + '[[expected_failure]]\nobservation="X"\nprofile="smoke"\narch="vgg"\ntask="seg"\ncase="init"\nreason="r"\n',
            r"unknown architecture 'vgg'",
        ),
    ],
)
def test_bad_observations_file_names_the_value_and_choices(tmp_path, text, message):
    path = tmp_path / "observations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_observations(path)


def test_judged_on_the_worst_seed():
    o2 = load_observations(REAL).observations["O2"]  # damage(bn.affine) <= 0.1
    verdict = o2.judge({0: (0.02, "a"), 1: (0.15, "b"), 2: (0.05, "c")})
    assert verdict.value == 0.15 and not verdict.holds, "one bad seed sinks a claim"
    assert verdict.mean == pytest.approx(0.22 / 3) and verdict.spread == pytest.approx(0.13)
    assert [s.holds for s in verdict.per_seed] == [True, False, True]
    assert "worst of 3 seeds" in verdict.evidence and "seed 1: 0.150 (b)" in verdict.evidence
    r1 = load_observations(REAL).observations["R1"]  # advantage >= threshold: the worst is the smallest
    assert r1.judge({0: (0.9, ""), 1: (0.3, "")}).value == 0.3
    with pytest.raises(ClaimUndefined):
        r1.judge({0: (0.9, ""), 1: (math.nan, "")}).check()
    record = verdict.record()
    assert record["per_seed"][1] == {"seed": 1, "value": 0.15, "holds": False, "evidence": "b"}
    assert record["statistic"] == "worst of 3 seeds" and record["holds"] is False


def test_given_limits_a_claim_to_where_another_is_expected_to_hold(tmp_path):
    path = tmp_path / "observations.toml"
    path.write_text(
        BASE
        + '[observation.Y]\nstatement = "s"\nop = ">="\nthreshold = 0.5\ncases = ["init", "rerandom"]\nwhy = "w"\ngiven = "X"\n'
        + '[[expected_failure]]\nobservation="X"\nprofile="smoke"\narch="unet"\ntask="seg"\ncase="init"\nreason="r"\n'
    )
    book = load_observations(path)
    assert not book.applies("Y", "smoke", "unet", "seg", "init")
    assert book.applies("Y", "smoke", "unet", "seg", "rerandom") and book.applies("Y", "smoke", "unet", "ae", "init")
