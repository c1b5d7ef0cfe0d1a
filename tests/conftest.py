"""Shared fixtures for the unit tests: a tiny profile and a throwaway checkpoint store."""

from __future__ import annotations

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
        eval_batch_size=8, log_every=10,
    )


@pytest.fixture
def store(tmp_path, tiny):
    return FixtureStore(tmp_path / "cache", tiny, torch.device("cpu"))


@pytest.fixture
def tiny_lab(store):
    return Lab(store)
