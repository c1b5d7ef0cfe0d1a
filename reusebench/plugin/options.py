"""The suite's command-line options (``pytest --help`` lists them in two groups)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest




def installed_benchmarks() -> Path:
    """The suite's benchmark tests: ``reusebench/benchmarks/`` in an installed copy, the
    checkout's ``benchmarks/`` in an editable one (``./dev setup``)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "benchmarks"
    return installed if installed.is_dir() else package.parent / "benchmarks"


AUDIT_OPTIONS = {  # option -> help; each sets the audit key of the same name (dashes as underscores)
    "model": "model factory, import path 'package.module:function'",
    "data": "data factory () -> (train, val), import path",
    "metric": "per-sample metric: accuracy, dice, iou, ssim, psnr, neg_mse or an import path (default accuracy)",
    "loss": "loss to train networks without a checkpoint: cross_entropy, bce, mse or an import path",
    "target-checkpoint": "state_dict of the trained target (default: train it on the data)",
    "donor-checkpoint": "state_dict of your pre-trained model, the 'pretrained' donor",
    "donor-data": "data factory to train the pre-trained model on when there is no donor checkpoint",
    "audit-name": "name of the audit (default: the model factory's name); results go to results/audit-NAME/",
}


# Every option's dest lives in this namespace, so no other plugin's dest clashes with it. Two
# option names would clash with well-known plugins, and are named apart: --reusebench-profile
# (pytest-profiling has --profile) and --param-group (pytest-split has --group).
PREFIX = "reusebench_"


def dest(option: str) -> str:
    """The namespaced dest of one of the suite's options: ``--arch`` -> ``reusebench_arch``."""
    return PREFIX + option.lstrip("-").replace("-", "_")


def option(config: pytest.Config, name: str):
    """The value of one of the suite's options by its command-line name (``option(config, "--arch")``)."""
    return config.getoption(dest(name))


class _Namespaced:
    """An option group that gives each option its namespaced dest."""

    def __init__(self, group) -> None:
        self._group = group

    def addoption(self, *names: str, **kwargs) -> None:
        kwargs.setdefault("dest", dest(names[0]))
        self._group.addoption(*names, **kwargs)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reusebench"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = _Namespaced(parser.getgroup("reusebench", "reusebench: parameter-reusability benchmarks"))
    group.addoption(
        "--reusebench-profile",
        default=os.environ.get("REUSEBENCH_PROFILE", "smoke"),
        help="profile from reusebench/profiles.toml (env REUSEBENCH_PROFILE; default: smoke)",
    )
    group.addoption(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override one profile field, e.g. --set steps=100 (repeatable)",
    )
    group.addoption(
        "--device",
        default=os.environ.get("REUSEBENCH_DEVICE", "auto"),
        help="auto (a GPU when visible, else CPU), cpu, cuda or cuda:N (env REUSEBENCH_DEVICE)",
    )
    group.addoption(
        "--workers-per-device",
        type=int,
        default=1,
        metavar="K",
        help="GPUs: xdist workers 0..K-1 share the first GPU, K..2K-1 the next, ... (default 1: worker i on GPU i mod count); "
        "use K > 1 when one worker leaves a GPU idle",
    )
    group.addoption(
        "--precision",
        default="fp32",
        choices=("fp32", "tf32", "bf16"),
        help="training precision (GPU only beside fp32): strict fp32 (default, the reference), tf32, or bf16 autocast; "
        "evaluation is always fp32",
    )
    group.addoption("--channels-last", action="store_true", help="GPU: train in the channels-last memory format")
    group.addoption("--compile", action="store_true", help="GPU: torch.compile the training forward pass")
    group.addoption(
        "--cache-dir",
        default=os.environ.get("REUSEBENCH_CACHE_DIR") or str(default_cache_dir()),
        help="where trained networks and measured records are kept (env REUSEBENCH_CACHE_DIR; default ~/.cache/reusebench)",
    )
    for option, what in (("--arch", "architectures"), ("--task", "tasks"), ("--donor", "donors"), ("--param-group", "parameter groups")):
        group.addoption(option, default="", metavar="A,B", help=f"only these {what} (comma-separated; default: all)")
    group.addoption("--dataset", default="shapes", help="the targets' dataset: shapes or nuclei (other_data uses the other)")
    group.addoption(
        "--observations",
        default=None,
        help="the declarative file of observations, thresholds and expected failures (default: the suite's observations.toml)",
    )
    group.addoption(
        "--cache-prune",
        action="store_true",
        help="before the run, delete cache entries the current profile, torch and code cannot use",
    )
    group.addoption(
        "--reuse-memory",
        type=float,
        default=256,
        metavar="MIB",
        help="memory per worker for activations kept for reuse by later cases (default 256; "
        "0 turns reuse and the sharing of equal network states off: the same results, more work)",
    )
    group.addoption(
        "--remeasure",
        action="store_true",
        help="measure every case anew instead of loading its record from the cache (and rewrite the cached records)",
    )
    group.addoption(
        "--compare-baseline",
        action="store_true",
        help="fail when a case drifts beyond its tolerance or an observation flips, against results/baselines/",
    )
    group.addoption("--update-baseline", action="store_true", help="rewrite the stored baseline from this run")
    group.addoption(
        "--machine-baseline",
        action="store_true",
        help="with --update-baseline: record this machine's own baseline (<baseline dir>/machines/<CPU model or GPU>/), "
        "which --compare-baseline then prefers on this machine",
    )
    group.addoption("--baseline-dir", default=None, help="where baselines live (default: <rootdir>/results/baselines)")
    group.addoption(
        "--tolerances",
        default=None,
        help="per-profile, per-device tolerances for --compare-baseline (default: the suite's tolerances.toml)",
    )
    group.addoption(
        "--shard",
        default=None,
        metavar="I/N",
        help="run shard I of N (1-based): the selected tests split by target network, the same split on every "
        "machine; results go to results/<profile>/shards/I-of-N/, merged by python -m reusebench.merge",
    )
    group.addoption(
        "--results-dir",
        default=os.environ.get("REUSEBENCH_RESULTS_DIR"),
        help="where results/<profile>/ is written (default: <rootdir>/results)",
    )
    audit = _Namespaced(parser.getgroup("reusebench audit", "reusebench: audit your own network (the same battery on any CNN)"))
    audit.addoption("--audit", default=None, metavar="FILE", help="an audit TOML file (keys as the options below; options win)")
    for key, what in AUDIT_OPTIONS.items():
        audit.addoption(f"--{key}", default=None, help=what)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """``pytest --audit FILE`` (or ``--model``) with no test path runs the installed benchmarks,
    from any repository; an explicit path or ``--pyargs`` is left as given.

    When the suite's folder lies outside the session's rootdir (an audit from the user's own
    repository), no conftest above that folder belongs to the session: the checkout's root
    conftest, imported by pytest's default import mode, would put the checkout on ``sys.path``
    and shadow a user's own ``models`` package. pytest's ``confcutdir`` is set to the suite's
    folder then, unless ``--confcutdir`` was given.
    """
    known = early_config.known_args_namespace
    suite = installed_benchmarks()
    auditing = getattr(known, dest("--audit"), None) or getattr(known, dest("--model"), None)
    if auditing and not known.file_or_dir and not known.pyargs:
        args.append(str(suite))
        known.file_or_dir = [str(suite)]
    here = Path(early_config.invocation_params.dir)
    collected = [(here / arg.split("::")[0]).resolve() for arg in known.file_or_dir or ()]
    default_cut = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
    outside = early_config.rootpath.resolve() not in (suite, *suite.parents)
    if outside and known.confcutdir == default_cut and any(p == suite or suite in p.parents for p in collected):
        known.confcutdir = str(suite)


def is_the_whole_suite(config: pytest.Config, arg: str, suite_dir: Path) -> bool:
    """Whether a test path given on the command line is the suite's whole benchmarks folder."""
    if config.option.pyargs and arg == "reusebench.benchmarks":
        return True
    return "::" not in arg and (Path(config.invocation_params.dir) / arg).resolve() == suite_dir
