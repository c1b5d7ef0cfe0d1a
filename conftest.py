"""The checkout's root conftest: it keeps the checkout itself off ``sys.path``.

The suite's pytest plugin is not registered here: pytest loads it through its ``pytest11``
entry point wherever reusebench is installed (``./dev setup`` installs this checkout in
editable mode), so the same plugin serves this checkout and any other repository.

pytest's default import mode puts the folder of a conftest that is not inside a package
first on ``sys.path``. For this file that is the checkout's root, where ``models/`` and
``fixtures/`` would then import as top-level packages: they would shadow a user's own
``models`` package in an audit, and the checkout's ``reusebench/`` would shadow an installed
copy under test (tox). The suite's packages are ``reusebench.models`` and
``reusebench.fixtures``; nothing needs the root on the path, so the entry is taken out again.
"""

import sys
from pathlib import Path

_ROOT = {str(Path(__file__).parent), str(Path(__file__).resolve().parent)}
if sys.path and sys.path[0] in _ROOT:
    del sys.path[0]
