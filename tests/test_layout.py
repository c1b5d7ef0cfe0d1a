"""The layout shows the design: no import circle, and the engine never imports the suite.

The import graph is read from the source (``ast``), function-level imports included, over
every module of the project. An edge goes to the module an import names (a submodule when
``from package import name`` names one); a package's ``__init__`` counts only where it is
imported itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
# the checkout's folders and the packages they install as (pyproject.toml's package-dir)
PACKAGES = {"reusebench": "reusebench", "fixtures": "reusebench.fixtures", "models": "reusebench.models"}
SUITE = ("reusebench.fixtures", "reusebench.models")  # what the engine must not import (the plugin wires them in)
WIRING = "reusebench.plugin"


def module_name(path: Path) -> str:
    folder, *parts = path.relative_to(ROOT).with_suffix("").parts
    parts = [PACKAGES[folder], *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for folder in PACKAGES for p in sorted((ROOT / folder).rglob("*.py"))}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules}
            found |= submodules or {base}
    return {m for m in found if m in modules}


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_project_has_no_import_circle():
    graph = import_graph()
    assert len(graph) > 30 and any(graph.values()), "the walk found the project's modules and their imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_engine_never_imports_the_suite():
    offenders = {
        name: sorted(m for m in imported if m.startswith(SUITE))
        for name, imported in import_graph().items()
        if not name.startswith((WIRING, *SUITE))
    }
    assert not {k: v for k, v in offenders.items() if v}, "only reusebench.plugin wires the suite in"


def test_the_distribution_installs_every_package_under_the_reusebench_namespace():
    """pyproject.toml lists the packages by hand (the top-level folders map into the namespace):
    a new subpackage missing from the list would be left out of an installed copy."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {folder: package for package, folder in config["package-dir"].items()} | {"reusebench": "reusebench"}
    found = {
        ".".join([folders[init.relative_to(ROOT).parts[0]], *init.relative_to(ROOT).parts[1:-1]])
        for folder in folders for init in (ROOT / folder).rglob("__init__.py")
    } | {"reusebench.benchmarks"}
    assert listed == found
    assert all(name == "reusebench" or name.startswith("reusebench.") for name in listed), "one namespace: no top-level models or fixtures"


def test_the_tests_import_the_package_under_test():
    """Under tox the package under test is the installed wheel, never the checkout; tox sets
    REUSEBENCH_EXPECT_INSTALLED. Everywhere: the checkout's folders never import as top-level
    packages (the root conftest keeps the checkout off sys.path)."""
    import os
    import sys

    import reusebench
    from reusebench import models

    assert str(ROOT) not in sys.path, "the root conftest takes the checkout back off sys.path"
    assert "models" not in sys.modules and "fixtures" not in sys.modules, "nothing imported the checkout's folders as top-level packages"
    if os.environ.get("REUSEBENCH_EXPECT_INSTALLED"):
        for module, folder in ((reusebench, "reusebench"), (models, "models")):
            assert ROOT / folder not in Path(module.__file__).resolve().parents, f"{module.__name__} comes from the checkout: {module.__file__}"
            assert "site-packages" in Path(module.__file__).parts
