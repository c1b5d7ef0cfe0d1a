"""The root conftest only registers the suite's pytest plugin (``reusebench.plugin``)."""

pytest_plugins = ("reusebench.plugin",)
