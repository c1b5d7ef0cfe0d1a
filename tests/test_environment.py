import pytest
import torch

from reusebench.environment import resolve_device
from reusebench.protocol import ConfigError


@pytest.fixture
def four_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)


def test_auto_gives_each_worker_its_own_gpu_round_robin(four_gpus):
    assert [resolve_device("auto", w) for w in range(6)] == [torch.device("cuda", i) for i in (0, 1, 2, 3, 0, 1)]
    assert resolve_device("cuda", 5) == torch.device("cuda", 1)
    assert resolve_device("cuda:2", 0) == torch.device("cuda", 2), "an explicit index wins"
    assert resolve_device("cpu", 3) == torch.device("cpu")


def test_auto_without_gpu_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", 3) == torch.device("cpu")
    with pytest.raises(ConfigError, match="torch sees no CUDA device"):
        resolve_device("cuda", 0)


def test_bad_device_names_are_named(four_gpus):
    with pytest.raises(ConfigError, match="only 4 CUDA device"):
        resolve_device("cuda:7", 0)
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        resolve_device("gpu", 0)
