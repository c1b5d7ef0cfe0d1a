import math
from pathlib import Path

import pytest

from reusebench.claims import ClaimNotReproduced, ClaimUndefined, load_observations
from reusebench.protocol import ConfigError

REAL = Path(__file__).parents[1] / "benchmarks" / "observations.toml"


def test_the_real_observations_file_is_valid():
    book = load_observations(REAL)
    assert set(book.observations) >= {"O1", "O2", "O3", "O4"}


def test_evaluate_linear_claim():
    o1 = load_observations(REAL).observations["O1"]
    verdict = o1.evaluate({"bn.running": 0.9, "bn.affine": 0.1})
    assert verdict.holds and verdict.value == pytest.approx(0.8)
    verdict.check()
    failing = o1.evaluate({"bn.running": 0.2, "bn.affine": 0.1})
    with pytest.raises(ClaimNotReproduced, match=r"O1 does not hold: value 0.100 \(need >= 0.2"):
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
donors = ["init"]
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
        (BASE.replace('["init"]', '"init"'), r"'donors' a list of names"),
        (BASE.replace("1.0 }", '"one" }'), r"coefficients must be numbers"),
        (BASE.replace("[observation.X]", "[observation.X"), r"cannot read the observations file"),
        (BASE + '[calibration]\ndataset = "shapes"\n', r"\[calibration\]: needs 'dataset', 'device' and optionally 'overrides'"),
        (
            BASE + '[[expected_failure]]\nobservation="X"\nprofile="smoke"\narch="vgg"\ntask="seg"\ndonor="init"\nreason="r"\n',
            r"unknown architecture 'vgg'",
        ),
    ],
)
def test_bad_observations_file_names_the_value_and_choices(tmp_path, text, message):
    path = tmp_path / "observations.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_observations(path)
