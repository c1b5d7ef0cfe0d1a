"""Parametrization of the benchmark tests from the protocol and ``observations.toml``.

Every parameter is a named object that says which networks it needs (``needs(seeds)``); a
test parametrized only by arch/task/seed declares what it needs with ``@pytest.mark.networks``
(default: the targets). After selection, the union of the needs is trained or loaded up
front, split across the xdist workers.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from reusebench.claims import (AUDIT_EXPECTATION, NOT_CALIBRATED, ClaimInconclusive, ClaimNotReproduced, ClaimUndefined, Observation,
                               decide_commands, load_observations)
from reusebench.stats import FAILS, HOLDS, INCONCLUSIVE
from reusebench.fixtures.audit import NetworkDidNotLearn
from reusebench.lab import Case, Need
from reusebench.shards import split_into_shards
from reusebench.plugin import activate
from reusebench.plugin.options import option
from reusebench.plugin.results import USAGE_ERROR_KEY
from reusebench.plugin.progress import PrefetchProgress, TerminalProgress, WorkModel
from reusebench.plugin.state import state
from reusebench.protocol import FINETUNE_ARMS, RECALIBRATIONS, ConfigError, donor_applies

# Layer maps: re-initialisation and re-randomisation (Zhang, Bengio, Singer 2019), and an audit's pre-trained model.
LAYER_MAP_DONORS = ("init", "rerandom", "pretrained")
LAYER_MAP_SCOPES = ("layer", "prefix")
# AdaBN re-estimates every running statistic, so the AdaBN map of a running-statistics group is
# the recalibrated target at every layer, by construction: those maps are not drawn. AdaBN maps
# are one layer at a time (the cumulative ones doubled the layer maps' cost for no new question).
ADABN_REWRITES = ("bn.running_mean", "bn.running_var", "bn.running")


@dataclass(frozen=True)
class ClaimCase:
    """One claim test: a claim on one arch x task x case (a donor, an R1 arm or an aspect)."""

    observation: Observation
    arch: str
    task: str
    case: str
    expected: str  # the calibrated status (holds, does not hold, inconclusive, not calibrated), from observations.toml
    family_size: int = 1  # the observation's distinct cells of this tier in the whole battery (the interval is simultaneous over them)
    tier: str = "evidence"  # or "machinery": holds by construction; guards the code, is no evidence about the paper

    def needs(self, seeds: tuple[int, ...]) -> list[Need]:
        if self.observation.axis == "variant":  # R1: the fine-tune arm and its scratch control
            return [Need(self.arch, self.task, finetune=v) for v in (self.case, "scratch")]
        return [Need(self.arch, self.task, donor=self.case if self.observation.axis == "donor" else None)]


@dataclass(frozen=True)
class LayerMap:
    """One layer map: a group replaced layer by layer (or over layers 1..k) from one donor."""

    arch: str
    task: str
    group: str
    donor: str
    scope: str  # "layer" or "prefix"
    recalibration: str = "none"  # or "adabn": the map after AdaBN, beside the plain one

    def needs(self, seeds: tuple[int, ...]) -> list[Need]:
        return [Need(self.arch, self.task, donor=self.donor, seed=seeds[0])]  # layer maps: the first seed


SUITE_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    activate(config, SUITE_DIR)  # this folder is the suite: the installed plugin starts here
    try:
        state(config).observations = load_observations(Path(option(config, "--observations") or SUITE_DIR / "observations.toml"))
    except ConfigError as exc:
        raise pytest.UsageError(f"reusebench: {exc}") from None


def _target_group(arch: str, task: str) -> pytest.MarkDecorator:
    # With --dist loadgroup (./dev main passes it), a target network's cases stay on one
    # worker, which evaluates its reference metrics once. pytest 9.2 with pytest-xdist 3.8
    # ignores the groups (pytest-xdist#1386); the prefetch below keeps cold runs parallel anyway.
    return pytest.mark.xdist_group(f"{arch}-{task}")


def claim_cells(book, profile: str, battery, ids: list[str], audit: bool) -> list[tuple]:
    """Every distinct cell (observation, arch, task, case) of the claims ``ids`` over ``battery``."""
    cells = []
    for oid in ids:
        obs = book.observations.get(oid)
        groups = {t.partition("@")[0] for t in obs.terms} if obs else set()
        if obs is None or not groups <= set(battery.groups) or audit and obs.axis != "donor":
            continue
        if audit:  # the audit's own donors: those the claim takes, and the user's pre-trained model
            cases = [d for d in battery.donors if (d in obs.cases or d == "pretrained") and all(donor_applies(d, g) for g in groups)]
        else:
            cases = obs.distinct_cases  # one cell for cases that are the same tensors or training path
        for arch in battery.archs:
            for task in battery.tasks:
                for case in cases:
                    if audit or book.applies(oid, profile, arch, task, case):
                        cells.append((obs, arch, task, case))
    return cells


def family_sizes(book, profile: str, battery, audit: bool) -> Counter:
    """Each observation's distinct cells per tier in the profile's whole battery (an audit: the
    whole audit): the Bonferroni family a cell's level is set by, the same whatever was selected."""
    ids = list(book.observations)
    return Counter((obs.id, obs.tier(case, task)) for obs, arch, task, case in claim_cells(book, profile, battery, ids, audit))


def claim_params(config: pytest.Config, ids: list[str]) -> list:
    """pytest params for the claims ``ids`` over the selection, each with its calibrated status
    ("does not hold" a strict xfail; none off the calibrated configuration: --set, --dataset); the
    family size from the whole battery."""
    suite = state(config)
    sel, book, profile = suite.selection, suite.observations, suite.profile.name  # --arch/--task/--donor/--param-group/--dataset
    calibrated = book.calibrated_for(option(config, "--set"), sel.dataset)  # else every status is reported only
    audit = suite.audit is not None
    family = family_sizes(book, profile, suite.battery, audit)
    params = []
    for obs, arch, task, case in claim_cells(book, profile, suite.battery, ids, audit):
        groups = {t.partition("@")[0] for t in obs.terms}
        selected = (arch in sel.archs and task in sel.tasks and groups <= set(sel.groups)
                    and (obs.axis != "donor" or not set(obs.members(case)).isdisjoint(sel.donors)))  # --donor init selects defaults (= init = rerandom)
        if not selected:
            continue
        tier = obs.tier(case, task)
        marks = [pytest.mark.observation(oid := obs.id), _target_group(arch, task)]
        # an audit has no expectations for your network: `judge` reads each outcome out
        expected = AUDIT_EXPECTATION if audit else book.expected_status(oid, profile, arch, task, case)
        if not calibrated and expected != AUDIT_EXPECTATION and tier != "machinery":
            expected = NOT_CALIBRATED  # --set or --dataset: not the calibrated experiment
        if expected == FAILS:
            reason = book.expectation(oid, profile, arch, task, case).reason
            marks.append(pytest.mark.xfail(strict=True, raises=ClaimNotReproduced, reason=reason))
        params.append(pytest.param(ClaimCase(obs, arch, task, case, expected, family[oid, tier], tier), marks=marks,
                                   id=f"{oid}-{arch}-{task}-{case}"))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    suite = state(metafunc.config)
    sel = suite.selection
    if "claim_case" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("claims")  # @pytest.mark.claims("O1", ...)
        if marker is None:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: a claim_case test needs @pytest.mark.claims(...)")
        ids = list(marker.args) or [oid for oid, o in suite.observations.observations.items() if o.terms]  # no ids: the damage claims
        metafunc.parametrize("claim_case", claim_params(metafunc.config, ids))
    if "layer_map" in metafunc.fixturenames:
        maps = [
            LayerMap(arch, task, group, donor, scope, recal)
            for arch in sel.archs
            for task in sel.tasks
            for group in sel.groups
            for donor in LAYER_MAP_DONORS
            if donor in sel.donors and donor_applies(donor, group)
            for scope in LAYER_MAP_SCOPES
            for recal in RECALIBRATIONS
            if recal == "none" or (group not in ADABN_REWRITES and scope == "layer")
        ]
        metafunc.parametrize("layer_map", [
            pytest.param(m, marks=_target_group(m.arch, m.task), id=f"{m.arch}-{m.task}-{m.group}-{m.donor}-{m.scope}-{m.recalibration}")
            for m in maps
        ])
    if "battery_case" in metafunc.fixturenames:
        params = [
            pytest.param(
                Case(arch, task, group, donor, sel.dataset, recalibration=recal, seed=seed),
                marks=_target_group(arch, task),
                id=f"{arch}-{task}-{group}-{donor}-{recal}-seed{seed}",
            )
            for arch in sel.archs
            for task in sel.tasks
            for group in sel.groups
            for donor in sel.donors
            if donor_applies(donor, group)
            for recal in RECALIBRATIONS
            for seed in suite.seeds
        ]
        metafunc.parametrize("battery_case", params)
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", suite.seeds, ids=lambda s: f"seed{s}")
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", sel.archs)
    if "task" in metafunc.fixturenames:
        metafunc.parametrize("task", sel.tasks)


def shard_key(item: pytest.Item, seeds: tuple[int, ...]) -> str:
    """What keeps tests together in one shard: the target network (arch and task) they measure,
    so that a shard trains the networks of its own targets; a test that needs none goes alone."""
    needs = needs_of(item, seeds)
    return f"{needs[0].arch}-{needs[0].task}" if needs else item.nodeid


def needs_of(item: pytest.Item, seeds: tuple[int, ...]) -> list[Need]:
    """The networks a collected test will use, from its parameters or its ``networks`` marker."""
    params = item.callspec.params if hasattr(item, "callspec") else {}
    for name in ("claim_case", "layer_map"):
        if isinstance(params.get(name), (ClaimCase, LayerMap)):
            return params[name].needs(seeds)
    if isinstance(params.get("battery_case"), Case):
        c = params["battery_case"]
        return [Need(c.arch, c.task, donor=c.donor, seed=c.seed)]
    if any(name in params for name in ("claim_case", "layer_map", "battery_case")):
        return []  # an empty parametrization (pytest's "got empty parameter set" skip): nothing to train
    if "arch" not in params:
        return []
    marker = item.get_closest_marker("networks")
    kinds = marker.args if marker else ("target",)
    arch, task, seed = params["arch"], params.get("task", "seg"), params.get("seed")  # arch-only tests: the seg target
    needs = []
    for kind in kinds:
        if kind == "target":
            needs.append(Need(arch, task, seed=seed))
        elif kind == "finetunes":
            needs += [Need(arch, task, finetune=arm, seed=seed) for arm in FINETUNE_ARMS]
        elif kind == "donors":  # the target's independent donor (the donor pool) and its other-data donor
            needs += [Need(arch, task, donor=donor, seed=seed) for donor in ("other_seed", "other_data")]
        else:
            raise pytest.UsageError(f"{item.nodeid}: unknown networks kind {kind!r}; valid choices: target, finetunes, donors")
    return needs


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: prefetch only what the selected tests need
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    suite = state(config)
    # An audit leaves out what needs the paper's networks; the paper's battery leaves out the verdict.
    unwanted = "paper_only" if suite.audit is not None else "audit_only"
    dropped = [item for item in items if item.get_closest_marker(unwanted)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker(unwanted)]
    if suite.shard:
        index, count = suite.shard
        keys = [(item.nodeid, shard_key(item, suite.seeds)) for item in items]
        groups = len({key for _, key in keys})
        if items and groups < count:
            message = (f"--shard {index}/{count}: the selection splits into {groups} group(s) of tests "
                       f"(one per target network); use at most {groups} shards")
            if hasattr(config, "workerinput"):  # xdist collects on the workers: the controller says it and exits 4
                config.workeroutput[USAGE_ERROR_KEY] = message
                config.hook.pytest_deselected(items=list(items))
                items[:] = []
                return
            raise pytest.UsageError(f"reusebench: {message}")
        shard_of = split_into_shards(keys, count)
        elsewhere = [item for item in items if shard_of[item.nodeid] != index]
        if elsewhere:
            config.hook.pytest_deselected(items=elsewhere)
            items[:] = [item for item in items if shard_of[item.nodeid] == index]
    suite.needs = list(dict.fromkeys(need for item in items for need in needs_of(item, suite.seeds)))


def paper_work(profile):
    """``(kind, budget steps, cost per step)`` of a paper network (``WorkModel``): the cost is the
    forward FLOPs of one image through its architecture (a training step is about three times a
    forward, for every architecture alike)."""
    from reusebench.fixtures.store import FixtureSpec, build
    from reusebench.timing import flops

    counted = {}

    def forward_flops(arch: str) -> float:
        if arch not in counted:
            model = build(FixtureSpec(arch, "seg", "shapes", 0), profile).eval()
            with torch.no_grad():
                n = flops(lambda: model(torch.zeros(1, 1, profile.image_size, profile.image_size)))
            counted[arch] = float(n or sum(p.numel() for p in model.parameters()))
        return counted[arch]

    def work(spec):
        if spec.start:
            return "finetune", profile.finetune_steps, forward_flops(spec.arch)
        return "full", profile.steps, forward_flops(spec.arch)

    return work


@pytest.fixture(scope="session", autouse=True)
def trained_fixture_networks(request: pytest.FixtureRequest, lab) -> None:
    """Train (or load) every network the selected tests need, split across xdist workers.

    Workers take disjoint shares, so a cold run trains in parallel; the cache's file lock
    makes sure that a network is trained once even when two workers ask for it.
    """
    suite = state(request.config)
    every = lab.networks.needed(suite.needs)
    share = every[suite.worker.index::suite.worker.count]  # as lab.prefetch splits them
    model = None
    if suite.audit is None:  # the paper's networks: a step's cost in forward FLOPs per architecture
        model = WorkModel(share, paper_work(suite.profile), lambda spec: lab.fixture(spec).meta.get("steps_run"))
    report = PrefetchProgress(TerminalProgress(request.config, suite.worker.id), time.perf_counter(), suite.worker.index,
                              suite.worker.count, len(every), model, lab.networks.stored)
    try:
        lab.prefetch(suite.needs, suite.worker.index, suite.worker.count, report)
        if suite.audit is not None:  # every worker checks the audit's networks (trained once, under the cache's lock)
            for spec in lab.networks.needed(suite.needs):
                lab.fixture(spec)
    except NetworkDidNotLearn as exc:  # every test errors with it; the report says why there is no verdict
        suite.stopped = str(exc)
        raise


@pytest.fixture
def judge(record, request, profile):
    """Judge a claim over the seeds' (value, evidence), record the verdict, raise if it fails."""

    def judge(case: ClaimCase, per_seed: dict[int, tuple[float, str]], image_values=None, note: str = "", **how) -> None:
        verdict = case.observation.judge(per_seed, image_values, case.family_size, note, **how)
        record("claim", {"arch": case.arch, "task": case.task, "case": case.case, "expected": case.expected,
                         "tier": case.tier, **verdict.record()})
        expected = case.expected
        try:
            verdict.check()
        except ClaimInconclusive as exc:  # neither a pass nor hidden: a skip with the numbers, counted in the summary
            if case.tier == "machinery":
                pytest.skip(f"inconclusive (a machinery check the interval could not tell; not broken): {exc}")
            moved = f" (moved from {expected}: reported, not a failure)" if expected in (HOLDS, FAILS) else ""
            decide = verdict.record()["decide"]
            audit = state(request.config).audit is not None  # an audit's what-if is its own file's seeds and data
            commands = decide_commands(decide, request.node.nodeid, profile.name) if decide and not audit else []
            what = f" What would decide it: {decide['text']}." if decide else ""
            run = f" Run: {' or: '.join(commands)}" if commands else ""
            pytest.skip(f"inconclusive{moved}: {exc}.{what}{run}")
        except (ClaimNotReproduced, ClaimUndefined) as exc:
            if expected == AUDIT_EXPECTATION:  # your network has no expected status: holds passes, the rest is a finding
                pytest.skip(f"{'does not hold' if isinstance(exc, ClaimNotReproduced) else 'undefined'} for this network: {exc}")
            if isinstance(exc, ClaimNotReproduced) and expected in (INCONCLUSIVE, NOT_CALIBRATED):
                # decided where the calibration could not decide: a move, reported, never a failure
                how = "moved from inconclusive" if expected == INCONCLUSIVE else "not calibrated for this run"
                pytest.xfail(f"does not hold ({how}: reported, not a failure): {exc}")
            raise

    return judge
