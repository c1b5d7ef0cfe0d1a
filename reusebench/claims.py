"""The paper's claims as data: a value per seed, judged by its mean and simultaneous interval.

Definitions, thresholds and expected statuses live in ``benchmarks/observations.toml``;
this module loads and validates that file and judges a claim on measured values. O1-O4 are
linear combinations of group damages; R1, R2, C1, M1 and A1 get their values from their tests.
A cell's outcome is *holds*, *does not hold* or *inconclusive* (``reusebench.stats``).
"""

from __future__ import annotations

import dataclasses
import math
import operator
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reusebench import stats
from reusebench.protocol import (
    ARCHITECTURES,
    DONORS,
    GROUPS,
    RECALIBRATIONS,
    FINETUNE_ARMS,
    TASKS,
    ConfigError,
    check_choice,
    donor_applies,
)

OPS = {">=": operator.ge, "<=": operator.le}

AUDIT_EXPECTATION = "none (audit)"  # an audited network's claims have no expected status


def claim_key(record: dict, keys: tuple[str, ...] = ("observation", "arch", "task", "case")) -> str:
    """A claim record's name, ``O3/unet/seg/init``: baselines key their claims by it, the report shows it."""
    return "/".join(str(record[k]) for k in keys)


class ClaimNotReproduced(AssertionError):
    """The measured value does not satisfy the observation's threshold."""


class ClaimInconclusive(Exception):
    """The claim's interval straddles the threshold: neither holds nor does not hold."""


class ClaimUndefined(AssertionError):
    """The claim's value is not a finite number (a NaN or infinite damage): neither holds nor fails.

    Deliberately not a ClaimNotReproduced, so a strict expected failure does not absorb it.
    """


# What a claim's `cases` name: donors (O1-O4, R2, C1, A1), fine-tune arms (R1), or aspects
# of the mechanism (M1).
AXES = {"donor": DONORS, "variant": tuple(a for a in FINETUNE_ARMS if a != "scratch"), "aspect": ("gradient", "drift")}


@dataclass(frozen=True)
class Observation:
    """One claim: a value per target seed, compared with a threshold; judged on the worst seed.

    A claim with ``terms`` is a linear combination of group damages (O1-O4): value =
    sum(coef * damage(group)); a term ``group@adabn`` is that group's damage after AdaBN.
    Other claims (R1, R2, C1, M1, A1) get their values from their own tests. ``given``
    names a claim that must be expected to hold for the same arch, task and case (A1 is
    about configurations where O1 holds).
    """

    id: str
    statement: str
    terms: dict[str, float]  # group -> coefficient; empty when the test computes the value
    op: str
    threshold: float
    cases: tuple[str, ...]
    why: str
    axis: str = "donor"
    given: str | None = None
    unit: str = "damage"
    same: tuple[tuple[str, ...], ...] = ()  # cases that are one cell: the same tensors or training path; the first names it
    machinery: tuple[str, ...] = ()  # cases that hold by construction: checks of the code, not evidence about the paper
    ablation: tuple[str, ...] = ()  # cases of an earlier or weaker design, kept for comparison: not the claim's evidence
    machinery_tasks: tuple[str, ...] = ()  # tasks where every case holds by construction (O4r on the segmenters)

    def members(self, case: str) -> tuple[str, ...]:
        """The cases one cell stands for: itself and those merged into it."""
        return next((g for g in self.same if g[0] == case), (case,))

    @property
    def distinct_cases(self) -> tuple[str, ...]:
        """The cases measured and counted: one per set of identical cases."""
        merged = {case for group in self.same for case in group[1:]}
        return tuple(c for c in self.cases if c not in merged)

    def tier(self, case: str, task: str | None = None) -> str:
        if case in self.machinery or task in self.machinery_tasks:
            return "machinery"
        return "ablation" if case in self.ablation else "evidence"

    def label(self, case: str) -> str:
        """A cell's name that says what it stands for: ``defaults (= init = rerandom)``."""
        group = next((g for g in self.same if g[0] == case), None)
        return case if group is None else f"{case} (= {' = '.join(group[1:])})"

    def value_of(self, damages: dict[str, float]) -> float:
        return sum(coef * damages[group] for group, coef in self.terms.items())

    def holds(self, value: float) -> bool:
        return math.isfinite(value) and OPS[self.op](value, self.threshold)

    def evaluate(self, damages: dict[str, float]) -> "Verdict":
        """The verdict on one seed's damages (a claim with terms)."""
        parts = ", ".join(f"damage({g})={damages[g]:.3f}" for g in self.terms)
        return self.judge({None: (self.value_of(damages), parts)})

    def judge(
        self, per_seed: dict[int | None, tuple[float, str]], image_values: np.ndarray | None = None, family_size: int = 1,
        note: str = "", *, n_images: int | None = None, noise: str | None = None,
    ) -> "Verdict":
        """The verdict over seeds, from each seed's (value, evidence): the mean and its interval,
        simultaneous over a family of ``family_size`` cells; ``image_values`` and ``n_images`` as
        in ``stats.interval`` (None: the value has no per-image parts); ``note``: what the evidence
        says beside the numbers (e.g. the design's power); ``noise``: which sources of noise the
        interval carries, in words (default: seeds, and test images when ``image_values`` is given)."""
        if not per_seed:
            raise ValueError(f"{self.id}: nothing to judge")
        values = [v for v, _ in per_seed.values()]
        if noise is None:
            noise = "seeds and test images (paired bootstrap)" if image_values is not None else "seeds"
        if image_values is not None and np.isfinite(values).all():
            # A resample on which the value is undefined (a rank correlation over one layer drawn
            # every time, a training gain <= 0 on the resampled images) is dropped for every seed
            # alike while 90% remain; beyond that the image term is unknown, and the interval
            # falls back to the seeds alone, saying so, rather than leaving a defined value undefined.
            image_values = np.atleast_2d(np.asarray(image_values, dtype=float))
            defined = np.isfinite(image_values).all(axis=0)
            if not defined.all():
                dropped = int((~defined).sum())
                if defined.mean() >= 0.9:
                    image_values = image_values[:, defined]
                    noise += f"; {dropped} of {len(defined)} resamples undefined, dropped"
                else:
                    image_values = None
                    noise = f"seeds only: the image bootstrap was undefined on {dropped} of {len(defined)} resamples"
        iv = stats.interval(values, image_values, level=stats.cell_level(family_size), n_images=n_images)
        seeds = tuple(SeedValue(seed, value, self.holds(value), evidence) for seed, (value, evidence) in per_seed.items())
        outcome = stats.outcome(iv, self.op, self.threshold)
        decider = None
        if outcome == stats.INCONCLUSIVE:  # what would decide it: more seeds, or more test images where those shrink the term
            decider = decider_of(iv, self.threshold, noise, n_images if image_values is not None else None)
        return Verdict(self, seeds, iv, outcome, family_size, note, noise, decider)

    def image_values(self, per_seed_parts: list[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]) -> np.ndarray:
        """Each seed's value under each resample of the test images (seeds x resamples; one
        resample shared by all seeds, as the measurement is): ``per_seed_parts``: per seed, per
        term, the per-image metric of (T, T', floor)."""
        n_images = len(next(iter(per_seed_parts[0].values()))[0])
        idx = stats.resample_indices(n_images)
        return np.array([
            sum(coef * stats.damage_resamples(*parts[term], idx) for term, coef in self.terms.items())
            for parts in per_seed_parts
        ])


def decider_of(iv: stats.Interval, threshold: float, noise: str, n_images: int | None) -> stats.Decider:
    """What would decide an inconclusive cell (``stats.what_would_decide``): ``noise`` says which
    terms its interval carries; a term over layers is one more test images alone do not shrink."""
    over_layers = "layers" in noise
    return stats.what_would_decide(iv, threshold, None if over_layers else n_images,
                                   "test images and layers" if over_layers else None)


def decide_record(decider: stats.Decider) -> dict:
    return {**dataclasses.asdict(decider), "text": decider.text()}


def rederive_decide(record: dict, n_images: int | None) -> None:
    """Derive an inconclusive claim record's ``decide`` again from its stored interval with this
    code (``python -m reusebench.merge`` does, so a merged report's what-ifs are those of the
    code that renders it; the verdicts are the records' own and do not change). A record with
    no ``decide`` (not inconclusive, or written before there was one) is left as it is."""
    if record.get("kind") != "claim" or record.get("outcome") != stats.INCONCLUSIVE or not record.get("decide"):
        return
    iv = stats.Interval(**{k: v for k, v in record["interval"].items() if k in stats.Interval.__dataclass_fields__})
    image_term = iv.se_images > 0  # 0: no per-image parts, or a shared term estimated at 0 (images then change nothing)
    record["decide"] = decide_record(decider_of(iv, record["threshold"], record.get("noise", "seeds"),
                                                n_images if image_term else None))


@dataclass(frozen=True)
class SeedValue:
    seed: int | None
    value: float
    holds: bool
    evidence: str


@dataclass(frozen=True)
class Verdict:
    observation: Observation
    per_seed: tuple[SeedValue, ...]
    interval: stats.Interval
    outcome: str  # stats.HOLDS, FAILS, INCONCLUSIVE or UNDEFINED
    family_size: int = 1
    note: str = ""
    noise: str = "seeds"  # the sources of noise the interval carries
    decider: stats.Decider | None = None  # an inconclusive cell: what would decide it

    @property
    def value(self) -> float:
        """The claim's value: the mean over seeds."""
        return self.interval.mean

    @property
    def holds(self) -> bool:
        return self.outcome == stats.HOLDS

    @property
    def spread(self) -> float:
        values = [s.value for s in self.per_seed]
        return max(values) - min(values)

    @property
    def statistic(self) -> str:
        iv = self.interval
        if iv.n_seeds == 1 and not iv.se_images:
            return "one value: no interval (one seed, no per-image parts)"
        df = "" if not math.isfinite(iv.df) else f", df {iv.df:.0f}"
        return (f"mean of {iv.n_seeds} seed{'s' * (iv.n_seeds != 1)}, {100 * iv.level:.2f}% interval over {self.noise}{df} "
                f"({self.family_size} cells)")

    @property
    def evidence(self) -> str:
        o = self.observation
        head = f"value {self.interval.text()} ({self.statistic}; need {o.op} {o.threshold}): {self.outcome}"
        if self.note:
            head = f"{head} [{self.note}]"
        if len(self.per_seed) == 1:
            detail = self.per_seed[0].evidence
            return f"{head}{'; ' + detail if detail else ''}"
        seeds = "; ".join(f"seed {s.seed}: {s.value:.3f}{' (' + s.evidence + ')' if s.evidence else ''}" for s in self.per_seed)
        return f"{head}; {seeds}"

    def check(self) -> None:
        if self.outcome == stats.UNDEFINED:
            raise ClaimUndefined(f"{self.observation.id} is undefined here: {self.evidence}")
        if self.outcome == stats.FAILS:
            raise ClaimNotReproduced(f"{self.observation.id} does not hold: {self.evidence}")
        if self.outcome == stats.INCONCLUSIVE:
            raise ClaimInconclusive(f"{self.observation.id} is inconclusive: {self.evidence}")

    def record(self) -> dict:
        """The fields a claim record carries (besides arch, task, case, expected, tier)."""
        o = self.observation
        return {
            "observation": o.id,
            "statement": o.statement,
            "value": self.value,
            "interval": self.interval.as_dict(),
            "outcome": self.outcome,
            "family_size": self.family_size,
            "statistic": self.statistic,
            "noise": self.noise,
            "per_seed": [{"seed": s.seed, "value": s.value, "holds": s.holds, "evidence": s.evidence} for s in self.per_seed],
            "mean": self.value,
            "worst": (min if o.op == ">=" else max)(s.value for s in self.per_seed),  # the old rule's value, for comparison
            "spread": self.spread,
            "op": o.op,
            "threshold": o.threshold,
            "unit": o.unit,
            "holds": self.holds,
            "evidence": self.evidence,
            "note": self.note,
            "decide": None if self.decider is None else decide_record(self.decider),
        }


NOT_CALIBRATED = "not calibrated"  # a cell with no calibrated status: any outcome is reported, none fails
STATUSES = (stats.HOLDS, stats.FAILS, stats.INCONCLUSIVE)


@dataclass(frozen=True)
class Expectation:
    """A cell's calibrated status (``[[expected]]`` in observations.toml): what a calibration run
    of ``profile`` measured, with its numbers in ``reason``."""

    observation: str
    profile: str
    arch: str
    task: str
    case: str
    status: str  # holds, does not hold, inconclusive
    reason: str

    def matches(self, observation: str, profile: str, arch: str, task: str, case: str) -> bool:
        return (self.observation, self.profile, self.arch, self.task, self.case) == (observation, profile, arch, task, case)


def is_contradiction(expected: str, outcome: str) -> bool:
    """The one outcome that fails a run against a calibrated status: holds <-> does not hold.
    A move into or out of inconclusive (another CPU model, torch build or GPU trains slightly
    different networks) is reported, never failed."""
    return {expected, outcome} == {stats.HOLDS, stats.FAILS}


def move(expected: str, outcome: str) -> str | None:
    """``"inconclusive -> holds"`` when a calibrated cell moved into or out of inconclusive; None otherwise."""
    if expected in STATUSES and outcome in STATUSES and expected != outcome and not is_contradiction(expected, outcome):
        return f"{expected} -> {outcome}"
    return None


@dataclass(frozen=True)
class ObservationBook:
    observations: dict[str, Observation]
    expected: tuple[Expectation, ...] = field(default=())
    # Where the statuses were measured: the named profile with exactly these --set overrides and
    # this target dataset (and, for the record, the device type). Elsewhere they do not apply.
    calibration: dict = field(default_factory=lambda: {"dataset": "shapes", "device": "cpu", "overrides": []})
    calibrated_on: dict = field(default_factory=dict)  # profile -> {"machine", "torch", "date"} of its calibration run

    def calibrated_for(self, overrides: list[str], dataset: str) -> bool:
        """Whether the calibrated statuses apply to a run: the profile as calibrated (the same --set
        overrides) on the same target dataset. Another machine, torch build or device is the same
        experiment, so they apply there too: verdicts are portable, only a flip fails."""
        normal = sorted(o.replace(" ", "") for o in overrides)
        return normal == sorted(o.replace(" ", "") for o in self.calibration["overrides"]) and dataset == self.calibration["dataset"]

    def expectation(self, observation: str, profile: str, arch: str, task: str, case: str) -> Expectation | None:
        for e in self.expected:
            if e.matches(observation, profile, arch, task, case):
                return e
        return None

    def expected_status(self, observation: str, profile: str, arch: str, task: str, case: str) -> str:
        """holds / does not hold / inconclusive as calibrated, or ``NOT_CALIBRATED``. A machinery
        cell is expected to hold wherever the code is right, calibrated or not."""
        obs = self.observations[observation]
        if obs.tier(case, task) == "machinery":
            return stats.HOLDS
        e = self.expectation(observation, profile, arch, task, case)
        return e.status if e else NOT_CALIBRATED

    def applies(self, observation: str, profile: str, arch: str, task: str, case: str) -> bool:
        """Whether the claim's ``given`` claim is not calibrated as "does not hold" here (always, without one)."""
        given = self.observations[observation].given
        return given is None or self.expected_status(given, profile, arch, task, case) != stats.FAILS


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
        observations[oid] = _observation(oid, table, f"{where} [observation.{oid}]")
    for oid, o in observations.items():
        if o.given is not None:
            check_choice("claim", o.given, observations, f"{where} [observation.{oid}] given")
    if "expected_failure" in raw:
        raise ConfigError(f"{where}: [[expected_failure]] entries were replaced by [[expected]] with a status "
                          f"({', '.join(STATUSES)}); regenerate them with scripts/expected_failures.py --write")
    expected, seen = [], set()
    for i, table in enumerate(raw.get("expected", [])):
        here = f"{where} [[expected]] #{i + 1}"
        try:
            e = Expectation(**{k: table[k] for k in ("observation", "profile", "arch", "task", "case", "status")}, reason=str(table.get("reason", "")))
        except KeyError as exc:
            raise ConfigError(f"{here}: missing field {exc.args[0]!r}") from None
        check_choice("observation", e.observation, observations, here)
        check_choice("architecture", e.arch, ARCHITECTURES, here)
        check_choice("task", e.task, TASKS, here)
        check_choice("case", e.case, observations[e.observation].distinct_cases, here)
        check_choice("status", e.status, STATUSES, here)
        key = (e.observation, e.profile, e.arch, e.task, e.case)
        if key in seen:
            raise ConfigError(f"{here}: {'/'.join(key)} has a status already")
        seen.add(key)
        expected.append(e)
    calibrated_on = raw.get("calibrated", {})
    if not isinstance(calibrated_on, dict) or not all(isinstance(v, dict) for v in calibrated_on.values()):
        raise ConfigError(f"{where} [calibrated]: needs one table per profile ([calibrated.smoke] machine = ..., torch = ..., date = ...)")
    calibration = {"overrides": [], **raw.get("calibration", {"dataset": "shapes", "device": "cpu"})}
    if set(calibration) != {"dataset", "device", "overrides"} or not isinstance(calibration["overrides"], list):
        raise ConfigError(
            f"{where} [calibration]: needs 'dataset', 'device' and optionally 'overrides' (a list of "
            f"FIELD=VALUE), got {sorted(calibration)}"
        )
    return ObservationBook(observations, tuple(expected), dict(calibration), dict(calibrated_on))


def _observation(oid: str, table: dict, here: str) -> Observation:
    try:
        terms = table.get("terms", {})
        if not isinstance(terms, dict) or not isinstance(table.get("cases"), list):
            raise ConfigError(f"{here}: 'terms' must be a table of group = coefficient and 'cases' a list of names")
        bad = {g: c for g, c in terms.items() if isinstance(c, bool) or not isinstance(c, (int, float))}
        if bad:
            raise ConfigError(f"{here}: coefficients must be numbers, got {bad}")
        for term in terms:
            group, _, recal = term.partition("@")
            check_choice("group", group, GROUPS, here)
            if recal:
                check_choice("recalibration", recal, RECALIBRATIONS, here)
        axis = check_choice("axis", table.get("axis", "donor"), AXES, here)
        if terms and axis != "donor":
            raise ConfigError(f"{here}: a claim with 'terms' is over donors, got axis {axis!r}")
        op = check_choice("operator", table["op"], OPS, here)
        threshold = table["threshold"]
        cases = tuple(check_choice(axis, c, AXES[axis], here) for c in table["cases"])
        statement, why = str(table["statement"]), str(table["why"])
    except KeyError as exc:
        raise ConfigError(f"{here}: missing field {exc.args[0]!r}") from None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ConfigError(f"{here}: threshold must be a finite number, got {threshold!r}")
    for case in cases if axis == "donor" else ():
        for term in terms:
            if not donor_applies(case, term.partition("@")[0]):
                raise ConfigError(f"{here}: donor {case!r} makes no sense for group {term.partition('@')[0]!r}")
    same = table.get("same", [])
    if not isinstance(same, list) or not all(isinstance(g, list) and len(g) >= 2 for g in same):
        raise ConfigError(f"{here}: 'same' must be a list of lists of two or more cases, got {same!r}")
    for group in same:
        for case in group:
            check_choice(f"case of 'same' ({axis})", case, cases, here)
    machinery = table.get("machinery", [])
    if machinery is True:
        machinery = list(cases)
    if not isinstance(machinery, list):
        raise ConfigError(f"{here}: 'machinery' must be true or a list of cases, got {machinery!r}")
    for case in machinery:
        check_choice(f"case of 'machinery' ({axis})", case, cases, here)
    ablation = table.get("ablation", [])
    if not isinstance(ablation, list) or set(ablation) & set(machinery):
        raise ConfigError(f"{here}: 'ablation' must be a list of cases, none of them 'machinery', got {ablation!r}")
    for case in ablation:
        check_choice(f"case of 'ablation' ({axis})", case, cases, here)
    machinery_tasks = table.get("machinery_tasks", [])
    if not isinstance(machinery_tasks, list):
        raise ConfigError(f"{here}: 'machinery_tasks' must be a list of tasks, got {machinery_tasks!r}")
    for task in machinery_tasks:
        check_choice("task of 'machinery_tasks'", task, TASKS, here)
    return Observation(
        oid, statement, {t: float(c) for t, c in terms.items()}, op, float(threshold), cases, why,
        axis=axis, given=table.get("given"), unit=str(table.get("unit", "damage")),
        same=tuple(tuple(g) for g in same), machinery=tuple(machinery), ablation=tuple(ablation),
        machinery_tasks=tuple(machinery_tasks),
    )


def decide_commands(decide: dict, test: str, profile: str) -> list[str]:
    """The main-job commands that would run an inconclusive cell (``test``: its node id) at what
    its ``decide`` record asks: more seeds, more test images, or both. Such a run is not the
    profile as calibrated: its statuses are reported, none fails."""
    name = test.rpartition("::")[2]
    base = "./dev main" + ("" if profile == "smoke" else f" --reusebench-profile {profile}")

    def seeds(n: int) -> str:
        return f'--set "seeds=[{", ".join(map(str, range(n)))}]"' if n <= 8 else f'--set "seeds=[0, 1, ..., {n - 1}]"'

    out = []
    if decide.get("seeds"):
        out.append(f'{base} {seeds(decide["seeds"])} -k "{name}"')
    if decide.get("images"):
        out.append(f'{base} --set n_test={decide["images"]} -k "{name}"')
    if decide.get("both"):
        n, images = decide["both"]
        out.append(f'{base} {seeds(n)} --set n_test={images} -k "{name}"')
    return out
