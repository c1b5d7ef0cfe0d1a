"""A pytest plugin for one unit test (``-p hold_after_first_test``): once the first test that
recorded a measurement has finished, it says so on the terminal and holds the run until a signal
arrives, so a test can interrupt a run at a known point (an event), whatever the machine's speed."""

from __future__ import annotations

import os
import time

import pytest

from reusebench.plugin.fixtures import RECORD_KEY

HELD = "hold_after_first_test: held after"
HOLD_LIMIT = 3600  # an outer limit only: the interrupting test signals as soon as it reads HELD

_recorded: list[str] = []
_held: list[str] = []
_config: list[pytest.Config] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown" and any(key == RECORD_KEY for key, _ in report.user_properties):
        _recorded.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str) -> None:
    if not _recorded or _held:
        return
    _held.append(nodeid)
    config = _config[0]
    reporter = config.pluginmanager.getplugin("terminalreporter")
    with config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(f"{HELD} {nodeid}")
        reporter.flush()
    time.sleep(HOLD_LIMIT)


def pytest_configure(config: pytest.Config) -> None:
    _config.append(config)


@pytest.hookimpl(trylast=True)
def pytest_keyboard_interrupt() -> None:
    """With HOLD_THEN_BREAK_PYTEST=1, fail as pytest's own handler sometimes does (Python 3.11, a
    frame without a line number): pytest then never sets the INTERRUPTED status."""
    if os.environ.get("HOLD_THEN_BREAK_PYTEST") == "1":
        raise TypeError("unsupported operand type(s) for -: 'NoneType' and 'int' (simulated)")
