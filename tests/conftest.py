"""Shared fixtures for the unit tests: one tiny profile, a throwaway checkpoint store, the suite in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reusebench.fixtures.networks import PaperNetworks
from reusebench.fixtures.store import FixtureStore
from reusebench.lab import Lab
from reusebench.plugin.state import variant_name
from reusebench.profiles import get_profile
from reusebench.report.layout import VARIANTS_DIR

ROOT = Path(__file__).parents[1]
# An outer limit on waiting for a subprocess or an event: it only ends a hang; no test's outcome
# depends on how fast the machine is (a slow, busy machine waits longer, it does not fail).
HANG_LIMIT = 3600
# The smoke profile shrunk until a fixture network trains in about a second, yet learns (patience 5:
# with 3, torch 2.1.2 stopped a UNet AE at step 40 on its 8 validation images before it had learned):
# the one definition, used in process (`tiny`) and on the command line (`--set`, `run_suite`).
TINY = {
    "image_size": "16", "n_train": "16", "n_val": "8", "n_test": "8", "width": "4", "depth": "2", "batch_size": "8",
    "steps": "60", "lr": "0.01", "eval_batch_size": "8", "log_every": "10",
    "finetune_n": "8", "finetune_steps": "10", "finetune_eval_every": "5", "seeds": "[0, 1]", "val_every": "10", "patience": "5",
}


# where a run of the tiny profile writes, under --results-dir: a run that is not its profile as
# committed (here, --set) writes apart (reusebench.plugin.state.variant_name)
TINY_RESULTS = f"smoke/{VARIANTS_DIR}/{variant_name(TINY, None)}"


@pytest.fixture(scope="session")
def tiny():
    return get_profile("smoke", TINY)


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The tiny profile as the --set overrides that ``run_suite`` passes."""
    return [f"{field}={value}" for field, value in TINY.items()]


@pytest.fixture
def store(tmp_path, tiny):
    return FixtureStore(tmp_path / "cache", tiny, torch.device("cpu"))


@pytest.fixture
def tiny_lab(store):
    return Lab(PaperNetworks(store))


def _suite_args(tmp_path: Path, tiny_overrides: list[str], args: tuple[str, ...]) -> list[str]:
    """``pytest benchmarks`` on the tiny profile, in a throwaway cache and results directory."""
    sets = [arg for field in tiny_overrides for arg in ("--set", field)]
    cmd = [str(ROOT / "benchmarks"), "-p", "no:cacheprovider", "-q", *sets, *args]
    for option, default in (("--cache-dir", tmp_path / "cache"), ("--results-dir", tmp_path / "results")):
        if option not in args:
            cmd += [option, str(default)]
    return cmd


@pytest.fixture
def inline_suite(pytester, monkeypatch, tiny_overrides):
    """Run ``pytest benchmarks`` in this process (pytester): for options, collection and start-up errors.

    Returns pytester's ``RunResult`` (``ret``, ``outlines``, ``errlines``). Runs that train
    and spread over xdist workers use ``run_suite`` instead.
    """
    for key in [k for k in os.environ if k.startswith("REUSEBENCH_")]:
        monkeypatch.delenv(key)
    threads = torch.get_num_threads()

    def run(tmp_path: Path, *args: str):
        try:
            return pytester.runpytest_inprocess(*_suite_args(tmp_path, tiny_overrides, args))
        finally:
            torch.set_num_threads(threads)  # the plugin sets the CPU threads of the process it configures

    return run


@pytest.fixture
def run_suite(tiny_overrides):
    """Run ``pytest benchmarks`` on the tiny profile in a subprocess (xdist runs, runs that train)."""

    def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
        # -P: the checkout stays off sys.path, so the package under test is the installed one (tox installs a wheel)
        cmd = [sys.executable, "-P", "-m", "pytest", *_suite_args(tmp_path, tiny_overrides, args)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REUSEBENCH_", "PYTEST_"))}
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_LIMIT)

    return run
