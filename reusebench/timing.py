"""Timings that survive pytest-xdist, in pytest-benchmark's JSON format.

pytest-benchmark disables itself under xdist (it cannot time reliably beside other
workers). The timing tests then measure here, with the statistics pytest-benchmark reports
(min, max, mean, stddev, quartiles, outliers, ops), and the controller writes them as a
pytest-benchmark JSON file, so that ``pytest-benchmark compare`` reads timings from parallel
runs too. Without xdist the plugin itself measures, with its full statistics and reporting.
Only pytest-benchmark's public surface is used: the ``benchmark`` fixture (``enabled``,
``pedantic``, ``group``, ``extra_info``, ``stats["data"]``) and its JSON format.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import version

import torch


def synchronised(fn: Callable[[], object], device: torch.device) -> Callable[[], object]:
    """``fn`` followed by a CUDA synchronisation, so that a timer sees the work, not its launch."""
    if device.type != "cuda":
        return fn

    def run():
        result = fn()
        torch.cuda.synchronize(device)
        return result

    return run


def measure(fn: Callable[[], object], *, rounds: int, warmup: int = 1) -> list[float]:
    """Wall time of ``rounds`` calls of ``fn`` (after ``warmup`` untimed calls), one per round."""
    for _ in range(warmup):
        fn()
    data = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        data.append(time.perf_counter() - start)
    return data


def _quartiles(xs: list[float]) -> tuple[float, float]:
    """Q1 and Q3 of sorted ``xs`` as pytest-benchmark reports them: the medians of the two halves
    for an even count, the weighted neighbours of the quarter points for an odd one (the
    "method 2" and "method 3" of Wikipedia's article on quartiles)."""
    n = len(xs)
    if n == 1:
        return xs[0], xs[0]
    if n % 2 == 0:
        return statistics.median(xs[: n // 2]), statistics.median(xs[n // 2 :])
    k, r = divmod(n, 4)
    if r == 1:
        return 0.25 * xs[k - 1] + 0.75 * xs[k], 0.75 * xs[3 * k] + 0.25 * xs[3 * k + 1]
    return 0.75 * xs[k] + 0.25 * xs[k + 1], 0.25 * xs[3 * k + 1] + 0.75 * xs[3 * k + 2]


def stats_of(data: list[float]) -> dict:
    """The statistics of one benchmark as pytest-benchmark's JSON holds them (outliers: beyond
    1.5 IQR from the quartiles, and beyond one standard deviation from the mean)."""
    xs = sorted(data)
    n = len(xs)
    mean = statistics.fmean(xs)
    stddev = statistics.stdev(xs) if n > 1 else 0.0
    median = statistics.median(xs)
    q1, q3 = _quartiles(xs)
    iqr = q3 - q1
    low, high = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = sum(1 for x in xs if not low <= x <= high)
    stddev_outliers = sum(1 for x in xs if not mean - stddev <= x <= mean + stddev)
    return {
        "min": xs[0], "max": xs[-1], "mean": mean, "stddev": stddev, "rounds": n, "median": median,
        "iqr": iqr, "q1": q1, "q3": q3, "iqr_outliers": iqr_outliers, "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": min(x for x in xs if x >= low), "hd15iqr": max(x for x in xs if x <= high),
        "ops": 1.0 / mean if mean else 0.0, "total": sum(xs), "data": list(data), "iterations": 1,
    }


def time_call(bench, fn: Callable[[], object], *, rounds: int, warmup: int, group: str | None, extra_info: dict) -> tuple[dict, str]:
    """Time ``fn``: (statistics in pytest-benchmark's format, who measured).

    ``bench`` is pytest-benchmark's ``benchmark`` fixture. Enabled (no xdist), it measures
    with its full statistics and reporting; disabled (under xdist), it runs ``fn`` once (the
    first warm-up call, which also marks the fixture used) and the same statistics are
    computed here.
    """
    if bench.enabled:
        bench.group = group
        bench.extra_info.update(extra_info)
        bench.pedantic(fn, rounds=rounds, warmup_rounds=warmup, iterations=1)
        return stats_of(list(bench.stats["data"])), "pytest-benchmark"
    bench.pedantic(fn, rounds=1, iterations=1)
    return stats_of(measure(fn, rounds=rounds, warmup=max(warmup - 1, 0))), "reusebench"


def entry(*, name: str, fullname: str, group: str | None, params: dict | None, stats: dict, extra_info: dict, rounds: int) -> dict:
    """One benchmark, shaped like an entry of pytest-benchmark's ``benchmarks`` list."""
    return {
        "group": group,
        "name": name,
        "fullname": fullname,
        "params": params,
        "param": None if not params else "-".join(str(v) for v in params.values()),
        "extra_info": extra_info,
        "options": {
            "disable_gc": False,
            "timer": "perf_counter",
            "min_rounds": rounds,
            "max_time": None,
            "min_time": None,
            "precision": None,
            "confidence": None,
            "warmup": True,
        },
        "stats": stats,
    }


def machine_info() -> dict:
    """The machine, as pytest-benchmark's ``machine_info`` describes it."""
    from reusebench.environment import cpu_model

    uname = platform.uname()
    return {
        "node": uname.node, "processor": cpu_model(), "machine": uname.machine, "system": uname.system, "release": uname.release,
        "python_implementation": platform.python_implementation(), "python_version": platform.python_version(),
        "python_compiler": platform.python_compiler(), "python_executable": sys.executable,
    }


def commit_info() -> dict:
    """The checkout's commit (``{}`` outside a git checkout), as ``commit_info`` holds it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=True).stdout.strip()

    try:
        return {"id": git("rev-parse", "HEAD"), "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
                "time": git("log", "-1", "--format=%cI"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
                "project": "reusebench"}
    except (OSError, subprocess.SubprocessError):
        return {}


def document(entries: list[dict]) -> dict:
    """A whole pytest-benchmark JSON document around ``entries``."""
    return {
        "machine_info": machine_info(),
        "commit_info": commit_info(),
        "benchmarks": sorted(entries, key=lambda e: e["fullname"]),
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": version("pytest-benchmark"),
    }


def flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call of ``fn`` (torch.utils.flop_counter: 2 per multiply-add). Call it under
    ``torch.no_grad``, not ``inference_mode``: torch 2.1's counter counts nothing there."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())

