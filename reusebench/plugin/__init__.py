"""reusebench's pytest plugin: the wiring between pytest (and pytest-xdist) and the suite.

Installed with reusebench, pytest loads it in every session (entry point ``pytest11``), so it
stays out of the way until a session runs the suite: it adds its options (dests prefixed
``reusebench_``) and nothing else. The suite's own ``conftest.py`` (``benchmarks/``) calls
``activate`` from its ``pytest_configure``; only then are the markers, the fixtures, the
state and the results writer registered. A user's own test session sees no fixture, no
marker and no file written by reusebench. ``pytest --audit my.toml`` with no test path runs
the installed benchmarks (``options.pytest_load_initial_conftests``).

One module per job:

- ``options``: the command-line options, and where the suite's benchmarks are;
- ``state``: ``start`` checks the options and builds the one ``SuiteState`` kept in
  ``config.stash`` (profile, device, selection, audit, directories, the lab);
- ``fixtures``: thin fixtures (``profile``, ``device``, ``lab``, ``record``, ``timed``);
- ``progress``: live progress lines, also from xdist workers;
- ``results``: records travel from the workers to the controller as test-report
  ``user_properties`` (xdist serialises them); the controller alone writes
  ``results/<profile>/`` and compares with the stored baseline.

The science lives in the engine (``reusebench``), ``reusebench.models`` and
``reusebench.fixtures``; this package is the only part of the engine that imports them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import importlib

# The hooks of every session. This module and options import neither torch nor the engine, so
# that a session that does not run the suite pays nothing for the plugin being installed.
from reusebench.plugin.options import pytest_addoption, pytest_load_initial_conftests

__all__ = ["activate", "pytest_addoption", "pytest_load_initial_conftests"]


def activate(config: pytest.Config, suite_dir: Path) -> None:
    """Start the suite in this session (and in each xdist worker's): called by the conftest of
    the suite's benchmarks folder ``suite_dir``."""
    # by module path (not package attributes): the modules in sys.modules are the ones each other import
    fixtures, results, state = (importlib.import_module(f"reusebench.plugin.{name}") for name in ("fixtures", "results", "state"))
    if state.is_active(config):
        return
    state.start(config, suite_dir)
    config.pluginmanager.register(fixtures, "reusebench-fixtures")
    config.pluginmanager.register(results, "reusebench-results-hooks")
    results.start(config)
