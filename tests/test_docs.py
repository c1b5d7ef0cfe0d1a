"""The README and docs/ cannot drift from the code: every option, command, script and profile
they name exists, and the README stays short."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from reusebench.plugin.options import pytest_addoption
from reusebench.profiles import load_profiles

ROOT = Path(__file__).parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# options of the tools the docs show beside the suite's own: pytest and its plugins, pip, tox, git
OTHER_TOOLS = {
    "--dist", "--lf", "--stepwise", "--collect-only", "--rootdir", "--benchmark-json", "--benchmark-autosave",
    "--benchmark-only", "--benchmark-disable", "--maxfail", "--durations", "--co", "--tb", "--timeout",
    "--index-url", "--extra-index-url", "--upgrade", "--no-deps", "--editable", "--user", "--force-record",
    "--tx", "--rsyncdir",  # pytest-xdist
    "--profile", "--group",  # pytest-profiling's and pytest-split's, named to say why the suite's are not
}


class _Options:
    """A stand-in for pytest's parser that records the options the plugin registers."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def getgroup(self, *args, **kwargs) -> "_Options":
        return self

    def addoption(self, *names, **kwargs) -> None:
        self.names.update(n for n in names if n.startswith("--"))

    def addini(self, *args, **kwargs) -> None:
        pass


def plugin_options() -> set[str]:
    parser = _Options()
    pytest_addoption(parser)
    return parser.names


def script_options() -> set[str]:
    names = set()
    # the scripts, and the modules run with ``python -m reusebench.<module>`` (merge, ...)
    for path in [*(ROOT / "scripts").glob("*.py"), *(ROOT / "reusebench").glob("*.py")]:
        # argparse's add_argument, or an option a script reads by hand (``argv[0] == "--toml"``)
        names.update(re.findall(r"\"(--[a-z][a-z0-9-]*)\"", path.read_text()))
    return names


def text_of(path: Path) -> str:
    return path.read_text()


def commands(text: str) -> list[str]:
    """Commands shown in code blocks and in inline code: ./dev, python -m, python scripts/, pytest."""
    found = []
    for line in re.findall(r"```(?:sh|bash)?\n(.*?)```", text, flags=re.S):  # noqa: B007
        found += [c.split("#")[0].strip() for c in line.splitlines()]
    found += re.findall(r"`((?:\./dev|python -m|python scripts/|pytest) [^`]*)`", text)
    return [c for c in found if c.startswith(("./dev", "python -m", "python scripts/", "pytest"))]


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_option_named_exists(path):
    known = plugin_options() | script_options() | OTHER_TOOLS
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9]+(?:-[a-z0-9]+)*)", text_of(path)))
    assert not sorted(named - known), f"{path.name} names options that nothing defines"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_command_shown_exists(path):
    dev_jobs = set(re.findall(r"^\s+(\w+)\)", (ROOT / "dev").read_text(), flags=re.M))
    profiles = set(load_profiles())
    missing = []
    for command in commands(text_of(path)):
        try:
            words = shlex.split(command)
        except ValueError:
            words = command.split()
        if words[0] == "./dev" and len(words) > 1 and words[1] not in dev_jobs:
            missing.append(command)
        if words[:2] == ["python", "-m"] and importlib.util.find_spec(words[2].split(".")[0]) is None:
            missing.append(command)
        if words[0] == "python" and len(words) > 1 and words[1].startswith("scripts/") and not (ROOT / words[1]).exists():
            missing.append(command)
        if "--reusebench-profile" in words:
            name = words[words.index("--reusebench-profile") + 1]
            if name not in profiles:
                missing.append(command)
    assert not missing, f"{path.name} shows commands that do not exist: {missing}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_profile_named_exists(path):
    profiles = set(load_profiles())
    named = set(re.findall(r"--reusebench-profile[ =]([a-z-]+)", text_of(path))) | set(re.findall(r"REUSEBENCH_PROFILE=([a-z-]+)", text_of(path)))
    assert named <= profiles, f"{path.name} names profiles that do not exist: {sorted(named - profiles)}"


def test_every_docs_page_states_its_scope_and_every_link_resolves():
    for path in DOCS:
        text = text_of(path)
        if path.parent.name == "docs" and path.name not in ("protocol.md", "verdicts.md", "answers.md"):
            assert "*Scope of this page:*" in text, f"{path.name} does not state its scope"
        for target in re.findall(r"\]\(((?!https?:)[^)#]+)(?:#[^)]*)?\)", text):
            assert (path.parent / target).exists(), f"{path.name} links to {target}, which does not exist"


def test_the_decisive_runs_counts_in_the_docs_are_those_of_its_committed_claims():
    """The README's and findings' decisive numbers are typed prose: they must stay those of
    results/decisive/claims.json (decided, at the threshold, held by the design, per-claim counts)."""
    import json

    from reusebench.report.sections.answers import decided_rows

    doc = json.loads((ROOT / "results" / "decisive" / "claims.json").read_text())
    rows = {r[0]: r for r in decided_rows(doc["records"])}
    _, cells, decided, at, held, more, share = rows["all"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"Of its {cells} evidence cells, {decided} are decided" in readme
    assert f"and {at} sit at their threshold: {share}" in readme
    assert f"{held} C1 cells are held by the layers term" in readme and held == rows["C1"][4]
    assert f"{rows['O2'][5]} O2 cells and {more - rows['O2'][5]} others would need" in readme
    findings = (ROOT / "docs" / "findings.md").read_text()
    for name, row in rows.items():
        if name == "all":
            continue
        cells_of = [r for r in doc["records"] if r["observation"] == name and r.get("tier", "evidence") == "evidence"]
        counts = [sum(r["outcome"] == o for r in cells_of) for o in ("holds", "does not hold", "inconclusive")]
        line = next(line for line in findings.split("## What the decisive profile shows")[1].splitlines()
                    if line.startswith(f"| {name} "))
        assert line.split("|")[2:6] == [f" {v} " for v in (len(cells_of), *counts)], line
