"""The suite's fixtures: thin, each one job; the work happens in the engine and the providers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from reusebench.fixtures.audit import AuditNetworks
from reusebench.fixtures.networks import PaperNetworks
from reusebench.fixtures.store import FixtureStore
from reusebench import timing
from reusebench.environment import describe
from reusebench.lab import PER_IMAGE, Lab, record_context
from reusebench.plugin.options import option
from reusebench.plugin.progress import TerminalProgress
from reusebench.plugin.state import SuiteState, state
from reusebench.profiles import Profile
from reusebench.record_cache import RecordCache

RECORD_KEY = "reusebench"  # the user_properties key that carries records to the controller
RECORDS_DIR = "records"  # measured records, under the cache directory


@pytest.fixture(scope="session")
def suite(pytestconfig: pytest.Config) -> SuiteState:
    """What this session decided at start-up: profile, device, selection, audit, observations."""
    return state(pytestconfig)


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    return state(pytestconfig).profile


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    return state(pytestconfig).device


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Lab:
    """The per-process lab over the paper's fixture networks, or over an audit's networks."""
    suite = state(pytestconfig)
    progress = TerminalProgress(pytestconfig, suite.worker.id)
    if suite.audit is not None:
        networks = AuditNetworks(suite.audit, suite.profile, suite.device, suite.cache_dir, progress, worker=suite.worker.id, accel=suite.accel)
    else:
        store = FixtureStore(suite.cache_dir, suite.profile, suite.device, progress, worker=suite.worker.id, accel=suite.accel)
        networks = PaperNetworks(store, dataset=suite.selection.dataset)
    records = RecordCache(suite.cache_dir / RECORDS_DIR, record_context(networks), read=not option(pytestconfig, "--remeasure"))
    suite.lab = Lab(networks, records, reuse_mib=suite.reuse_mib)
    return suite.lab


@pytest.fixture
def record(request: pytest.FixtureRequest) -> Callable[[str, dict], None]:
    """Call ``record(kind, data)`` to add a record to this run's results (works under xdist)."""

    def add(kind: str, data: dict) -> None:
        kept = {k: v for k, v in data.items() if k != PER_IMAGE}  # per-image values stay in the record cache
        request.node.user_properties.append((RECORD_KEY, {"kind": kind, "test": request.node.nodeid, **kept}))

    return add


@pytest.fixture
def timed(request: pytest.FixtureRequest, record, device: torch.device):
    """``timed(fn, rounds=N)``: time ``fn``; recorded in pytest-benchmark's format, under xdist too."""
    bench = request.getfixturevalue("benchmark")

    def run(fn, *, rounds: int, warmup: int = 1, group: str | None = None) -> dict:
        extra = {
            "torch": str(torch.__version__),
            "device": str(device),
            "device_name": describe(device, 1)["device_name"],
            "torch_threads": torch.get_num_threads(),
            "workers": state(request.config).worker.count,
        }
        stats, measured_by = timing.time_call(bench, timing.synchronised(fn, device), rounds=rounds, warmup=warmup, group=group, extra_info=extra)
        params = dict(request.node.callspec.params) if hasattr(request.node, "callspec") else None
        benchmark = timing.entry(
            name=request.node.name, fullname=request.node.nodeid, group=group, params=params,
            stats=stats, extra_info=extra, rounds=rounds,
        )
        record("timing", {"benchmark": benchmark, "measured_by": measured_by})
        return stats

    return run
