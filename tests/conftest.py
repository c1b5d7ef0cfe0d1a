"""Shared fixtures for the unit tests: a tiny profile and a throwaway checkpoint store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fixtures.lab import Lab
from fixtures.store import FixtureStore
from reusebench.profiles import get_profile


@pytest.fixture(scope="session")
def tiny():
    """A profile small enough that a fixture network trains in about a second, yet learns."""
    return get_profile("smoke").replace(
        image_size=16, n_train=16, n_val=8, n_test=8, width=4, depth=2, batch_size=8, steps=60, lr=0.01,
        eval_batch_size=8, log_every=10, finetune_n=8, finetune_steps=10, finetune_eval_every=5,
    )


@pytest.fixture
def store(tmp_path, tiny):
    return FixtureStore(tmp_path / "cache", tiny, torch.device("cpu"))


@pytest.fixture
def tiny_lab(store):
    return Lab(store)


ROOT = Path(__file__).parents[1]
TINY = ["image_size=16", "n_train=16", "n_val=8", "n_test=8", "width=4", "depth=2", "batch_size=8", "steps=60", "lr=0.01",
        "finetune_n=8", "finetune_steps=10", "finetune_eval_every=5"]


@pytest.fixture
def tiny_overrides() -> list[str]:
    """The --set overrides run_suite passes."""
    return list(TINY)


@pytest.fixture
def run_suite():
    """Run ``pytest benchmarks`` on tiny fixture networks in a subprocess, in a throwaway cache."""

    def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
        sets = [arg for field in TINY for arg in ("--set", field)]
        cmd = [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-q", *sets, *args]
        for option, default in (("--cache-dir", tmp_path / "cache"), ("--results-dir", tmp_path / "results")):
            if option not in args:
                cmd += [option, str(default)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REUSEBENCH_", "PYTEST_"))}
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)

    return run
