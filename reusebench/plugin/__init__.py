"""reusebench's pytest plugin: the wiring between pytest (and pytest-xdist) and the suite.

One module per job, each registered as a plugin of its own:

- ``options``: the command-line options;
- ``state``: ``pytest_configure`` checks the options and builds the one ``SuiteState`` kept in
  ``config.stash`` (profile, device, selection, audit, directories, the lab);
- ``fixtures``: thin fixtures (``profile``, ``device``, ``lab``, ``record``, ``timed``);
- ``progress``: live progress lines, also from xdist workers;
- ``results``: records travel from the workers to the controller as test-report
  ``user_properties`` (xdist serialises them); the controller alone writes
  ``results/<profile>/`` and compares with the stored baseline.

The science lives in the engine (``reusebench``), ``models`` and ``fixtures``; this package is
the only part of ``reusebench`` that imports the suite's ``fixtures``.
"""

pytest_plugins = (
    "reusebench.plugin.options",
    "reusebench.plugin.state",
    "reusebench.plugin.fixtures",
    "reusebench.plugin.results",
)
