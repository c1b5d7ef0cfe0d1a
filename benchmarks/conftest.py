"""Parametrization of the benchmark tests from the protocol and ``observations.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.lab import Case
from reusebench.claims import ClaimNotReproduced, ClaimUndefined, Observation, load_observations
from reusebench.report import AUDIT_EXPECTATION
from reusebench.protocol import RECALIBRATIONS, REUSE_VARIANTS, ConfigError, donor_applies

# Layer maps: re-initialisation and re-randomisation (Zhang, Bengio, Singer 2019).
LAYER_MAP_DONORS = ("init", "rerandom")

@dataclass(frozen=True)
class ClaimCase:
    """One claim test: a claim on one arch x task x case (a donor, a reuse variant or an aspect)."""

    observation: Observation
    arch: str
    task: str
    case: str
    expected: str  # "holds" or "fails", from observations.toml

    @property
    def donor(self) -> str:
        return self.case


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.reusebench_observations = load_observations(Path(config.getoption("observations")))
    except ConfigError as exc:
        raise pytest.UsageError(f"reusebench: {exc}") from None


def _target_group(arch: str, task: str) -> pytest.MarkDecorator:
    # With --dist loadgroup (./dev main passes it), a target network's cases stay on one
    # worker, which evaluates its baselines once. pytest 9.2 with pytest-xdist 3.8 ignores
    # the groups (pytest-xdist#1386); the prefetch below keeps cold runs parallel anyway.
    return pytest.mark.xdist_group(f"{arch}-{task}")


def claim_params(config: pytest.Config, ids: list[str]) -> list:
    """pytest params for the claims ``ids`` over the selection, with their expected failures as
    strict xfails (non-strict off the calibrated configuration)."""
    sel = config.reusebench_selection  # --arch/--task/--donor/--group/--dataset
    book, profile = config.reusebench_observations, config.reusebench_profile.name
    calibrated = book.calibrated_for(config.getoption("profile_overrides"), sel.dataset, config.reusebench_device.type)
    audit = config.reusebench_audit is not None
    params = []
    for oid in ids:
        obs = book.observations.get(oid)
        groups = {t.partition("@")[0] for t in obs.terms} if obs else set()
        if obs is None or not groups <= set(sel.groups) or audit and obs.axis != "donor":
            continue
        if audit:  # the audit's own donors: those the claim takes, and the user's pre-trained model
            cases = [d for d in sel.donors if (d in obs.cases or d == "pretrained") and all(donor_applies(d, g) for g in groups)]
        else:
            cases = obs.cases
        for arch in sel.archs:
            for task in sel.tasks:
                for case in cases:
                    if obs.axis == "donor" and case not in sel.donors or not book.applies(oid, profile, arch, task, case):
                        continue
                    marks = [pytest.mark.observation(oid), _target_group(arch, task)]
                    xf = book.expected_failure(oid, profile, arch, task, case)
                    if audit:  # no expectations for your network: a claim that does not hold is a finding
                        marks.append(pytest.mark.xfail(
                            strict=False, raises=(ClaimNotReproduced, ClaimUndefined),
                            reason="audit: the claim does not hold (or is undefined) for this network",
                        ))
                    elif xf is not None:
                        reason = xf.reason if calibrated else f"not strict: measured on {book.calibration}, not this setup; {xf.reason}"
                        marks.append(pytest.mark.xfail(strict=calibrated, raises=ClaimNotReproduced, reason=reason))
                    expected = AUDIT_EXPECTATION if audit else "holds" if xf is None else "fails"
                    params.append(pytest.param(ClaimCase(obs, arch, task, case, expected), marks=marks, id=f"{oid}-{arch}-{task}-{case}"))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    sel = config.reusebench_selection
    if "claim_case" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("claims")  # @pytest.mark.claims("O1", ...)
        if marker is None:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: a claim_case test needs @pytest.mark.claims(...)")
        book = config.reusebench_observations
        ids = list(marker.args) or [oid for oid, o in book.observations.items() if o.terms]  # no ids: the damage claims
        metafunc.parametrize("claim_case", claim_params(config, ids))
    if "layer_map" in metafunc.fixturenames:
        params = [
            pytest.param((arch, task, group, donor, scope), marks=_target_group(arch, task), id=f"{arch}-{task}-{group}-{donor}-{scope}")
            for arch in sel.archs
            for task in sel.tasks
            for group in sel.groups
            for donor in (*LAYER_MAP_DONORS, "pretrained")
            if donor in sel.donors and donor_applies(donor, group)
            for scope in ("layer", "prefix")
        ]
        metafunc.parametrize("layer_map", params)
    if "battery_case" in metafunc.fixturenames:
        params = [
            pytest.param(
                Case(arch, task, group, donor, sel.dataset, recalibration=recal, seed=seed),
                marks=_target_group(arch, task),
                id=f"{arch}-{task}-{group}-{donor}-{recal}-seed{seed}",
            )
            for arch in sel.archs
            for task in sel.tasks
            for group in sel.groups
            for donor in sel.donors
            if donor_applies(donor, group)
            for recal in RECALIBRATIONS
            for seed in config.reusebench_seeds
        ]
        metafunc.parametrize("battery_case", params)
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", config.reusebench_seeds, ids=lambda s: f"seed{s}")
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", sel.archs)
    if "task" in metafunc.fixturenames:
        metafunc.parametrize("task", sel.tasks)


def _cases_of(item: pytest.Item) -> list[tuple[str, str, str, int | None]]:
    """The (arch, task, donor, seed) cases a collected test will measure (seed None: every seed)."""
    params = getattr(item, "callspec", None)
    params = params.params if params else {}
    if "claim_case" in params:
        c = params["claim_case"]
        if c.observation.axis == "variant":  # R1/R2: the fine-tune and its scratch control
            return [(c.arch, c.task, f"finetune:{c.case}", None), (c.arch, c.task, "finetune:scratch", None)]
        return [(c.arch, c.task, c.case if c.observation.axis == "donor" else "init", None)]
    if "layer_map" in params:
        arch, task, _, donor, _ = params["layer_map"]
        return [(arch, task, donor, item.config.reusebench_profile.seeds[0])]  # layer maps: the first seed
    if "battery_case" in params:
        c = params["battery_case"]
        return [(c.arch, c.task, c.donor, c.seed)]
    if "arch" in params:  # arch-only tests (timings) work on the segmentation target
        task, seed = params.get("task", "seg"), params.get("seed")
        if item.originalname == "test_finetune_runs":
            return [(params["arch"], task, f"finetune:{v}", seed) for v in REUSE_VARIANTS]
        return [(params["arch"], task, "init", seed)]
    return []


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: prefetch only what the selected tests need
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # An audit leaves out what needs the paper's networks; the paper's battery leaves out the verdict.
    unwanted = "paper_only" if config.reusebench_audit is not None else "audit_only"
    dropped = [item for item in items if item.get_closest_marker(unwanted)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker(unwanted)]
    config.reusebench_cases = sorted({case for item in items for case in _cases_of(item)}, key=repr)


@pytest.fixture(scope="session", autouse=True)
def trained_fixture_networks(request: pytest.FixtureRequest, lab) -> None:
    """Train (or load) every fixture network the selected tests need, split across xdist workers.

    Workers take disjoint shares, so a cold run trains in parallel; the store's file lock
    makes sure that a network is trained once even when two workers ask for it.
    """
    config = request.config
    # fine-tunes last: they start from networks of the first round
    specs = sorted(lab.needed(config.reusebench_cases), key=lambda s: (bool(s.start), s.arch, s.task, s.dataset, s.seed))
    lab.prefetch(specs, *config.reusebench_worker)


@pytest.fixture
def judge(record):
    """Judge a claim over the seeds' (value, evidence), record the verdict, raise if it fails."""

    def judge(case: ClaimCase, per_seed: dict[int, tuple[float, str]]) -> None:
        verdict = case.observation.judge(per_seed)
        record("claim", {"arch": case.arch, "task": case.task, "case": case.case, "expected": case.expected, **verdict.record()})
        verdict.check()

    return judge
