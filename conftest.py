"""pytest wiring for reusebench: options, session fixtures, progress lines, result collection.

The science lives in ``reusebench`` (engine), ``models`` and ``fixtures``; this file only
connects them to pytest and pytest-xdist. Records travel from workers to the controller as
test-report ``user_properties`` (xdist serialises them); the controller alone writes
``results/<profile>/``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from reusebench import baseline as baselines
from reusebench.baseline import baseline_path, load_baseline, load_tolerances
from reusebench.environment import available_cores, check_writable, describe, resolve_device
from reusebench.profiles import get_profile
from reusebench.protocol import ConfigError, Selection
from reusebench.report import RunCollector, atomic_write_text

RECORD_KEY = "reusebench"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reusebench"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reusebench", "reusebench: parameter-reusability benchmarks")
    group.addoption(
        "--profile",
        default=os.environ.get("REUSEBENCH_PROFILE", "smoke"),
        help="profile from reusebench/profiles.toml (env REUSEBENCH_PROFILE; default: smoke)",
    )
    group.addoption(
        "--set",
        action="append",
        default=[],
        dest="profile_overrides",
        metavar="FIELD=VALUE",
        help="override one profile field, e.g. --set steps=100 (repeatable)",
    )
    group.addoption(
        "--device",
        default=os.environ.get("REUSEBENCH_DEVICE", "auto"),
        help="auto (a GPU when visible, else CPU), cpu, cuda or cuda:N (env REUSEBENCH_DEVICE)",
    )
    group.addoption(
        "--cache-dir",
        dest="reusebench_cache_dir",
        default=os.environ.get("REUSEBENCH_CACHE_DIR") or str(default_cache_dir()),
        help="where trained fixture networks are kept (env REUSEBENCH_CACHE_DIR; default ~/.cache/reusebench)",
    )
    for option, what in (("--arch", "architectures"), ("--task", "tasks"), ("--donor", "donors"), ("--group", "parameter groups")):
        group.addoption(option, default="", metavar="A,B", help=f"only these {what} (comma-separated; default: all)")
    group.addoption("--dataset", default="shapes", help="the targets' dataset: shapes or nuclei (other_data uses the other)")
    group.addoption(
        "--observations",
        default=str(Path(__file__).parent / "benchmarks" / "observations.toml"),
        help="the declarative file of observations, thresholds and expected failures",
    )
    group.addoption(
        "--cache-prune",
        action="store_true",
        help="before the run, delete cache entries the current profile, torch and code cannot use",
    )
    group.addoption(
        "--compare-baseline",
        action="store_true",
        help="fail when a case drifts beyond its tolerance or an observation flips, against results/baselines/",
    )
    group.addoption("--update-baseline", action="store_true", help="rewrite the stored baseline from this run")
    group.addoption("--baseline-dir", default=None, help="where baselines live (default: <rootdir>/results/baselines)")
    group.addoption(
        "--tolerances",
        default=str(Path(__file__).parent / "benchmarks" / "tolerances.toml"),
        help="per-profile, per-device tolerances for --compare-baseline",
    )
    audit = parser.getgroup("reusebench audit", "reusebench: audit your own network (the same battery on any CNN)")
    audit.addoption("--audit", default=None, metavar="FILE", help="an audit TOML file (keys as the options below; options win)")
    for key, what in (
        ("model", "model factory, import path 'package.module:function'"),
        ("data", "data factory () -> (train, val), import path"),
        ("metric", "per-sample metric: accuracy, dice, iou, ssim, psnr, neg_mse or an import path (default accuracy)"),
        ("loss", "loss to train networks without a checkpoint: cross_entropy, bce, mse or an import path"),
        ("target-checkpoint", "state_dict of the trained target (default: train it on the data)"),
        ("donor-checkpoint", "state_dict of your pre-trained model, the 'pretrained' donor"),
        ("donor-data", "data factory to train the pre-trained model on when there is no donor checkpoint"),
        ("audit-name", "name of the audit (default: the model factory's name); results go to results/audit-NAME/"),
    ):
        audit.addoption(f"--{key}", dest=f"audit_{key.replace('-', '_')}", default=None, help=what)
    group.addoption(
        "--results-dir",
        default=os.environ.get("REUSEBENCH_RESULTS_DIR"),
        help="where results/<profile>/ is written (default: <rootdir>/results)",
    )


def load_audit_options(config: pytest.Config):
    """The audit named by --audit and the audit options, or None for the paper's battery."""
    from reusebench.audit import KEYS, load_audit

    options = {key: config.getoption(f"audit_{key}", default=None) for key in KEYS if key != "name"}
    options["name"] = config.getoption("audit_audit_name")
    return load_audit(config.getoption("audit"), options, Path(config.rootpath))


def check_audit(audit, model) -> None:
    """Fail at start-up, not in every test: the data loads, the model runs on it, the metric scores it."""
    from reusebench.audit import load_data, metric_fn, per_sample

    (train_x, train_y), _ = load_data(audit.data, "data")
    try:
        with torch.no_grad():
            outputs = model.eval()(train_x[:2])
    except Exception as exc:  # noqa: BLE001 - any failure here is a mismatch of model and data
        raise ConfigError(f"model {audit.model!r} cannot run on data {audit.data!r} inputs of shape {tuple(train_x[:2].shape)}: {exc}") from None
    if not isinstance(outputs, torch.Tensor):
        raise ConfigError(f"model {audit.model!r} must return a tensor, got {type(outputs).__name__}")
    try:
        per_sample(metric_fn(audit.metric), outputs, train_y[:2], audit.metric)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"metric {audit.metric!r} fails on the model's outputs {tuple(outputs.shape)} and targets {tuple(train_y[:2].shape)}: {exc}") from None


def audit_selection(config: pytest.Config, audit) -> Selection:
    """An audit covers its one network, the donors it has and the groups its modules hold."""
    from reusebench.audit import AUDIT_DONORS, build
    from reusebench.groups import group_size
    from reusebench.protocol import GROUPS, check_choice

    for option in ("arch", "task", "dataset"):
        if config.getoption(option) not in ("", "shapes"):
            raise ConfigError(f"--{option} selects among the paper's networks; an audit has one network, its own")
    model = build(audit, audit.seed)
    check_audit(audit, model)
    present = tuple(g for g in GROUPS if group_size(model, g)[0])
    if not present:
        raise ConfigError(f"model {audit.model!r} holds no conv or normalisation layer: nothing to audit")
    donors = tuple(d for d in AUDIT_DONORS if d != "pretrained" or audit.has_donor)
    pick = lambda text, choices, kind: tuple(check_choice(kind, n.strip(), choices, f"--{kind}") for n in text.split(",") if n.strip()) or choices  # noqa: E731
    return Selection(
        archs=(audit.name,),
        tasks=("audit",),
        donors=pick(config.getoption("donor"), donors, "donor"),
        groups=pick(config.getoption("group"), present, "group"),
        dataset=audit.name,
    )


def check_batch_size(profile) -> None:
    """Each architecture declares the smallest training batch it supports (PSPNet: 2)."""
    from models import MODELS, min_train_batch

    for arch in MODELS:
        if profile.batch_size < min_train_batch(arch):
            raise ConfigError(
                f"profile {profile.name!r}: batch_size {profile.batch_size} is below {arch}'s minimum of "
                f"{min_train_batch(arch)} (its pooled-bin BatchNorm needs more than one value per channel)"
            )


def _worker_index(config: pytest.Config) -> int:
    worker = getattr(config, "workerinput", {}).get("workerid", "gw0")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def _worker_count(config: pytest.Config) -> int:
    if hasattr(config, "workerinput"):
        return int(config.workerinput.get("workercount", 1))
    return 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "observation(id): a test of one of the paper's claims (set by the parametrization)")
    config.addinivalue_line("markers", "claims(*ids): this test checks the claims ids of observations.toml, parametrized by claim_case")
    config.addinivalue_line("markers", "timing: a timing case (pytest-benchmark; recorded under xdist too)")
    config.addinivalue_line("markers", "paper_only: needs the paper's networks and tasks (left out of an audit)")
    config.addinivalue_line("markers", "audit_only: runs only in an audit of your own network (--audit / --model)")
    overrides = {}
    for item in config.getoption("profile_overrides"):
        key, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--set expects FIELD=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    try:
        profile = get_profile(config.getoption("profile"), overrides)
        device = resolve_device(config.getoption("device"), _worker_index(config))
        check_batch_size(profile)
        audit = load_audit_options(config)
        selection = audit_selection(config, audit) if audit else Selection.parse(
            archs=config.getoption("arch"),
            tasks=config.getoption("task"),
            donors=config.getoption("donor"),
            groups=config.getoption("group"),
            dataset=config.getoption("dataset"),
        )
        cache_dir = check_writable(
            Path(config.getoption("reusebench_cache_dir")), "cache directory", "--cache-dir or REUSEBENCH_CACHE_DIR"
        )
        results_root = Path(config.getoption("results_dir") or Path(config.rootpath) / "results")
        results_dir = check_writable(results_root / (f"audit-{audit.name}" if audit else profile.name), "results directory", "--results-dir")
        if audit and (config.getoption("compare_baseline") or config.getoption("update_baseline")):
            raise ConfigError("baselines are kept for the paper's profiles; an audit writes its report only")
        baseline_dir = Path(config.getoption("baseline_dir") or Path(config.rootpath) / "results" / "baselines")
        tolerances = None
        if config.getoption("compare_baseline"):
            if config.getoption("update_baseline"):
                raise ConfigError("--compare-baseline and --update-baseline exclude each other: compare first, then update")
            tolerances = load_tolerances(Path(config.getoption("tolerances")), profile.name, device.type)
            load_baseline(baseline_path(baseline_dir, profile.name, str(torch.__version__)))  # fail early if missing
        if config.getoption("update_baseline"):
            check_writable(baseline_dir, "baseline directory", "--baseline-dir")
    except ConfigError as exc:
        raise pytest.UsageError(f"reusebench: {exc}") from None
    workers = _worker_count(config)
    config.reusebench_worker = (_worker_index(config), workers)
    if device.type == "cpu":
        # Each worker takes its share of the cores: oversubscription makes everyone slower.
        torch.set_num_threads(max(1, available_cores() // workers))
    config.reusebench_profile = profile
    config.reusebench_device = device
    config.reusebench_selection = selection
    config.reusebench_audit = audit
    config.reusebench_seeds = (audit.seed,) if audit else profile.seeds
    config.reusebench_cache_dir = cache_dir
    config.reusebench_results = results_dir
    config.reusebench_baselines = (baseline_dir, tolerances)
    if not hasattr(config, "workerinput"):
        if config.getoption("cache_prune"):
            from fixtures.store import FixtureStore

            removed = FixtureStore(cache_dir, profile, device).prune()
            config.reusebench_pruned = removed
        tx = config.getoption("tx", default=None)  # -n N becomes N popen gateways; --tx counts too
        requested = len(tx) if tx else 1
        environment = describe(device, requested)
        if device.type == "cpu":
            environment["torch_threads"] = max(1, available_cores() // requested)  # each worker's share
        collector = RunCollector(profile, environment, audit=dataclasses.asdict(audit) if audit else None)
        config.pluginmanager.register(ResultsPlugin(config, collector), "reusebench-results")


# -- progress lines --------------------------------------------------------------------


class Progress:
    """Writes a line to the terminal right away, also from inside a test and from xdist workers.

    On the controller it goes through the terminal reporter; on a worker, straight to the
    inherited stderr (xdist forwards no live output), with the worker id in front.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.prefix = f"[{config.workerinput['workerid']}] " if hasattr(config, "workerinput") else ""

    def __call__(self, message: str) -> None:
        capture = self.config.pluginmanager.getplugin("capturemanager")
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        with capture.global_and_fixture_disabled():
            if reporter is not None and not self.prefix:
                reporter.ensure_newline()
                reporter.write_line(f"reusebench: {message}")
            else:
                os.write(2, f"{self.prefix}reusebench: {message}\n".encode())


# -- session fixtures ------------------------------------------------------------------


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config):
    return pytestconfig.reusebench_profile


@pytest.fixture(scope="session")
def device(pytestconfig: pytest.Config) -> torch.device:
    return pytestconfig.reusebench_device


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config, profile, device):
    """The per-process lab: trains or loads fixture networks and measures cases."""
    from fixtures.lab import Lab
    from fixtures.store import FixtureStore

    if pytestconfig.reusebench_audit is not None:
        from fixtures.audit import AuditLab

        lab = AuditLab(pytestconfig.reusebench_audit, profile, device, pytestconfig.reusebench_cache_dir, Progress(pytestconfig))
        pytestconfig.reusebench_lab = lab
        return lab
    store = FixtureStore(pytestconfig.reusebench_cache_dir, profile, device, Progress(pytestconfig))
    lab = Lab(store, dataset=pytestconfig.reusebench_selection.dataset)
    pytestconfig.reusebench_lab = lab
    return lab


@pytest.fixture
def record(request: pytest.FixtureRequest):
    """Call ``record(kind, data)`` to add a record to this run's results (works under xdist)."""

    def add(kind: str, data: dict) -> None:
        request.node.user_properties.append((RECORD_KEY, {"kind": kind, "test": request.node.nodeid, **data}))

    return add


@pytest.fixture
def timed(request: pytest.FixtureRequest, record, device: torch.device):
    """``timed(fn, rounds=N)``: time ``fn``; recorded in pytest-benchmark's format, under xdist too.

    Without xdist, pytest-benchmark measures (full statistics, its own table and options);
    under xdist, where it disables itself, the same statistics are computed here.
    """
    from reusebench import timing

    bench = request.getfixturevalue("benchmark")

    def run(fn, *, rounds: int, warmup: int = 1, group: str | None = None) -> dict:
        fn = timing.synchronised(fn, device)
        extra = {
            "torch": str(torch.__version__),
            "device": str(device),
            "device_name": describe(device, 1)["device_name"],
            "torch_threads": torch.get_num_threads(),
            "workers": request.config.reusebench_worker[1],
        }
        if bench.enabled:
            bench.group = group
            bench.extra_info.update(extra)
            bench.pedantic(fn, rounds=rounds, warmup_rounds=warmup, iterations=1)
            stats = {**bench.stats.stats.as_dict(), "data": list(bench.stats.stats.data), "iterations": 1}
        else:
            # The disabled plugin runs fn once: that is the first warm-up call (and it marks
            # the fixture used, so the plugin does not warn that it never was).
            bench.pedantic(fn, rounds=1, iterations=1)
            stats = timing.stats_of(timing.measure(fn, rounds=rounds, warmup=max(warmup - 1, 0)))
        params = dict(getattr(request.node, "callspec", None).params) if hasattr(request.node, "callspec") else None
        benchmark = timing.entry(
            name=request.node.name, fullname=request.node.nodeid, group=group, params=params,
            stats=stats, extra_info=extra, rounds=rounds,
        )
        record("timing", {"benchmark": benchmark, "measured_by": "pytest-benchmark" if bench.enabled else "reusebench"})
        return stats

    return run


# -- collecting records and writing results ----------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and hasattr(report, "wasxfail"):
        # A strict xfail's reason carries the calibration evidence; add what this run measured.
        measured = [v.get("evidence") for k, v in item.user_properties if k == RECORD_KEY and v.get("evidence")]
        if measured:
            report.wasxfail = f"{report.wasxfail} | this run: {'; '.join(measured)}"


class ResultsPlugin:
    """Controller side: gathers records from every test report and writes ``results/<profile>/``."""

    def __init__(self, config: pytest.Config, collector: RunCollector) -> None:
        self.config = config
        self.collector = collector
        self.written: dict | None = None
        self.updated: Path | None = None
        self.drifts: list | None = None
        self.drift_notes: list[str] = []
        self.baseline_used: Path | None = None
        self.update_refused: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return  # user_properties are complete at teardown
        for key, value in report.user_properties:
            if key == RECORD_KEY:
                self.collector.add(value)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        self.collector.add_fixtures(getattr(node, "workeroutput", {}).get(RECORD_KEY, []))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        lab = getattr(self.config, "reusebench_lab", None)
        if lab is not None:
            self.collector.add_fixtures(lab.loaded_metas())
        if not self.collector.has_records():
            return
        baseline_dir, tolerances = self.config.reusebench_baselines
        history = {} if self.config.reusebench_audit else baselines.history(baseline_dir, self.collector.profile.name)
        self.written = self.collector.write(self.config.reusebench_results, history=history)
        current = baselines.from_records(self.collector.document())
        path = baseline_path(baseline_dir, current["profile"], current["torch"])
        if self.config.getoption("update_baseline"):
            try:
                self.updated = baselines.write_baseline(baseline_dir, current)
            except ConfigError as exc:
                self.update_refused = str(exc)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if tolerances is not None:
            self.drifts, self.drift_notes = baselines.compare(load_baseline(path), current, tolerances)
            self.baseline_used = path
            drift_file = self.config.reusebench_results / "baseline-drift.md"
            if self.drifts:
                atomic_write_text(drift_file, f"# Drift from {path}\n\n{baselines.render_drifts(self.drifts)}\n")
            else:
                drift_file.unlink(missing_ok=True)
            if self.drifts and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not self.written:
            return
        terminalreporter.section("reusebench")
        for line in self.collector.summary_lines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"records: {self.written['records']}")
        self._cache_line(terminalreporter)
        if self.updated is not None:
            terminalreporter.write_line(f"baseline updated: {self.updated}")
        if self.update_refused is not None:
            terminalreporter.write_line(f"baseline NOT updated: {self.update_refused}", red=True)
        if self.drifts is not None:
            if self.drifts:
                terminalreporter.section("reusebench: drift from the baseline", red=True)
                shown = self.drifts[:40]
                terminalreporter.write_line(f"baseline: {self.baseline_used}; {len(self.drifts)} item(s) moved:")
                terminalreporter.write_line(baselines.render_drifts(shown))
                if len(self.drifts) > len(shown):
                    terminalreporter.write_line(
                        f"... and {len(self.drifts) - len(shown)} more: {self.config.reusebench_results / 'baseline-drift.md'}"
                    )
                terminalreporter.write_line(
                    "If the change is intended, rewrite the baseline with the same command plus --update-baseline "
                    "(instead of --compare-baseline) and commit it with the reason."
                )
            else:
                terminalreporter.write_line(f"baseline: no drift beyond tolerance from {self.baseline_used}")
            for note in self.drift_notes[:10]:
                terminalreporter.write_line(f"  note: {note}")

    def _cache_line(self, terminalreporter) -> None:
        if self.config.reusebench_audit is not None:
            return  # an audit's networks are checkpoints or audit-* entries, not fixture networks
        from fixtures.store import FixtureStore

        store = FixtureStore(self.config.reusebench_cache_dir, self.config.reusebench_profile, self.config.reusebench_device)
        pruned = getattr(self.config, "reusebench_pruned", None)
        terminalreporter.write_line(
            f"cache:   {len(store.entries())} fixture networks, {store.size_bytes() / 2**20:.1f} MiB in {store.root}"
            + (f" (pruned {len(pruned)} entries before the run)" if pruned is not None else "; --cache-prune removes entries this profile cannot use")
        )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # The very last line of the session, after pytest's own summary.
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if self.written and reporter is not None:
            reporter.write_line(f"reusebench report: {self.written['report']}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    lab = getattr(config, "reusebench_lab", None)
    if hasattr(config, "workerinput") and lab is not None:
        config.workeroutput[RECORD_KEY] = lab.loaded_metas()
