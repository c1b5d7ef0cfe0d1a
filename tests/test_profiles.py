import pytest

from reusebench.profiles import get_profile, load_profiles
from reusebench.protocol import ConfigError


def test_profiles_load_and_smoke_is_small():
    profiles = load_profiles()
    assert {"smoke", "paper"} <= set(profiles)
    assert profiles["smoke"].image_size <= 64 and profiles["smoke"].width <= 8


def test_override_parses_values():
    p = get_profile("smoke", {"steps": "10", "lr": "0.01", "seeds": "[3, 4]"})
    assert (p.steps, p.lr, p.seeds) == (10, 0.01, (3, 4))


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("smok", {}, r"unknown profile 'smok'; valid choices: smoke, paper"),
        ("smoke", {"stepz": "1"}, r"unknown profile field 'stepz'.*steps"),
        ("smoke", {"steps": "0"}, r"'steps' must be >= 1, got 0"),
        ("smoke", {"width": "wide"}, r"'width' must be int, got 'wide'"),
        ("smoke", {"batch_size": "1"}, r"'batch_size' must be >= 2"),
        ("smoke", {"seeds": "[0]"}, r"'seeds' must list at least two"),
    ],
)
def test_bad_profile_values_are_named(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_profile(name, overrides)
