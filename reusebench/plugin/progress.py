"""Live progress lines, also from inside a test and from xdist workers."""

from __future__ import annotations

import os

import pytest


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
