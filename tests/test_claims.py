import math
from pathlib import Path

import pytest

from reusebench.claims import ClaimNotReproduced, load_observations
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
    assert not o1.evaluate({"bn.running": math.nan, "bn.affine": 0.1}).holds, "non-finite never holds"


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
