import pytest

from reusebench.profiles import get_profile, load_profiles
from reusebench.protocol import ConfigError


def test_profiles_load_and_smoke_is_small():
    profiles = load_profiles()
    assert {"smoke", "paper"} <= set(profiles)
    assert profiles["smoke"].image_size <= 64 and profiles["smoke"].width <= 8


def test_override_parses_values():
    p = get_profile("smoke", {"steps": "300", "lr": "0.01", "seeds": "[3, 4]"})
    assert (p.steps, p.lr, p.seeds) == (300, 0.01, (3, 4))
    sgd = get_profile("smoke", {"optimizer": "sgd", "momentum": "0", "weight_decay": "0"})
    assert (sgd.optimizer, sgd.momentum, sgd.weight_decay) == ("sgd", 0.0, 0.0)  # TOML's 0 for a float field


def test_the_optimiser_and_the_convergence_rule_enter_the_fixture_key():
    fields = get_profile("smoke").fixture_fields()
    assert {"optimizer", "lr", "momentum", "weight_decay", "val_every", "patience", "plateau_tol", "plateau_noise", "steps"} <= set(fields)


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("smok", {}, r"unknown profile 'smok'; valid choices: smoke, decisive, smoke-sgd, standard, paper"),
        ("smoke", {"stepz": "1"}, r"unknown profile field 'stepz'.*steps"),
        ("smoke", {"steps": "0"}, r"'steps' must be >= 1, got 0"),
        ("smoke", {"width": "wide"}, r"'width' must be int, got 'wide'"),
        ("smoke", {"batch_size": "1"}, r"'batch_size' must be >= 2"),
        ("smoke", {"seeds": "[0]"}, r"'seeds' must list at least two"),
        ("smoke", {"seeds": "5"}, r"'seeds' must list at least two integers .* got 5"),
        ("smoke", {"lr": "nan"}, r"'lr' must be a finite number, got nan"),
        ("smoke", {"n_train": "4"}, r"'batch_size' 16 exceeds 'n_train' 4"),
        ("smoke", {"optimizer": "rmsprop"}, r"'optimizer' must be one of adam, sgd, got 'rmsprop'"),
        ("smoke", {"momentum": "0.9"}, r"'momentum' is SGD's; with optimizer 'adam' it must be 0.0, got 0.9"),
        ("smoke", {"optimizer": "sgd", "momentum": "1"}, r"'momentum' must be < 1, got 1.0"),
        ("smoke", {"weight_decay": "-1e-4"}, r"'weight_decay' must be >= 0, got -0.0001"),
        ("smoke", {"patience": "0"}, r"'patience' must be >= 1, got 0"),
        ("smoke", {"plateau_tol": "0"}, r"'plateau_tol' must be > 0.0, got 0.0"),
        ("smoke", {"plateau_noise": "-1"}, r"'plateau_noise' must be >= 0, got -1.0"),
        ("smoke", {"look_ahead": "1"}, r"'look_ahead' must be true or false, got 1"),
        ("smoke", {"seeds": "[0, 100]"}, r"'seeds' must lie in 0..99 \(seeds 100 \+ s are the independent donors' pool\), got \(0, 100\)"),
        ("smoke", {"steps": "100"}, r"'val_every' x 'patience' = 25 x 8 must be below 'steps' 100"),
        ("smoke", {"finetune_lrs": "[0.001, 0.01]"}, r"'finetune_lrs' \[0.001, 0.01\] must include the training 'lr' 0.003"),
        ("smoke", {"finetune_lrs": "[]"}, r"'finetune_lrs' must list distinct positive learning rates, got \(\)"),
        ("smoke", {"finetune_lrs": "[0.003, -1]"}, r"'finetune_lrs' must list distinct positive learning rates, got \(0.003, -1.0\)"),
    ],
)
def test_bad_profile_values_are_named(name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        get_profile(name, overrides)


def test_a_bad_profiles_file_names_the_profile_and_field(tmp_path):
    from reusebench.profiles import PROFILES_FILE

    text = PROFILES_FILE.read_text().replace("width = 8", 'width = "8"', 1)
    bad = tmp_path / "profiles.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=r"profiles.toml \[smoke\]: field 'width' must be int, got '8'"):
        load_profiles(bad)
    bad.write_text(PROFILES_FILE.read_text().replace("\nsteps = ", "\nstepz = ", 1))
    with pytest.raises(ConfigError, match=r"\[smoke\]: unknown fields \['stepz'\], missing fields \['steps'\]"):
        load_profiles(bad)


def test_a_run_that_is_not_the_committed_profile_is_named_by_its_overrides():
    from reusebench.plugin.state import variant_name

    assert variant_name({}, "shapes") == "" and variant_name({}, None) == ""
    assert variant_name({"patience": "6", "seeds": "[0, 1]"}, "nuclei") == "patience=6,seeds=_0,_1_,dataset=nuclei"
