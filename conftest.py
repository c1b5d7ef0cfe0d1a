"""The checkout's root conftest.

The suite's pytest plugin (``reusebench.plugin``) is not registered here: pytest loads it
through its ``pytest11`` entry point whenever reusebench is installed (``./dev setup`` installs
the checkout in editable mode), so the same plugin serves this checkout and any other
repository (``pytest --audit my.toml``). A conftest may not register plugins unless it is the
root one, and this file is not the root one when the benchmarks run from an installed copy.
"""

collect_ignore = ["results", "examples", "scripts", "docs"]  # nothing to collect there
