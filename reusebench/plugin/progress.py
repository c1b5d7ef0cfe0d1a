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

    def __call__(self, message: str) -> None:
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

    def __init__(self, write: TerminalProgress, started: float) -> None:
        self.write = write
        self.started = started

    def __call__(self, status: Prefetch) -> None:
        if not status.done:
            if status.total:
                self.write(f"{status.total} networks to get ready: {status.total - status.to_train} in the cache, "
                           f"{status.to_train} to train")
            return
        if status.last_trained:
            left = status.seconds_left()
            eta = f"about {duration(left)} left" if left else "none left to train"
            self.write(f"network {status.done}/{status.total} ready ({status.trained}/{status.to_train} trained, {eta})")
        if status.done == status.total:
            self.write(f"all {status.total} networks ready in {duration(time.perf_counter() - self.started)} "
                       f"({status.trained} trained, {status.total - status.trained} loaded)")
