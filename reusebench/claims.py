"""The paper's observations as data: a linear combination of group damages against a threshold.

Definitions, thresholds and expected statuses live in ``benchmarks/observations.toml``;
this module loads and validates that file and evaluates a claim on measured damages.
"""

from __future__ import annotations

import math
import operator
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from reusebench.protocol import ARCHITECTURES, DONORS, GROUPS, TASKS, ConfigError, check_choice, donor_applies

OPS = {">=": operator.ge, "<=": operator.le}


class ClaimNotReproduced(AssertionError):
    """The measured value does not satisfy the observation's threshold."""


class ClaimUndefined(AssertionError):
    """The claim's value is not a finite number (a NaN or infinite damage): neither holds nor fails.

    Deliberately not a ClaimNotReproduced, so a strict expected failure does not absorb it.
    """


@dataclass(frozen=True)
class Observation:
    id: str
    statement: str
    terms: dict[str, float]  # group -> coefficient; value = sum(coef * damage(group))
    op: str
    threshold: float
    donors: tuple[str, ...]
    why: str

    def evaluate(self, damages: dict[str, float]) -> "Verdict":
        value = sum(coef * damages[group] for group, coef in self.terms.items())
        holds = math.isfinite(value) and OPS[self.op](value, self.threshold)
        return Verdict(self, {g: damages[g] for g in self.terms}, value, holds)


@dataclass(frozen=True)
class Verdict:
    observation: Observation
    damages: dict[str, float]
    value: float
    holds: bool

    @property
    def evidence(self) -> str:
        parts = ", ".join(f"damage({g})={d:.3f}" for g, d in self.damages.items())
        return f"value {self.value:.3f} (need {self.observation.op} {self.observation.threshold}; {parts})"

    def check(self) -> None:
        if not math.isfinite(self.value):
            raise ClaimUndefined(f"{self.observation.id} is undefined here: {self.evidence}")
        if not self.holds:
            raise ClaimNotReproduced(f"{self.observation.id} does not hold: {self.evidence}")


@dataclass(frozen=True)
class ExpectedFailure:
    observation: str
    profile: str
    arch: str
    task: str
    donor: str
    reason: str

    def matches(self, observation: str, profile: str, arch: str, task: str, donor: str) -> bool:
        return (self.observation, self.profile, self.arch, self.task, self.donor) == (observation, profile, arch, task, donor)


@dataclass(frozen=True)
class ObservationBook:
    observations: dict[str, Observation]
    expected_failures: tuple[ExpectedFailure, ...] = field(default=())
    # Where the expected failures were measured: the named profile with exactly these --set
    # overrides, this target dataset and device type. Elsewhere they are not strict.
    calibration: dict = field(default_factory=lambda: {"dataset": "shapes", "device": "cpu", "overrides": []})

    def calibrated_for(self, overrides: list[str], dataset: str, device_type: str) -> bool:
        normal = sorted(o.replace(" ", "") for o in overrides)
        return (
            normal == sorted(o.replace(" ", "") for o in self.calibration["overrides"])
            and dataset == self.calibration["dataset"]
            and device_type == self.calibration["device"]
        )

    def expected_failure(self, observation: str, profile: str, arch: str, task: str, donor: str) -> ExpectedFailure | None:
        for xf in self.expected_failures:
            if xf.matches(observation, profile, arch, task, donor):
                return xf
        return None


def load_observations(path: Path) -> ObservationBook:
    """Load and validate the declarative observations file; errors name the entry and the field."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the observations file {path} ({exc}); see --observations") from None
    where = path.name
    observations = {}
    for oid, table in raw.get("observation", {}).items():
        here = f"{where} [observation.{oid}]"
        try:
            if not isinstance(table.get("terms"), dict) or not isinstance(table.get("donors"), list):
                raise ConfigError(f"{here}: 'terms' must be a table of group = coefficient and 'donors' a list of names")
            bad = {g: c for g, c in table["terms"].items() if isinstance(c, bool) or not isinstance(c, (int, float))}
            if bad:
                raise ConfigError(f"{here}: coefficients must be numbers, got {bad}")
            terms = {check_choice("group", g, GROUPS, here): float(c) for g, c in table["terms"].items()}
            op = check_choice("operator", table["op"], OPS, here)
            threshold = table["threshold"]
            donors = tuple(check_choice("donor", d, DONORS, here) for d in table["donors"])
            statement, why = str(table["statement"]), str(table["why"])
        except KeyError as exc:
            raise ConfigError(f"{here}: missing field {exc.args[0]!r}") from None
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise ConfigError(f"{here}: threshold must be a finite number, got {threshold!r}")
        for donor in donors:
            for group in terms:
                if not donor_applies(donor, group):
                    raise ConfigError(f"{here}: donor {donor!r} makes no sense for group {group!r}")
        observations[oid] = Observation(oid, statement, terms, op, float(threshold), donors, why)
    failures = []
    for i, table in enumerate(raw.get("expected_failure", [])):
        here = f"{where} [[expected_failure]] #{i + 1}"
        try:
            xf = ExpectedFailure(**{k: table[k] for k in ("observation", "profile", "arch", "task", "donor", "reason")})
        except KeyError as exc:
            raise ConfigError(f"{here}: missing field {exc.args[0]!r}") from None
        check_choice("observation", xf.observation, observations, here)
        check_choice("architecture", xf.arch, ARCHITECTURES, here)
        check_choice("task", xf.task, TASKS, here)
        check_choice("donor", xf.donor, observations[xf.observation].donors, here)
        failures.append(xf)
    calibration = {"overrides": [], **raw.get("calibration", {"dataset": "shapes", "device": "cpu"})}
    if set(calibration) != {"dataset", "device", "overrides"} or not isinstance(calibration["overrides"], list):
        raise ConfigError(
            f"{where} [calibration]: needs 'dataset', 'device' and optionally 'overrides' (a list of "
            f"FIELD=VALUE), got {sorted(calibration)}"
        )
    return ObservationBook(observations, tuple(failures), dict(calibration))
