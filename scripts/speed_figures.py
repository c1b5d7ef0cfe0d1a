"""Print the suite's speed figures, each measured in this one run, as ratios.

    python scripts/speed_figures.py            # everything (five main-job runs: ~45 minutes on 2 cores)
    python scripts/speed_figures.py --quick    # only the in-process figures (~1 minute)
    python scripts/speed_figures.py --scaling --set seeds=[0,1]
                                               # only figures 5 and 6, on a smaller battery
                                               # (--set: profile overrides for every main job)

Figures (targets from the issue tracker):
  1. replace + evaluate + restore over evaluate alone, same network and data       (<= 1.05)
  2. the suite's training step over a minimal hand-written loop, throughput       (>= 0.95)
  3. warm main job over cold main job (smoke, -n 2, empty cache)                  (<= 0.1)
  4. the measurement phase (networks cached, --remeasure) before/after activation
     reuse and state sharing (--reuse-memory 0 / the default), and the forward work
     (images x units) each did, against the work needed with every pass kept
  5. cold main job with -n 0 over -n 2 (each from an empty cache), speedup        (>= 1.7)
  6. fixture networks trained per cold run with 2 workers: each exactly once
Rounds alternate between the two sides of a ratio, so that a slow phase of a shared
machine hits both; each ratio is of medians. The main jobs run one after another.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]

from reusebench.fixtures.networks import PaperNetworks  # noqa: E402
from reusebench.fixtures.store import FixtureStore, build  # noqa: E402
from reusebench.fixtures.training import train_step  # noqa: E402
from reusebench.groups import select  # noqa: E402
from reusebench.lab import Lab  # noqa: E402
from reusebench.profiles import get_profile  # noqa: E402
from reusebench.replace import replaced  # noqa: E402


def alternate(a, b, rounds: int) -> tuple[float, float]:
    """Median seconds of ``a`` and of ``b``, timed in alternation after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(rounds):
        for fn, acc in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def replacement_overhead(lab: Lab, arch: str) -> float:
    fx = lab.fixture(lab.target_spec(arch, "seg"))
    refs = select(fx.model, "conv.weight")

    def plain():
        lab.evaluate(fx.model, "seg", lab.dataset)

    def with_replacement():
        with replaced(fx.model, fx.init_state, refs):
            lab.evaluate(fx.model, "seg", lab.dataset)

    t_replace, t_plain = alternate(with_replacement, plain, rounds=15)
    return t_replace / t_plain


def training_step_ratio(lab: Lab, arch: str, steps: int = 20) -> float:
    p = lab.profile
    spec = lab.target_spec(arch, "seg")
    train = lab.networks.split(spec.dataset, "train")
    x, y = train.images[: p.batch_size], train.masks[: p.batch_size]
    suite_model, hand_model = build(spec, p), build(spec, p)
    suite_opt = torch.optim.Adam(suite_model.parameters(), lr=p.lr)
    hand_opt = torch.optim.Adam(hand_model.parameters(), lr=p.lr)

    def suite():
        for _ in range(steps):
            train_step(suite_model, suite_opt, "seg", x, y)

    def hand():  # the minimal loop a person would write: same model, batch and loss
        for _ in range(steps):
            out = hand_model(x)
            prob = torch.sigmoid(out).flatten(1)
            dice = 1 - (2 * (prob * y.flatten(1)).sum(1) + 1) / (prob.sum(1) + y.flatten(1).sum(1) + 1)
            loss = F.binary_cross_entropy_with_logits(out, y) + dice.mean()
            hand_opt.zero_grad()
            loss.backward()
            hand_opt.step()

    t_suite, t_hand = alternate(suite, hand, rounds=5)
    return t_hand / t_suite  # throughput ratio


def main_job(workers: int, cache: Path, results: Path, *extra: str, verdicts_may_fail: bool = False) -> tuple[float, dict]:
    """Run the main job; ``verdicts_may_fail``: a run whose tests fail (exit 1: e.g. an expected
    failure that passes under a profile override) still counts as a timed run; its summary is printed."""
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider", "--cache-dir", str(cache), "--results-dir", str(results), *extra]
    if workers:
        cmd += ["-n", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REUSEBENCH_", "PYTEST_"))}
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if verdicts_may_fail and result.returncode == 1:
        print(f"   -n {workers}: {result.stdout.strip().splitlines()[-1]} (test failures accepted: only the time is used)")
    elif result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"main job with -n {workers} {' '.join(extra)} failed ({result.returncode})")
    return seconds, json.loads((results / "smoke" / "records.json").read_text())


def case_values(doc: dict) -> dict:
    """Every measured case's numbers (wall time left out), to compare two runs bit for bit."""
    return {json.dumps({k: r[k] for k in ("arch", "task", "group", "donor", "dataset", "scope", "layer", "recalibration", "seed")}):
            json.dumps({k: v for k, v in r.items() if k not in ("seconds", "test")}, sort_keys=True)
            for r in doc["records"] if r["kind"] == "case"}


def trained_once(doc: dict) -> str:
    counts = Counter(t["label"] for t in doc["trainings"])
    return (f"6. cold run with 2 workers trained {len(counts)} networks, {sum(counts.values())} trainings; "
            f"each exactly once: {all(c == 1 for c in counts.values())} "
            f"(workers: {dict(Counter(t['worker'] for t in doc['trainings']))})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the main-job runs")
    parser.add_argument("--scaling", action="store_true", help="only the cold -n 0 / -n 2 runs (figures 5 and 6)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a profile override for every main job")
    args = parser.parse_args()
    overrides = [arg for item in args.set for arg in ("--set", item)]

    profile = get_profile("smoke")
    torch.set_num_threads(1)  # as one of two xdist workers on a 2-core machine
    with tempfile.TemporaryDirectory() as tmp:
        lab = Lab(PaperNetworks(FixtureStore(Path(os.environ.get("REUSEBENCH_CACHE_DIR", Path(tmp) / "cache")), profile, torch.device("cpu"))))
        for arch in ("unet", "pspnet"):
            print(f"1. {arch}: replace + evaluate + restore / evaluate = {replacement_overhead(lab, arch):.3f}   (target <= 1.05)")
        for arch in ("unet", "pspnet"):
            print(f"2. {arch}: training step throughput, suite / hand-written loop = {training_step_ratio(lab, arch):.3f}   (target >= 0.95)")
        if args.quick:
            return 0
        torch.set_num_threads(os.cpu_count() or 1)
        c2, r = Path(tmp) / "c2", Path(tmp) / "r"
        if overrides:
            print(f"main jobs with profile overrides: {' '.join(args.set)}")
        cold2, doc = main_job(2, c2, r / "cold2", *overrides, verdicts_may_fail=args.scaling)
        if args.scaling:
            cold0, _ = main_job(0, Path(tmp) / "c0", r / "cold0", *overrides, verdicts_may_fail=True)
            print(f"5. cold main job -n 0 / -n 2 = {cold0:.1f} s / {cold2:.1f} s = speedup {cold0 / cold2:.2f}x   (target >= 1.7x)")
            print(trained_once(doc))
            return 0
        warm2, _ = main_job(2, c2, r / "warm2")
        print(f"3. warm / cold main job (-n 2) = {warm2:.1f} s / {cold2:.1f} s = {warm2 / cold2:.3f}   (target <= 0.1)")
        before, plain = main_job(2, c2, r / "before", "--remeasure", "--reuse-memory", "0")
        after, reusing = main_job(2, c2, r / "after", "--remeasure")
        fb, fa = plain["environment"]["forward_work"], reusing["environment"]["forward_work"]
        same = case_values(plain) == case_values(reusing)
        print(f"4. measurement phase (networks cached): before {before:.1f} s, after {after:.1f} s = {after / before:.3f}; "
              f"cold main job before ~ {cold2 - after + before:.0f} s (derived), after {cold2:.0f} s (measured)")
        print(f"   forward work, images x units: before {fb['computed']}, after {fa['computed']} "
              f"(needed with every pass kept: {fa['needed']}); evaluation passes {fb['passes']} -> {fa['passes']}; "
              f"records bit-identical: {same}")
        cold0, _ = main_job(0, Path(tmp) / "c0", r / "cold0")
        print(f"5. cold main job -n 0 / -n 2 = {cold0:.1f} s / {cold2:.1f} s = speedup {cold0 / cold2:.2f}x   (target >= 1.7x)")
        print(trained_once(doc))
        print(f"   peak RSS per process (MiB): {doc['environment'].get('peak_rss_mib')}")
    return 0 if args.quick or same else 1


if __name__ == "__main__":
    sys.exit(main())
