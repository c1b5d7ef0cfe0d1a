"""Faults and hostile input: killed runs, corrupt or untrusted checkpoints, concurrent workers."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from reusebench import models
from reusebench.fixtures.cache import CorruptEntryWarning, UntrustedCheckpointError, file_sha256
from reusebench.fixtures.networks import PaperNetworks
from reusebench.fixtures.store import FixtureSpec, FixtureStore
from reusebench.lab import Case, EmptyGroupError, Lab
from reusebench.replace import state_digest
from conftest import HANG_LIMIT

ROOT = Path(__file__).parents[1]
SPEC = FixtureSpec("unet", "ae", "nuclei", 0)


def python(code: str, **kwargs) -> subprocess.Popen:
    """Run ``code`` in a fresh interpreter from the repository root (-P: importing the installed
    package, not the checkout, as under tox)."""
    return subprocess.Popen([sys.executable, "-P", "-c", textwrap.dedent(code)], cwd=ROOT, **kwargs)


STORE_SNIPPET = """
    import sys, torch
    from reusebench.fixtures.store import FixtureStore, FixtureSpec
    from reusebench.profiles import get_profile
    tiny = get_profile("smoke", {overrides!r})
    store = FixtureStore(sys.argv[1] if len(sys.argv) > 1 else {root!r}, tiny, torch.device("cpu"), progress={progress})
"""


def store_code(root: Path, tiny_overrides: list[str], steps: int = 60, progress: str = "None") -> str:
    """A fresh interpreter's store on the tiny profile, with ``steps`` and a progress line per step."""
    overrides = {**dict(o.split("=", 1) for o in tiny_overrides), "steps": str(steps), "log_every": "1"}
    return textwrap.dedent(STORE_SNIPPET).format(overrides=overrides, root=str(root), progress=progress)


def test_sigkill_during_training_leaves_no_entry_and_the_next_run_retrains(tmp_path, tiny, tiny_overrides):
    started = tmp_path / "started"
    code = store_code(tmp_path, tiny_overrides, steps=100000, progress=f"lambda m: open({str(started)!r}, 'w').write(m)")
    proc = python(code + "\nstore.get(FixtureSpec('unet', 'ae', 'nuclei', 0))\n")
    deadline = time.time() + HANG_LIMIT
    while not started.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert started.exists(), "the training subprocess never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=HANG_LIMIT)

    store = FixtureStore(tmp_path, tiny, torch.device("cpu"))
    assert store.entries() == [], "a killed training leaves no entry a later run would load"
    fixture = store.get(SPEC)
    assert fixture.trained_now
    assert not list(tmp_path.glob(".tmp-*")), "the killed trainer's temporary directory is cleaned up"


def test_altered_checkpoint_is_detected_moved_aside_and_retrained(tmp_path, tiny):
    first = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    weights = tmp_path / first.meta["key"] / "weights.pt"
    blob = bytearray(weights.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte, same length
    weights.write_bytes(bytes(blob))
    with pytest.warns(CorruptEntryWarning, match=str(tmp_path / first.meta["key"])):
        again = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    assert again.trained_now
    assert len(list((tmp_path / "corrupt").iterdir())) == 1


class Payload:
    """Pickles to a call that would create a file when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_checkpoint_that_would_run_code_is_refused(tmp_path, tiny):
    first = FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    entry = tmp_path / first.meta["key"]
    marker = tmp_path / "code-ran"
    torch.save({"trained": Payload(marker), "init": {}}, entry / "weights.pt")
    meta = json.loads((entry / "meta.json").read_text())
    meta["weights_sha256"] = file_sha256(entry / "weights.pt")  # a consistent, hostile entry
    (entry / "meta.json").write_text(json.dumps(meta))

    with pytest.raises(UntrustedCheckpointError, match="refusing to load .*weights.pt"):
        FixtureStore(tmp_path, tiny, torch.device("cpu")).get(SPEC)
    assert not marker.exists(), "the pickled code must not have run"


def test_four_workers_asking_at_once_train_once_and_agree(tmp_path, tiny_overrides):
    code = store_code(tmp_path, tiny_overrides) + textwrap.dedent("""
        from reusebench.replace import state_digest
        fx = store.get(FixtureSpec('unet', 'ae', 'nuclei', 0))
        print(fx.trained_now, state_digest(fx.model))
    """)
    procs = [python(code, stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=HANG_LIMIT)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[0] for o in outputs) == ["False", "False", "False", "True"], "exactly one trained"
    assert len({o[1] for o in outputs}) == 1, "all four hold the identical network"
    entries = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(entries) == 1 and sorted(f.name for f in entries[0].iterdir()) == ["meta.json", "weights.pt"]


def test_a_lock_left_by_a_killed_worker_does_not_block(tmp_path, tiny):
    store = FixtureStore(tmp_path, tiny, torch.device("cpu"))
    lock = tmp_path / f"{store.key(SPEC)}.lock"
    tmp_path.mkdir(exist_ok=True)
    holder = python(
        f"from filelock import FileLock; import time, sys\n"
        f"held = FileLock({str(lock)!r}); held.acquire(); print('held', flush=True); time.sleep(600)",
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(TimeoutError):
        FileLock(str(lock)).acquire(timeout=0.2)  # really held while the holder lives
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=HANG_LIMIT)
    assert lock.exists(), "the lock file stays behind ..."
    assert store.get(SPEC).trained_now, "... but does not block the next run"


class NoNorm(torch.nn.Module):
    """A CNN without BatchNorm, built with the registry's constructor signature."""

    MIN_TRAIN_BATCH = 1

    def __init__(self, in_channels=1, out_channels=1, *, width=4, depth=2, conv_bias=True):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(in_channels, width, 3, padding=1, bias=conv_bias),
            torch.nn.ReLU(),
            torch.nn.Conv2d(width, out_channels, 3, padding=1, bias=conv_bias),
        )

    def forward(self, x):
        return self.net(x)


def test_network_without_batchnorm_skips_bn_groups_with_a_reason(tmp_path, tiny, monkeypatch):
    monkeypatch.setitem(models.MODELS, "unet", NoNorm)
    lab = Lab(PaperNetworks(FixtureStore(tmp_path, tiny, torch.device("cpu")), dataset="nuclei"))
    with pytest.raises(EmptyGroupError, match="not applicable: none of the 0 BN layers of .* holds 'bn.running' tensors \\(no BatchNorm layer is called\\)"):
        lab.measure(Case("unet", "ae", "bn.running", "init", "nuclei"))
    assert lab.measure(Case("unet", "ae", "conv.weight", "init", "nuclei"))["restored_exactly"]


def test_non_finite_results_are_recorded_not_crashed_on(tiny_lab, monkeypatch):
    real = tiny_lab.networks.donor_state

    def poisoned(target, donor):
        return {k: torch.full_like(v, math.inf) if v.is_floating_point() else v for k, v in real(target, donor).items()}

    monkeypatch.setattr(tiny_lab.networks, "donor_state", poisoned)
    fx = tiny_lab.fixture(tiny_lab.target_spec("unet", "ae", "nuclei"))
    before = state_digest(fx.model)
    record = tiny_lab.measure(Case("unet", "ae", "conv.weight", "init", "nuclei"))
    assert math.isnan(record["m_replaced"]) and math.isnan(record["damage"])
    assert all(math.isnan(v) for v in record["damage_ci95"])
    assert record["restored_exactly"] and state_digest(fx.model) == before


def test_prune_keeps_what_the_profile_uses_and_reports_size(tmp_path, tiny):
    store = FixtureStore(tmp_path, tiny, torch.device("cpu"))
    store.get(SPEC)
    other = FixtureStore(tmp_path, tiny.replace(steps=61), torch.device("cpu"))
    other.get(SPEC)
    assert len(store.entries()) == 2 and store.size_bytes() > 0
    removed = store.prune()
    assert [p.name for p in removed] == [other.key(SPEC)]
    assert [p.name for p in store.entries()] == [store.key(SPEC)]
