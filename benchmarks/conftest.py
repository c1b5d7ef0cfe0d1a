"""Parametrization of the benchmark tests from the protocol and ``observations.toml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.lab import Case
from reusebench.claims import ClaimNotReproduced, Observation, load_observations
from reusebench.protocol import ARCHITECTURES, DONORS, GROUPS, TASKS, ConfigError, donor_applies

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    if "observation_case" in metafunc.fixturenames:
        book, profile = config.reusebench_observations, config.reusebench_profile.name
        params = []
        for obs in book.observations.values():
            for arch in ARCHITECTURES:
                for task in TASKS:
                    for donor in obs.donors:
                        marks = [pytest.mark.observation(obs.id)]
                        xf = book.expected_failure(obs.id, profile, arch, task, donor)
                        if xf is not None:
                            marks.append(pytest.mark.xfail(strict=True, raises=ClaimNotReproduced, reason=xf.reason))
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
            pytest.param(Case(arch, task, group, donor), id=f"{arch}-{task}-{group}-{donor}")
            for arch in ARCHITECTURES
            for task in TASKS
            for group in GROUPS
            for donor in DONORS
            if donor_applies(donor, group)
        ]
        metafunc.parametrize("battery_case", params)
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", ARCHITECTURES)
    if "task" in metafunc.fixturenames:
        metafunc.parametrize("task", TASKS)


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
    tasks = [params["task"]] if "task" in params else list(TASKS)
    return [(params["arch"], task, "init") for task in tasks] if "arch" in params else []


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
