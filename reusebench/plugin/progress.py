"""Live progress lines, also from inside a test and from xdist workers."""

from __future__ import annotations

import os
import time

import pytest

from reusebench.lab import Prefetch


class TerminalProgress:
    """``progress(message)`` writes a line to the terminal right away.

    On the controller it goes through the terminal reporter; on a worker, straight to the
    inherited stderr (xdist forwards no live output), with the worker id in front.
    """

    def __init__(self, config: pytest.Config, worker: str) -> None:
        self.config = config
        self.prefix = "" if worker == "main" else f"[{worker}] "
        self.verbose = config.option.verbose > 0

    STEP_LINE = "training "  # training's step-by-step lines (fixtures.training.train): thousands in a cold run

    def __call__(self, message: str) -> None:
        if message.startswith(self.STEP_LINE) and not self.verbose:
            return  # step lines only with -v
        capture = self.config.pluginmanager.getplugin("capturemanager")
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        with capture.global_and_fixture_disabled():
            if reporter is not None and not self.prefix:
                reporter.ensure_newline()
                reporter.write_line(f"reusebench: {message}")
            else:
                os.write(2, f"{self.prefix}reusebench: {message}\n".encode())


def duration(seconds: float) -> str:
    """``95`` -> ``1m 35s``; ``3725`` -> ``1h 2m``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class PrefetchProgress:
    """Lines for a worker's prefetch: the count up front, k/N and the time left after each
    network trained, a closing line. Each worker writes its own (xdist forwards no live output)."""

    def __init__(self, write: TerminalProgress, started: float, worker: int = 0, workers: int = 1, all_total: int = 0) -> None:
        self.write = write
        self.started = started
        self.worker, self.workers, self.all_total = worker, workers, all_total

    def __call__(self, status: Prefetch) -> None:
        share = f"worker {self.worker + 1} of {self.workers}" if self.workers > 1 else "this process"
        if not status.done:
            if status.total:
                self.write(f"phase 1 of 2, the networks: {share} gets {status.total} of the {self.all_total or status.total} ready "
                           f"({status.total - status.to_train} in the cache, {status.to_train} to train); step lines with -v")
            return
        if status.last_trained:
            left = status.seconds_left()
            eta = f"about {duration(left)} left at the mean so far" if left else "none left to train"
            self.write(f"{share}: network {status.done} of its {status.total} ready ({status.trained} of {status.to_train} "
                       f"trained, {eta}; {status.last})")
        if status.done == status.total:
            self.write(f"{share}: all {status.total} of its networks ready in {duration(time.perf_counter() - self.started)} "
                       f"({status.trained} trained, {status.total - status.trained} loaded); phase 2 of 2, the measurements: "
                       "pytest's counter")
