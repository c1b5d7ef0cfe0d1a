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
                reporter.flush()  # live: a piped stdout is block-buffered, and the line would wait behind the test dots
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


# Before this run has trained a network of its own, the share of the budget a full training runs
# (it stops early at the convergence rule): the smoke profile's mean, measured 2026-12-02 (30,675
# of 60 x 800 steps). Replaced by the run's own mean as soon as one full training finished.
PRIOR_FULL_FRACTION = 0.64


class WorkModel:
    """The time left of a worker's training, in training steps rather than networks: a full
    training runs up to the profile's budget (stopping early: at the share of the budget the run's
    full trainings have used so far), a fine-tune its fixed budget; a step costs in proportion to
    its architecture's forward FLOPs. Seconds per unit of work are measured per kind (full
    trainings, fine-tunes), a kind not seen yet borrowing the other's.

    ``specs``: the worker's share in order; ``work(spec)`` -> (kind, budget steps, cost per
    step); ``steps_run(spec)`` -> the steps a trained network ran (None: its budget)."""

    def __init__(self, specs: list, work, steps_run) -> None:
        self.specs, self.work, self.steps_run = specs, work, steps_run
        self.seconds = {"full": 0.0, "finetune": 0.0}
        self.units = {"full": 0.0, "finetune": 0.0}
        self.fractions: dict[str, list[float]] = {}  # per task: the share of the budget its full trainings ran
        self.to_train: set[int] = set()

    def trained(self, index: int, seconds: float) -> None:
        spec = self.specs[index]
        kind, budget, cost = self.work(spec)
        ran = self.steps_run(spec) or budget
        self.seconds[kind] += seconds
        self.units[kind] += ran * cost
        if kind == "full":
            self.fractions.setdefault(_task(spec), []).append(ran / budget)

    def seconds_left(self, done: int) -> float | None:
        rates = {k: self.seconds[k] / self.units[k] for k in self.units if self.units[k] > 0}
        if not rates:
            return None
        def fraction(spec) -> float:
            # its task's own mean (auto-encoders run longer than segmenters), else the prior
            own = self.fractions.get(_task(spec))
            return sum(own) / len(own) if own else PRIOR_FULL_FRACTION

        left = 0.0
        for index in range(done, len(self.specs)):
            if index not in self.to_train:
                continue
            spec = self.specs[index]
            kind, budget, cost = self.work(spec)
            rate = rates.get(kind) or next(iter(rates.values()))
            left += rate * budget * cost * (fraction(spec) if kind == "full" else 1.0)
        return left


def _task(spec) -> str:
    return str(getattr(spec, "task", ""))


class PrefetchProgress:
    """Lines for a worker's prefetch: the count up front, k/N and the time left after each
    network trained, a closing line. Each worker writes its own (xdist forwards no live output).
    With a ``model`` (``WorkModel``) the time left is estimated in training steps; without, as
    the mean time per network so far times the networks left."""

    def __init__(self, write: TerminalProgress, started: float, worker: int = 0, workers: int = 1, all_total: int = 0,
                 model: WorkModel | None = None, stored=None) -> None:
        self.write = write
        self.started = started
        self.worker, self.workers, self.all_total = worker, workers, all_total
        self.model, self.stored = model, stored
        self.last_time = started

    def __call__(self, status: Prefetch) -> None:
        share = f"worker {self.worker + 1} of {self.workers}" if self.workers > 1 else "this process"
        now = time.perf_counter()
        if not status.done:
            if self.model is not None and self.stored is not None:
                self.model.to_train = {i for i, spec in enumerate(self.model.specs) if not self.stored(spec)}
            if status.total:
                self.write(f"phase 1 of 2, the networks: {share} gets {status.total} of the {self.all_total or status.total} ready "
                           f"({status.total - status.to_train} in the cache, {status.to_train} to train); step lines with -v")
            self.last_time = now
            return
        if status.last_trained:
            if self.model is not None:
                self.model.trained(status.done - 1, now - self.last_time)
                left = self.model.seconds_left(status.done)
                how = "in training steps"
            else:
                left, how = status.seconds_left(), "at the mean so far"
            eta = f"about {duration(left)} of training left ({how})" if left else "none left to train"
            self.write(f"{share}: network {status.done} of its {status.total} ready ({status.trained} of {status.to_train} "
                       f"trained, {eta}; {status.last})")
        self.last_time = now
        if status.done == status.total:
            self.write(f"{share}: all {status.total} of its networks ready in {duration(now - self.started)} "
                       f"({status.trained} trained, {status.total - status.trained} loaded); phase 2 of 2, the measurements: "
                       "pytest's counter")
