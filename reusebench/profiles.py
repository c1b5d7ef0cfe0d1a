"""Profiles (sizes of data, networks and training), loaded from ``profiles.toml`` and validated."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from reusebench.protocol import DONOR_SEED_OFFSET, ConfigError

PROFILES_FILE = Path(__file__).with_name("profiles.toml")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    image_size: int
    n_train: int
    n_val: int
    n_test: int
    width: int
    depth: int
    batch_size: int
    steps: int  # the training budget; the cosine schedule reaches zero at its end
    optimizer: str  # OPTIMIZERS
    lr: float
    momentum: float  # SGD's momentum; must be 0 for Adam (its betas are torch's defaults)
    weight_decay: float  # L2 penalty, either optimiser
    val_every: int  # the validation curve's resolution (steps); recorded with every network
    patience: int  # convergence (early stopping): training ends once this many evaluations in a row ...
    plateau_tol: float  # ... have not beaten the best validation metric by this much, nor by ...
    plateau_noise: float  # ... this many standard errors of the paired difference on the validation images; `steps` is the budget
    look_ahead: bool  # after the rule's stop, train up to `patience` more evaluations to record what twice the patience would keep
                      # (meta "patience_check"); the kept weights are the rule's either way. Costs ~22% of the full trainings' steps
    eval_batch_size: int
    data_seed: int
    seeds: tuple[int, ...]
    log_every: int
    finetune_n: int  # R1: the slice of the target's training split a fine-tune sees
    finetune_steps: int  # R1: the step budget, for the reused start and for scratch alike
    finetune_eval_every: int  # R1: learning-curve resolution (validation metric every k steps)
    finetune_lrs: tuple[float, ...]  # R1: the learning rates each arm chooses from on the validation split (lr among them)

    def fixture_fields(self) -> dict:
        """The fields that determine a trained fixture network (its cache key); not reporting knobs."""
        skip = {"name", "description", "log_every", "seeds", "eval_batch_size", "n_test", *FINETUNE_FIELDS}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in skip}

    def finetune_fields(self) -> dict:
        """The fields that determine a fine-tuned network, beside its base fixture's and its
        learning rate (the spec's: the grid itself does not change a network)."""
        return {name: getattr(self, name) for name in FINETUNE_FIELDS if name != "finetune_lrs"}

    def replace(self, **changes: object) -> "Profile":
        return validate(dataclasses.replace(self, **changes), where=f"override of profile {self.name!r}")


FINETUNE_FIELDS = ("finetune_n", "finetune_steps", "finetune_eval_every", "finetune_lrs")
OPTIMIZERS = ("adam", "sgd")


# field -> (type, minimum: exclusive for floats, inclusive for ints; None: >= 0); seeds,
# optimizer and momentum's upper bound are checked on their own.
_RULES: dict[str, tuple[type, float | None]] = {
    "image_size": (int, 16),
    "n_train": (int, 2),
    "n_val": (int, 1),
    "n_test": (int, 1),
    "width": (int, 1),
    "depth": (int, 2),
    "batch_size": (int, 2),
    "steps": (int, 1),
    "lr": (float, 0.0),
    "momentum": (float, None),
    "weight_decay": (float, None),
    "val_every": (int, 1),
    "patience": (int, 1),
    "plateau_tol": (float, 0.0),
    "plateau_noise": (float, None),
    "eval_batch_size": (int, 1),
    "data_seed": (int, 0),
    "log_every": (int, 1),
    "finetune_n": (int, 2),
    "finetune_steps": (int, 1),
    "finetune_eval_every": (int, 1),
}


def _as_field_type(field: str, value: object) -> object:
    """TOML's ``0`` for a float field is the float ``0.0``; a list field is a tuple (of floats
    for ``finetune_lrs``); anything else is left to ``validate``."""
    if field in ("seeds", "finetune_lrs") and isinstance(value, list):
        return tuple(float(v) if field == "finetune_lrs" and isinstance(v, int) and not isinstance(v, bool) else v for v in value)
    if _RULES.get(field, (None,))[0] is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def validate(profile: Profile, where: str) -> Profile:
    """Check types and ranges; raise ConfigError naming the field, the value and where it came from."""
    for field, (kind, minimum) in _RULES.items():
        value = getattr(profile, field)
        ok_type = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else (
            isinstance(value, int) and not isinstance(value, bool)
        )
        if not ok_type:
            raise ConfigError(f"{where}: field {field!r} must be {kind.__name__}, got {value!r}")
        if kind is float and not math.isfinite(value):
            raise ConfigError(f"{where}: field {field!r} must be a finite number, got {value!r}")
        if minimum is None:
            if value < 0:
                raise ConfigError(f"{where}: field {field!r} must be >= 0, got {value!r}")
        elif value < minimum or (kind is float and value == minimum):
            bound = f"> {minimum}" if kind is float else f">= {minimum}"
            raise ConfigError(f"{where}: field {field!r} must be {bound}, got {value!r}")
    if not isinstance(profile.look_ahead, bool):
        raise ConfigError(f"{where}: field 'look_ahead' must be true or false, got {profile.look_ahead!r}")
    if profile.optimizer not in OPTIMIZERS:
        raise ConfigError(f"{where}: field 'optimizer' must be one of {', '.join(OPTIMIZERS)}, got {profile.optimizer!r}")
    if profile.optimizer == "adam" and profile.momentum != 0:
        raise ConfigError(f"{where}: 'momentum' is SGD's; with optimizer 'adam' it must be 0.0, got {profile.momentum!r}")
    if profile.momentum >= 1:
        raise ConfigError(f"{where}: field 'momentum' must be < 1, got {profile.momentum!r}")
    if profile.val_every * profile.patience >= profile.steps:
        raise ConfigError(
            f"{where}: 'val_every' x 'patience' = {profile.val_every} x {profile.patience} must be below 'steps' "
            f"{profile.steps}, or the convergence rule could never stop training"
        )
    seeds = profile.seeds
    if not isinstance(seeds, tuple) or len(seeds) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError(f"{where}: 'seeds' must list at least two integers (an interval needs two seeds), got {profile.seeds!r}")
    if len(set(profile.seeds)) != len(profile.seeds):
        raise ConfigError(f"{where}: 'seeds' must be distinct, got {profile.seeds!r}")
    if not all(0 <= s < DONOR_SEED_OFFSET for s in profile.seeds):  # seeds from DONOR_SEED_OFFSET up are the donor pool
        raise ConfigError(f"{where}: 'seeds' must lie in 0..{DONOR_SEED_OFFSET - 1} (seeds {DONOR_SEED_OFFSET} + s are the "
                          f"independent donors' pool), got {profile.seeds!r}")
    if profile.batch_size > profile.n_train:
        raise ConfigError(f"{where}: 'batch_size' {profile.batch_size} exceeds 'n_train' {profile.n_train}")
    lrs = profile.finetune_lrs
    if (
        not isinstance(lrs, tuple) or not lrs
        or not all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in lrs) or len(set(lrs)) != len(lrs)
    ):
        raise ConfigError(f"{where}: 'finetune_lrs' must list distinct positive learning rates, got {lrs!r}")
    if profile.lr not in lrs:
        raise ConfigError(
            f"{where}: 'finetune_lrs' {list(lrs)} must include the training 'lr' {profile.lr} "
            "(the ablation arms and their scratch control run at it)"
        )
    if profile.finetune_n > profile.n_train:
        raise ConfigError(f"{where}: 'finetune_n' {profile.finetune_n} exceeds 'n_train' {profile.n_train}")
    if profile.image_size % 8:
        raise ConfigError(f"{where}: 'image_size' must be a multiple of 8, got {profile.image_size}")
    return profile


def load_profiles(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the profiles file {path} ({exc})") from None
    known = {f.name for f in dataclasses.fields(Profile)} - {"name"}
    profiles = {}
    for name, table in raw.items():
        where = f"{path.name} [{name}]"
        unknown, missing = set(table) - known, known - set(table)
        if unknown or missing:
            raise ConfigError(f"{where}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
        if not isinstance(table["seeds"], list):
            raise ConfigError(f"{where}: 'seeds' must list at least two integers (an interval needs two seeds), got {table['seeds']!r}")
        table = {field: _as_field_type(field, value) for field, value in table.items()}
        profiles[name] = validate(Profile(name=name, **table), where)
    return profiles


def get_profile(name: str, overrides: dict[str, str] | None = None) -> Profile:
    """The named profile, with ``field=value`` overrides (values parsed as TOML scalars) applied."""
    profiles = load_profiles()
    if name not in profiles:
        raise ConfigError(f"unknown profile {name!r}; valid choices: {', '.join(profiles)}")
    profile = profiles[name]
    if overrides:
        changes = {}
        fields = {f.name for f in dataclasses.fields(Profile)} - {"name"}
        for key, text in overrides.items():
            if key not in fields:
                raise ConfigError(f"unknown profile field {key!r} in override; valid fields: {', '.join(sorted(fields))}")
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError:
                value = text
            changes[key] = _as_field_type(key, value)
        profile = profile.replace(**changes)
    return profile
