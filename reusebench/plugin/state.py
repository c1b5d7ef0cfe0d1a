"""``pytest_configure``: check every option before anything trains, and keep one ``SuiteState``.

A bad value is a usage error (exit code 4) that names the value, where it came from and the
valid choices. The state lives in ``config.stash``; ``state(config)`` returns it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from reusebench.fixtures.store import FixtureStore, check_profile
from reusebench import audit as audits
from reusebench.audit import AuditConfig
from reusebench.baseline import baseline_path, load_baseline, load_tolerances
from reusebench.claims import ObservationBook
from reusebench.fixtures.accel import Acceleration, strict_fp32
from reusebench.environment import check_writable, machine, resolve_device
from reusebench.lab import Lab, Need
from reusebench.plugin.options import AUDIT_OPTIONS, option
from reusebench.profiles import Profile, get_profile
from reusebench.report.layout import SHARDS_DIR, VARIANTS_DIR
from reusebench.protocol import BN_GROUPS, DATASETS, GROUPS, ConfigError, Selection, donor_applies

MARKERS = (
    "observation(id): a test of one of the paper's claims (set by the parametrization)",
    "claims(*ids): this test checks the claims ids of observations.toml, parametrized by claim_case",
    "networks(*kinds): the fixture networks an arch/task/seed test needs: 'target' (the default), 'finetunes', or none",
    "timing: a timing case (pytest-benchmark; recorded under xdist too)",
    "paper_only: needs the paper's networks and tasks (left out of an audit)",
    "audit_only: runs only in an audit of your own network (--audit / --model)",
    # pytest-xdist registers it too; registered here so that `-p no:xdist` still collects
    "xdist_group(name): keeps a target network's cases on one xdist worker under --dist loadgroup",
)


@dataclass(frozen=True)
class Worker:
    """This process among the run's: an xdist worker ("gw0", index 0 of count) or the only one ("main")."""

    id: str = "main"
    index: int = 0
    count: int = 1

    @classmethod
    def of(cls, config: pytest.Config) -> "Worker":
        info = getattr(config, "workerinput", None)
        if info is None:
            return cls()
        worker = info["workerid"]
        index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
        return cls(worker, index, int(info.get("workercount", 1)))

    @property
    def is_controller(self) -> bool:
        return self.id == "main"


@dataclass
class SuiteState:
    """Everything a session of the suite decided at start-up, and what it built since."""

    profile: Profile
    device: torch.device
    selection: Selection
    audit: AuditConfig | None
    worker: Worker
    cache_dir: Path
    results_dir: Path
    baseline_dir: Path
    tolerances: dict[str, float] | None  # set with --compare-baseline
    accel: Acceleration = Acceleration()  # how fixture networks train on a GPU
    reuse_mib: float = 256  # --reuse-memory
    suite_dir: Path | None = None  # the suite's benchmarks/ folder (its conftest activated the plugin)
    shard: tuple[int, int] | None = None  # --shard I/N: (I, N)
    run: dict | None = None  # with --shard: the commit and the options, which every shard of one run shares

    @property
    def battery(self) -> Selection:
        """The profile's whole battery (an audit: the whole audit): what a claim's family of cells
        is counted over, whatever --arch, --task, --donor, --param-group, -k or --shard selected."""
        if self.audit is None:
            return Selection(dataset=self.selection.dataset)
        import dataclasses

        return dataclasses.replace(self.selection, donors=audits.available_donors(self.audit), groups=GROUPS)
    stopped: str | None = None  # why this process stopped before measuring (an audited network that did not learn)
    interrupted: bool = False  # a KeyboardInterrupt reached pytest (even where pytest's own handling of it then failed)
    observations: ObservationBook | None = None  # loaded by benchmarks/conftest.py
    needs: list[Need] = field(default_factory=list)  # the networks the selected tests need
    pruned: list[Path] | None = None  # what --cache-prune removed
    lab: Lab | None = None  # built by the `lab` fixture on first use

    @property
    def seeds(self) -> tuple[int, ...]:
        return (self.audit.seed,) if self.audit else self.profile.seeds


STATE = pytest.StashKey[SuiteState]()
# One thread per process on the CPU: results must not depend on -n. Measured: on the tiny
# test profile, evaluating the same network with 2 threads instead of 1 moved m(T) in the
# 9th digit, so `-n 0` (2 threads on 2 cores) and `-n 2` (1 each) disagreed. Scale out
# with xdist workers instead.
CPU_THREADS = 1


def state(config: pytest.Config) -> SuiteState:
    return config.stash[STATE]


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/3"`` -> ``(2, 3)``; None without --shard; a ConfigError naming the bad value otherwise."""
    if not text:
        return None
    index, sep, count = text.partition("/")
    try:
        shard = (int(index), int(count))
    except ValueError:
        shard = None
    if not sep or shard is None or not 1 <= shard[0] <= shard[1]:
        raise ConfigError(f"--shard expects I/N with 1 <= I <= N (e.g. --shard 2/3), got {text!r}")
    return shard


def _run_identity(config: pytest.Config, selection: Selection, suite_dir: Path) -> dict:
    """What every shard of one run shares besides the profile: the commit, the selection (the
    suite's filters, -k, -m) and the observations file. Paths, -n and output options may differ
    from machine to machine."""
    import dataclasses
    import hashlib
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=suite_dir, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    observations = Path(option(config, "--observations") or suite_dir / "observations.toml")
    return {
        "commit": commit,
        "selection": json.loads(json.dumps(dataclasses.asdict(selection))),
        "keyword": config.option.keyword or "",
        "markexpr": config.option.markexpr or "",
        "observations": hashlib.sha256(observations.read_bytes()).hexdigest() if observations.is_file() else "",
    }


def variant_name(overrides: dict[str, str], dataset: str | None) -> str:
    """The folder name of a run that is not its profile as committed ("" when it is): its
    overrides and a non-default dataset, e.g. ``patience=6,dataset=nuclei``; characters a
    file name should not carry become ``_``."""
    parts = [f"{k}={v}" for k, v in sorted(overrides.items())]
    if dataset and dataset != DATASETS[0]:
        parts.append(f"dataset={dataset}")
    name = ",".join(parts)
    return re.sub(r"[^A-Za-z0-9=.,+_-]+", "_", name).strip("_")[:120]


def _overrides(config: pytest.Config) -> dict[str, str]:
    overrides = {}
    for item in option(config, "--set"):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects FIELD=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _audit(config: pytest.Config) -> AuditConfig | None:
    """The audit named by --audit and the audit options, or None for the paper's battery."""
    options = {key.replace("-", "_"): option(config, f"--{key}") for key in AUDIT_OPTIONS}
    options["name"] = options.pop("audit_name")
    return audits.load_audit(option(config, "--audit"), options, Path(config.rootpath))


def _selection(config: pytest.Config, audit: AuditConfig | None) -> Selection:
    if audit is None:
        return Selection.parse(
            archs=option(config, "--arch"),
            tasks=option(config, "--task"),
            donors=option(config, "--donor"),
            groups=option(config, "--param-group"),
            dataset=option(config, "--dataset"),
        )
    for name in ("--arch", "--task", "--dataset"):
        if option(config, name) not in ("", "shapes"):
            raise ConfigError(f"{name} selects among the paper's networks; an audit has one network, its own")
    return audits.selection(audit, donors=option(config, "--donor"), groups=option(config, "--param-group"))


def _build_state(config: pytest.Config, worker: Worker, suite_dir: Path) -> SuiteState:
    profile = get_profile(option(config, "--reusebench-profile"), _overrides(config))
    per_device = option(config, "--workers-per-device")
    if per_device < 1:
        raise ConfigError(f"--workers-per-device must be >= 1, got {per_device}")
    device = resolve_device(option(config, "--device"), worker.index, per_device)
    accel = Acceleration(option(config, "--precision"), option(config, "--channels-last"), option(config, "--compile")).check(device)
    check_profile(profile)
    audit = _audit(config)
    selection = _selection(config, audit)
    if not any(donor_applies(d, g) for d in selection.donors for g in selection.groups):
        raise ConfigError(
            f"--donor {','.join(selection.donors)} with --param-group {','.join(selection.groups)} selects no replacement: "
            f"donor 'defaults' serves the BN groups only ({', '.join(BN_GROUPS)}); add another --donor (or, for a network "
            f"with BN layers, a BN --param-group)"
        )
    cache_dir = check_writable(Path(option(config, "--cache-dir")), "cache directory", "--cache-dir or REUSEBENCH_CACHE_DIR")
    results_root = Path(option(config, "--results-dir") or Path(config.rootpath) / "results")
    results_dir = results_root / (f"audit-{audit.name}" if audit else profile.name)
    variant = variant_name(_overrides(config), option(config, "--dataset"))
    if variant and not audit:  # not the profile as committed: never replaces its results (nor its report)
        results_dir = results_dir / VARIANTS_DIR / variant
    results_dir = check_writable(results_dir, "results directory", "--results-dir")
    compare, update = option(config, "--compare-baseline"), option(config, "--update-baseline")
    if audit and (compare or update):
        raise ConfigError("baselines are kept for the paper's profiles; an audit writes its report only")
    baseline_dir = Path(option(config, "--baseline-dir") or Path(config.rootpath) / "results" / "baselines")
    tolerances = None
    if compare:
        if update:
            raise ConfigError("--compare-baseline and --update-baseline exclude each other: compare first, then update")
        tolerances = load_tolerances(Path(option(config, "--tolerances") or suite_dir / "tolerances.toml"), profile.name, device.type)
        load_baseline(baseline_path(baseline_dir, profile.name, str(torch.__version__), machine(device)))  # fail early if missing
    if update:
        check_writable(baseline_dir, "baseline directory", "--baseline-dir")
    elif option(config, "--machine-baseline"):
        raise ConfigError("--machine-baseline says where --update-baseline writes; add --update-baseline "
                          "(--compare-baseline finds this machine's own baseline by itself)")
    shard = parse_shard(option(config, "--shard"))
    if shard:
        results_dir = check_writable(results_dir / SHARDS_DIR / f"{shard[0]}-of-{shard[1]}", "results directory", "--results-dir")
    reuse_memory = option(config, "--reuse-memory")
    if reuse_memory < 0:
        raise ConfigError(f"--reuse-memory must be >= 0 MiB (0 turns reuse off), got {reuse_memory:g}")
    run = _run_identity(config, selection, suite_dir) if shard else None
    return SuiteState(profile, device, selection, audit, worker, cache_dir, results_dir, baseline_dir, tolerances, accel, reuse_memory, suite_dir, shard, run)


def is_active(config: pytest.Config) -> bool:
    """Whether this session runs the suite (``reusebench.plugin.activate`` started it)."""
    return STATE in config.stash


def start(config: pytest.Config, suite_dir: Path) -> None:
    """Register the markers, check the options and build the session's ``SuiteState``
    (``suite_dir``: the benchmarks folder whose conftest starts the suite)."""
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    worker = Worker.of(config)
    try:
        suite = _build_state(config, worker, suite_dir)
    except ConfigError as exc:
        raise pytest.UsageError(f"reusebench: {exc}") from None
    config.stash[STATE] = suite
    if suite.device.type == "cpu":
        torch.set_num_threads(CPU_THREADS)
    else:
        strict_fp32()
    if worker.is_controller and option(config, "--cache-prune"):
        suite.pruned = FixtureStore(suite.cache_dir, suite.profile, suite.device, accel=suite.accel).prune()
