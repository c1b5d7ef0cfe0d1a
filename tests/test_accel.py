"""The GPU training paths, tested on the CPU: guards, cache keys, flags, and what they call (mocked)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reusebench.fixtures import accel as accel_module
from reusebench.fixtures.accel import Acceleration, strict_fp32
from reusebench.fixtures.store import FixtureSpec, FixtureStore
from reusebench.fixtures.training import train
from reusebench.fixtures.datasets import make_split
from reusebench.environment import resolve_device
from reusebench.protocol import ConfigError

CPU, GPU = torch.device("cpu"), torch.device("cuda", 0)


@pytest.mark.parametrize(
    "setting, named",
    [(Acceleration("bf16"), "--precision bf16"), (Acceleration("tf32"), "--precision tf32"),
     (Acceleration(channels_last=True), "--channels-last"), (Acceleration(compile=True), "--compile")],
)
def test_gpu_paths_are_refused_on_the_cpu_by_name(setting, named):
    with pytest.raises(ConfigError, match=f"{named}: GPU paths, but the device is cpu.*valid: --precision fp32"):
        setting.check(CPU)
    assert setting.check(GPU) is setting
    assert Acceleration().check(CPU) == Acceleration()


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(ConfigError, match="unknown precision 'fp8'; valid choices: fp32, tf32, bf16"):
        Acceleration("fp8")


def test_only_non_default_settings_change_the_fixture_key(tmp_path, tiny):
    spec = FixtureSpec("unet", "seg", "shapes", 0)
    plain = FixtureStore(tmp_path, tiny, GPU).key(spec)
    assert FixtureStore(tmp_path, tiny, GPU, accel=Acceleration()).key(spec) == plain
    keys = {FixtureStore(tmp_path, tiny, GPU, accel=a).key(spec) for a in (Acceleration("bf16"), Acceleration("tf32"), Acceleration(channels_last=True))}
    assert len(keys) == 3 and plain not in keys


def test_precision_flags_are_set_inside_and_restored(monkeypatch):
    strict_fp32()
    with Acceleration("tf32").training(CPU):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with Acceleration("tf32").evaluation(CPU):
            assert not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    with Acceleration().training(CPU):
        assert not torch.backends.cudnn.allow_tf32, "fp32 is strict: no TF32 in cuDNN convolutions either"


def test_bf16_autocasts_the_training_block_on_the_device(monkeypatch):
    calls = []
    real = torch.autocast

    def recording(device_type, dtype=None, enabled=True):
        calls.append((device_type, dtype, enabled))
        return real("cpu", dtype=torch.bfloat16, enabled=False)  # no CUDA here: record, do nothing

    monkeypatch.setattr(accel_module.torch, "autocast", recording)
    with Acceleration("bf16").training(GPU):
        pass
    with Acceleration("fp32").training(GPU):
        pass
    assert calls == [("cuda", torch.bfloat16, True)]


def test_channels_last_and_compile_prepare_the_training_module(monkeypatch):
    compiled = []
    monkeypatch.setattr(accel_module.torch, "compile", lambda model: compiled.append(model) or model)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    a = Acceleration(channels_last=True, compile=True)
    assert a.prepare(model) is model and compiled == [model]
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert a.batch(torch.zeros(2, 1, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    a.finish(model)
    assert model[0].weight.is_contiguous()


def test_training_in_channels_last_leaves_contiguous_weights(tiny):
    data = make_split("shapes", "train", n=8, size=16, data_seed=0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.Conv2d(2, 1, 1))
    log = train(model, "seg", data, steps=3, batch_size=4, lr=0.01, seed=0, device=CPU, accel=Acceleration(channels_last=True))
    assert log["final_loss"] > 0
    assert all(p.is_contiguous() for p in model.parameters())


@pytest.mark.parametrize("per_device, expected", [(1, [0, 1, 0, 1]), (2, [0, 0, 1, 1]), (3, [0, 0, 0, 1])])
def test_k_workers_per_gpu(monkeypatch, per_device, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for choice in ("auto", "cuda"):
        assert [resolve_device(choice, i, per_device).index for i in range(4)] == expected
