"""Timings that survive pytest-xdist, in pytest-benchmark's JSON format.

pytest-benchmark disables itself under xdist (it cannot time reliably beside other
workers). The timing tests then measure with the same statistics (``pytest_benchmark.stats``)
and the controller writes them as a pytest-benchmark JSON file, so that
``pytest-benchmark compare`` reads timings from parallel runs too. Without xdist the plugin
itself measures, with its full statistics and reporting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

import torch
from pytest_benchmark import __version__ as pytest_benchmark_version
from pytest_benchmark.plugin import pytest_benchmark_generate_machine_info
from pytest_benchmark.stats import Stats
from pytest_benchmark.utils import get_commit_info


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


def stats_of(data: list[float]) -> dict:
    stats = Stats()
    for value in data:
        stats.update(value)
    return {**stats.as_dict(), "data": list(data), "iterations": 1}


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
        return {**bench.stats.stats.as_dict(), "data": list(bench.stats.stats.data), "iterations": 1}, "pytest-benchmark"
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


def document(entries: list[dict]) -> dict:
    """A whole pytest-benchmark JSON document around ``entries``."""
    return {
        "machine_info": pytest_benchmark_generate_machine_info(),
        "commit_info": get_commit_info(),
        "benchmarks": sorted(entries, key=lambda e: e["fullname"]),
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": pytest_benchmark_version,
    }
