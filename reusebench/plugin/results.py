"""Results: records from every test report, ``results/<profile>/``, and the stored baseline.

Workers attach records to their test reports (``user_properties``, serialised by xdist) and
send the metadata of the networks they used when they finish; the controller's
``ResultsPlugin`` gathers both, writes records, report and figures, and compares with (or
updates) the stored baseline.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from filelock import FileLock

from reusebench.fixtures.store import FixtureStore
from reusebench import baseline as baselines
from reusebench.baseline import baseline_path, load_baseline
from reusebench.environment import describe, device_name, device_reason, peak_memory
from reusebench.files import atomic_write_text
from reusebench.plugin.fixtures import RECORD_KEY
from reusebench.plugin.options import is_the_whole_suite, option
from reusebench.plugin.state import CPU_THREADS, SuiteState, state
from reusebench.protocol import ConfigError
from reusebench.report import RECORDS_FILE, RunCollector
from reusebench.report.layout import PARTIAL_DIR

DRIFT_FILE = "baseline-drift.md"


def start(config: pytest.Config) -> None:
    """On the controller, register the writer of ``results/<profile>/`` (after ``state.start``)."""
    suite = state(config)
    if not suite.worker.is_controller:
        return
    tx = config.getoption("tx", default=None)  # -n N becomes N popen gateways; --tx counts too
    requested = len(tx) if tx else 1
    environment = describe(suite.device, requested)
    if suite.device.type == "cpu":
        environment["torch_threads"] = CPU_THREADS  # each worker's
    collector = RunCollector(suite.profile, environment, audit=dataclasses.asdict(suite.audit) if suite.audit else None, shard=suite.shard, run=suite.run)
    config.pluginmanager.register(ResultsPlugin(config, suite, collector), "reusebench-results")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and hasattr(report, "wasxfail"):
        # A strict xfail's reason carries the calibration evidence; add what this run measured.
        measured = [v.get("evidence") for k, v in item.user_properties if k == RECORD_KEY and v.get("evidence")]
        if measured:
            report.wasxfail = f"{report.wasxfail} | this run: {'; '.join(measured)}"


PROCESS_KEY = "reusebench-process"  # workeroutput: what a worker used (memory, record cache)
USAGE_ERROR_KEY = "reusebench-usage-error"  # workeroutput: a usage error found at a worker's collection


def process_summary(suite: SuiteState) -> dict:
    """This process's peak memory, how many records it loaded from the cache or measured, and
    its evaluation work (images x units computed, reused from earlier passes, needed)."""
    records = suite.lab.records if suite.lab is not None else None
    activations = suite.lab.activations if suite.lab is not None else None
    return {
        "worker": suite.worker.id,
        **peak_memory(suite.device),
        "records_loaded": records.hits if records else 0,
        "records_measured": records.misses if records else 0,
        "forward": activations.stats.as_dict() if activations else None,
        "stopped": suite.stopped,
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    suite = state(session.config)
    if not suite.worker.is_controller and suite.lab is not None:
        session.config.workeroutput[RECORD_KEY] = suite.lab.networks.loaded_metas()
        session.config.workeroutput[PROCESS_KEY] = process_summary(suite)




def partial_reasons(config: pytest.Config, session: pytest.Session) -> list[str]:
    """Why this run is not the complete battery (empty: it is): a narrowed selection, tests
    named on the command line, or a run that stopped early. Such a run never replaces the
    complete run's report; it writes to its own folder (``PARTIAL_DIR``), marked partial."""
    given, reasons = config.option, []
    for flag, value in (("-k", getattr(given, "keyword", "")), ("-m", getattr(given, "markexpr", ""))):
        if value:
            reasons.append(f"{flag} {value!r}")
    if getattr(given, "lf", False):
        reasons.append("--lf")
    if getattr(given, "stepwise", False):
        reasons.append("--stepwise")
    for name in ("--arch", "--task", "--donor", "--param-group"):
        if option(config, name):
            reasons.append(f"{name} {option(config, name)}")
    named = [a for a in config.args if not is_the_whole_suite(config, a, state(config).suite_dir)]
    if named:
        reasons.append(f"tests named: {' '.join(named[:3])}{' ...' if len(named) > 3 else ''}")
    if session.shouldstop or session.shouldfail:
        reasons.append(f"stopped early ({session.shouldstop or session.shouldfail})")
    if session.exitstatus == pytest.ExitCode.INTERRUPTED or state(config).interrupted:
        reasons.append("interrupted")
    return reasons


def _changed_since(path: Path, started: float) -> bool:
    """Whether ``path`` was written after ``started`` (by another session: this one writes later)."""
    try:
        return path.stat().st_mtime > started
    except OSError:
        return False


class ResultsPlugin:
    """Controller side: gathers records from every test report and writes ``results/<profile>/``."""

    def __init__(self, config: pytest.Config, suite: SuiteState, collector: RunCollector) -> None:
        self.config = config
        self.suite = suite
        self.collector = collector
        self.written: dict | None = None
        self.updated: Path | None = None
        self.drifts: list | None = None
        self.drift_notes: list[str] = []
        self.baseline_used: Path | None = None
        self.update_refused: str | None = None
        self.processes: list[dict] = []  # one summary per process that ran tests
        self.usage_error: str | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown":
            return  # user_properties are complete at teardown
        for key, value in report.user_properties:
            if key == RECORD_KEY:
                self.collector.add(value)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        output = getattr(node, "workeroutput", {})
        self.collector.add_fixtures(output.get(RECORD_KEY, []))
        if PROCESS_KEY in output:
            self.processes.append(output[PROCESS_KEY])
        if output.get(USAGE_ERROR_KEY):
            self.usage_error = output[USAGE_ERROR_KEY]

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self) -> None:
        # First of the hook's implementations: pytest sets the INTERRUPTED exit status only after
        # they all return, and one can raise (Python 3.11: pytest's traceback of a frame without a
        # line number), which would leave the status OK and let the run replace the complete report.
        self.suite.interrupted = True

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.suite.observations is not None:  # where the calibrated statuses were measured, for the report
            self.collector.calibrated_on = dict(self.suite.observations.calibrated_on)
            self.collector.calibration_applies = self.suite.observations.calibrated_for(option(self.config, "--set"), self.suite.selection.dataset)
            self.collector.definitions = {oid: o.statement for oid, o in self.suite.observations.observations.items()}
        suite = self.suite
        if self.usage_error:  # found by the workers' collection (xdist): the run is a usage error, as without xdist
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        if suite.lab is not None:
            self.collector.add_fixtures(suite.lab.networks.loaded_metas())
        self.processes.append(process_summary(suite))
        env = self.collector.environment
        env["peak_rss_mib"] = ", ".join(f"{p['worker']} {p['peak_rss_mib']:.0f}" for p in self.processes)
        if suite.device.type == "cuda":
            env["peak_gpu_mib"] = ", ".join(f"{p['worker']} {p['peak_gpu_mib']:.0f}" for p in self.processes if p["peak_gpu_mib"] is not None)
        forward = [p["forward"] for p in self.processes if p.get("forward")]
        if forward:  # images x units of the evaluation passes, summed over processes
            env["forward_work"] = {k: sum(f[k] for f in forward) for k in ("computed", "reused", "needed", "passes")}
        env["reuse_memory_mib"] = suite.reuse_mib
        if not suite.accel.is_default:
            env["acceleration"] = str(suite.accel)
        self.collector.stopped = sorted({p["stopped"] for p in self.processes if p.get("stopped")})
        if not self.collector.has_records() and not self.collector.stopped:
            return
        history = {} if suite.audit else baselines.history(suite.baseline_dir, self.collector.profile.name)
        self.partial = partial_reasons(self.config, session)
        self.collector.partial = self.partial
        directory = suite.results_dir / PARTIAL_DIR if self.partial else suite.results_dir
        self.results_changed = _changed_since(directory / RECORDS_FILE, self.collector.started)
        with FileLock(str(suite.results_dir / ".write.lock")):  # two sessions on one directory write one at a time
            self.written = self.collector.write(directory, history=history, results_root=suite.results_dir.parent)
        self.written_to = directory
        self._benchmark_options()
        current = baselines.from_records(self.collector.document())
        path = baseline_path(suite.baseline_dir, current["profile"], current["torch"], current.get("machine"))
        self.tests_passed = session.exitstatus == pytest.ExitCode.OK  # before the baseline changes it
        if option(self.config, "--update-baseline"):
            try:
                self.updated = baselines.write_baseline(suite.baseline_dir, current, for_machine=option(self.config, "--machine-baseline"))
            except ConfigError as exc:
                self.update_refused = str(exc)
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if suite.tolerances is not None:
            self.drifts, self.drift_notes = baselines.compare(load_baseline(path), current, suite.tolerances)
            self.baseline_used = path
            drift_file = suite.results_dir / DRIFT_FILE
            if self.drifts:
                atomic_write_text(drift_file, f"# Drift from {path}\n\n{baselines.render_drifts(self.drifts)}\n")
            else:
                drift_file.unlink(missing_ok=True)
            if self.drifts and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _benchmark_options(self) -> None:
        """pytest-benchmark disables itself under xdist, and with it --benchmark-json and
        --benchmark-autosave: write the JSON they ask for from this run's timings (the same
        format), or say plainly that nothing was saved."""
        self.benchmark_notes: list[str] = []
        if getattr(self.config.option, "dist", "no") == "no":
            return  # no xdist distribution (pytest-benchmark's own test): it honours its own options
        wanted = self.config.getoption("benchmark_json", None)
        ours = self.written.get("benchmark")
        if wanted:
            if ours is not None:
                atomic_write_text(Path(wanted), Path(ours).read_text())
                self.benchmark_notes.append(f"--benchmark-json: written by reusebench from this run's timings (xdist): {wanted}")
            else:
                self.benchmark_notes.append("--benchmark-json: nothing written, this run timed nothing (select -m timing)")
        if self.config.getoption("benchmark_autosave", None) or self.config.getoption("benchmark_save", None):
            self.benchmark_notes.append(
                "--benchmark-save/--benchmark-autosave do nothing under xdist (pytest-benchmark disables itself); "
                f"this run's timings are in {ours or 'no file (nothing timed)'}, or run the timing cases with -n 0 -m timing"
            )

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.usage_error:
            terminalreporter.write_line(f"ERROR: reusebench: {self.usage_error}", red=True)
            return
        if not self.written:
            return
        terminalreporter.section("reusebench")
        for line in self.collector.summary_lines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"records: {self.written['records']}")
        if self.suite.audit is None:  # an audit's records are not cached (its networks come from your code)
            loaded, measured = (sum(p[k] for p in self.processes) for k in ("records_loaded", "records_measured"))
            terminalreporter.write_line(
                f"cases:   {loaded} loaded from the record cache, {measured} measured (--remeasure measures every case anew)"
            )
            forward = [p["forward"] for p in self.processes if p.get("forward")]
            if any(f["passes"] for f in forward):
                done, reused, needed = (sum(f[k] for f in forward) for k in ("computed", "reused", "needed"))
                terminalreporter.write_line(
                    f"forward: {done} images x units computed in evaluation passes, {reused} reused from earlier passes "
                    f"({needed} needed with every pass kept; --reuse-memory sets the memory for kept activations)"
                )
        self._cache_line(terminalreporter)
        for note in getattr(self, "benchmark_notes", []):
            terminalreporter.write_line(note, yellow=True)
        if self.updated is not None:
            terminalreporter.write_line(f"baseline updated: {self.updated}")
        if self.update_refused is not None:
            terminalreporter.write_line(f"baseline NOT updated: {self.update_refused}", red=True)
        if self.drifts is not None:
            self._drift_lines(terminalreporter)
        if (self.drifts or self.update_refused is not None) and getattr(self, "tests_passed", False):  # pytest's line counts tests only
            terminalreporter.write_line(
                f"reusebench: the run FAILS (exit code {int(pytest.ExitCode.TESTS_FAILED)}) although its tests passed: "
                + ("drift from the baseline" if self.drifts else "the baseline was not updated"), red=True)

    def _drift_lines(self, terminalreporter) -> None:
        if not self.drifts:
            terminalreporter.write_line(f"baseline: no drift beyond tolerance from {self.baseline_used}")
        else:
            terminalreporter.section("reusebench: drift from the baseline", red=True)
            shown = self.drifts[:40]
            terminalreporter.write_line(f"baseline: {self.baseline_used}; {len(self.drifts)} item(s) moved:")
            terminalreporter.write_line(baselines.render_drifts(shown))
            if len(self.drifts) > len(shown):
                terminalreporter.write_line(f"... and {len(self.drifts) - len(shown)} more: {self.suite.results_dir / DRIFT_FILE}")
            configuration = [d for d in self.drifts if d.tolerance == "must match"]
            if configuration:
                terminalreporter.write_line(
                    f"This run's configuration differs from the baseline's ({', '.join(d.quantity for d in configuration)}): "
                    "its numbers are no baseline for these. Compare runs of the baseline's configuration, or record this "
                    "one in a directory of its own: the same command with --update-baseline --baseline-dir DIR "
                    "(instead of --compare-baseline)."
                )
            else:
                terminalreporter.write_line(
                    "If the change is intended, rewrite the baseline with the same command plus --update-baseline "
                    "(instead of --compare-baseline) and commit it with the reason."
                )
                if any(note.startswith("the baseline was recorded on ") for note in self.drift_notes):
                    terminalreporter.write_line(
                        "The baseline comes from another machine (note below). If the code did not change, keep one for "
                        "this machine: the same command with --update-baseline --machine-baseline (instead of --compare-baseline)."
                    )
        for note in self.drift_notes[:10]:
            terminalreporter.write_line(f"  note: {note}")

    def _cache_line(self, terminalreporter) -> None:
        suite = self.suite
        if suite.audit is not None:
            return  # an audit's networks are checkpoints or audit entries, not fixture networks
        store = FixtureStore(suite.cache_dir, suite.profile, suite.device, accel=suite.accel)
        terminalreporter.write_line(
            f"cache:   {len(store.entries())} fixture networks; {store.size_bytes() / 2**20:.1f} MiB in all (records included) in {store.root}"
            + (f" (pruned {len(suite.pruned)} entries before the run)" if suite.pruned is not None
               else "; --cache-prune removes entries this profile cannot use")
        )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # The very last line of the session, after pytest's own summary.
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if self.written and reporter is not None:
            if getattr(self, "partial", None):
                reporter.write_line(f"reusebench report (PARTIAL: {'; '.join(self.partial)}): {self.written['report']}; "
                                    f"the complete run's report in {self.suite.results_dir} is left as it was", yellow=True)
            else:
                reporter.write_line(f"reusebench report: {self.written['report']}")
            if getattr(self, "results_changed", False):
                reporter.write_line(f"reusebench: another session wrote {self.written_to / RECORDS_FILE} while this one "
                                    "ran; this run's files were written after it", yellow=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The run's first lines: the profile, the device and why that device."""
    suite = state(config)
    if suite.audit is not None:
        what = f"audit {suite.audit.name!r}"
    else:
        what = f"profile {suite.profile.name!r} ({len(suite.profile.seeds)} seeds)"
    return [f"reusebench: {what} on {suite.device} ({device_name(suite.device)}): "
            f"{device_reason(option(config, '--device'), suite.device)}; results to {suite.results_dir}"]

