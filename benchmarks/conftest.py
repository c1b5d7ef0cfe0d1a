"""Parametrization of the benchmark tests from the protocol and ``observations.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.lab import Case
from reusebench.claims import ClaimNotReproduced, Observation, load_observations
from reusebench.protocol import ConfigError, donor_applies

@dataclass(frozen=True)
class ObservationCase:
    observation: Observation
    arch: str
    task: str
    donor: str
    expected: str  # "holds" or "fails", from observations.toml


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    sel = config.reusebench_selection  # --arch/--task/--donor/--group/--dataset
    if "observation_case" in metafunc.fixturenames:
        book, profile = config.reusebench_observations, config.reusebench_profile.name
        calibrated = book.calibrated_for(config.getoption("profile_overrides"), sel.dataset, config.reusebench_device.type)
        params = []
        for obs in book.observations.values():
            if not set(obs.terms) <= set(sel.groups):
                continue
            for arch in sel.archs:
                for task in sel.tasks:
                    for donor in (d for d in obs.donors if d in sel.donors):
                        marks = [pytest.mark.observation(obs.id), _target_group(arch, task)]
                        xf = book.expected_failure(obs.id, profile, arch, task, donor)
                        if xf is not None:
                            reason = xf.reason if calibrated else f"not strict: measured on {book.calibration}, not this setup; {xf.reason}"
                            marks.append(pytest.mark.xfail(strict=calibrated, raises=ClaimNotReproduced, reason=reason))
                        params.append(
                            pytest.param(
                                ObservationCase(obs, arch, task, donor, "holds" if xf is None else "fails"),
                                marks=marks,
                                id=f"{obs.id}-{arch}-{task}-{donor}",
                            )
                        )
        metafunc.parametrize("observation_case", params)
    if "battery_case" in metafunc.fixturenames:
        params = [
            pytest.param(Case(arch, task, group, donor, sel.dataset), marks=_target_group(arch, task), id=f"{arch}-{task}-{group}-{donor}")
            for arch in sel.archs
            for task in sel.tasks
            for group in sel.groups
            for donor in sel.donors
            if donor_applies(donor, group)
        ]
        metafunc.parametrize("battery_case", params)
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", sel.archs)
    if "task" in metafunc.fixturenames:
        metafunc.parametrize("task", sel.tasks)


def _cases_of(item: pytest.Item) -> list[tuple[str, str, str]]:
    """The (arch, task, donor) cases a collected test will measure."""
    params = getattr(item, "callspec", None)
    params = params.params if params else {}
    if "observation_case" in params:
        c = params["observation_case"]
        return [(c.arch, c.task, c.donor)]
    if "battery_case" in params:
        c = params["battery_case"]
        return [(c.arch, c.task, c.donor)]
    if "arch" in params:  # arch-only tests (timings) work on the segmentation target
        return [(params["arch"], params.get("task", "seg"), "init")]
    return []


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: prefetch only what the selected tests need
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.reusebench_cases = sorted({case for item in items for case in _cases_of(item)})


@pytest.fixture(scope="session", autouse=True)
def trained_fixture_networks(request: pytest.FixtureRequest, lab) -> None:
    """Train (or load) every fixture network the selected tests need, split across xdist workers.

    Workers take disjoint shares, so a cold run trains in parallel; the store's file lock
    makes sure that a network is trained once even when two workers ask for it.
    """
    config = request.config
    specs = sorted(lab.needed(config.reusebench_cases), key=lambda s: (s.arch, s.task, s.dataset, s.seed))
    lab.prefetch(specs, *config.reusebench_worker)
