"""Device choice, CPU thread shares and the environment recorded with every result."""

from __future__ import annotations

import os
import platform
import re
import resource
import sys
import tempfile
from pathlib import Path

import torch

from reusebench.protocol import ConfigError


def available_cores() -> int:
    """Cores this process may run on (respects affinity and container CPU sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_writable(path: Path, what: str, option: str) -> Path:
    """Create ``path`` if needed and prove it writable, or raise a ConfigError saying how to fix it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"the {what} {str(path)!r} is not writable ({exc.strerror or exc}); choose another with {option}"
        ) from None
    return path


def resolve_device(choice: str, worker_index: int = 0, per_device: int = 1) -> torch.device:
    """``auto`` picks a GPU when one is visible, else the CPU. Workers fill GPUs ``per_device``
    at a time, round robin: worker N gets GPU (N // per_device) mod count."""
    slot = worker_index // per_device
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", slot % torch.cuda.device_count())
        return torch.device("cpu")
    if choice == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", choice)
    if not match:
        raise ConfigError(f"unknown device {choice!r}; valid choices: auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {choice!r} was asked for, but torch sees no CUDA device; use --device cpu or auto")
    index = int(match.group(1)) if match.group(1) else slot % torch.cuda.device_count()
    if index >= torch.cuda.device_count():
        raise ConfigError(f"device {choice!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device("cuda", index)


def device_reason(choice: str, device: torch.device) -> str:
    """Why ``choice`` (--device) gave ``device``, in words."""
    if choice == "auto":
        if device.type == "cuda":
            return f"--device auto and torch sees {torch.cuda.device_count()} GPU(s): each worker takes one (--workers-per-device)"
        return "--device auto and torch sees no GPU (a CPU build, or none visible): the CPU, one thread per worker"
    return f"--device {choice} asked for" + (": one thread per worker" if device.type == "cpu" else "")


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model (Linux: /proc/cpuinfo), which results can depend on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def cpu_model() -> str:
    """The CPU's brand and model numbers (py-cpuinfo, as pytest-benchmark records them), e.g.
    "AMD EPYC (AuthenticAMD family 25 model 17 stepping 1, X86_64)": numbers computed on the CPU
    are bitwise repeatable on one model, not across models."""
    try:
        import cpuinfo

        info = cpuinfo.get_cpu_info()
    except Exception:  # py-cpuinfo probes the machine in ways that can fail; the brand string still names it
        return device_name(torch.device("cpu"))
    numbers = ", ".join(filter(None, [
        " ".join(str(x) for x in (info.get("vendor_id_raw"), *(f"{k} {info[k]}" for k in ("family", "model", "stepping") if k in info)) if x),
        info.get("arch"),
    ]))
    brand = info.get("brand_raw") or device_name(torch.device("cpu"))
    return f"{brand} ({numbers})" if numbers else brand


def machine(device: torch.device) -> str:
    """What a baseline is kept per: the CPU model on the CPU, the GPU's name on a GPU."""
    return cpu_model() if device.type == "cpu" else device_name(device)


def describe(device: torch.device, workers: int) -> dict:
    """What produced a result: library versions, machine, device, threads, workers."""
    import numpy
    import skimage

    return {
        "torch": str(torch.__version__),
        "numpy": numpy.__version__,
        "skimage": skimage.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cores": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "workers": workers,
        "device": str(device),
        "device_name": device_name(device),
        "cpu": cpu_model(),
        "cuda": torch.version.cuda,
    }


def peak_memory(device: torch.device) -> dict[str, float | None]:
    """This process's peak resident memory and, on a GPU, peak allocated GPU memory (MiB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    rss_mib = rss / 2**20 if sys.platform == "darwin" else rss / 2**10
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"peak_rss_mib": round(rss_mib, 1), "peak_gpu_mib": None if gpu is None else round(gpu, 1)}
