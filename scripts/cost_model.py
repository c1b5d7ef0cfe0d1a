"""The cold path's cost model: where a main job's core-seconds go, per target seed, and how
close a training step and an evaluation come to the core's fp32 peak. One run of this script
measures the per-operation times; the split comes from a cold run's records.

    python scripts/cost_model.py RECORDS                       # a cold run's records.json (networks trained in it)
    python scripts/cost_model.py RECORDS --before results/cost/smoke-7270fd3.json
                                                               # ... beside an earlier run's split: core-s per seed, before/after
    python scripts/cost_model.py RECORDS --write-summary OUT.json --layout contiguous
                                                               # keep the split (e.g. of a run before channels-last) as a summary
    python scripts/cost_model.py --layouts [--compile]         # only the layouts: contiguous vs channels-last (vs compiled)

Printed, per target seed of the battery (core-seconds; a run on 2 workers spends 2 per second):
  full trainings (targets and the donor pool) and fine-tunes, each split into optimisation
  steps and the validation evaluations inside training (evaluations counted from each
  network's validation curve, timed here on one thread at the profile's batch size, in the
  layout the run trained in: ``--layout``, channels-last by default, the suite's CPU path);
  replacement measurements (the records' own evaluation times); the rest (data, reference
  metrics, claims, start-up, idle) as the remainder of wall time x workers.
Then the achieved GFLOP/s of one training step and of one evaluation batch on one thread
(FLOPs from torch.utils.flop_counter, 2 per multiply-add), against the core's fp32 peak,
derived as 2 FMA units x fp32 lanes (16 with AVX-512, 8 with AVX2) x 2 FLOPs x the clock in
/proc/cpuinfo (an assumption about the core's FMA units: stated, not measured).
``--layouts`` times the same step and evaluation contiguous and channels-last (and, with
``--compile``, under ``torch.compile``, its compile time apart), alternating, in this one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from reusebench.fixtures.datasets import make_split
from reusebench.fixtures.store import FixtureSpec, build
from reusebench.fixtures.training import make_optimiser, train_step
from reusebench.metrics import ae_per_image, predict, seg_per_image
from reusebench.profiles import Profile, get_profile
from reusebench.timing import flops, measure

CPU = torch.device("cpu")
LAYOUTS = {"contiguous": torch.contiguous_format, "channels-last": torch.channels_last}
SHAPES = [(arch, task) for arch in ("unet", "pspnet") for task in ("seg", "ae")]
SUMMARY_FORMAT = 1


def median_seconds(fn, rounds: int = 7) -> float:
    return statistics.median(measure(fn, rounds=rounds))


def peak_gflops() -> tuple[float, str]:
    """One core's fp32 peak and how it was derived."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    mhz = next((float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")), float("nan"))
    lanes, isa = (16, "AVX-512") if " avx512f" in flags else (8, "AVX2") if " avx2" in flags else (4, "SSE")
    per_cycle = 2 * lanes * 2
    return per_cycle * mhz / 1000, f"2 FMA units x {lanes} fp32 lanes ({isa}) x 2 FLOPs x {mhz / 1000:.2f} GHz = {per_cycle} FLOP/cycle"


class Shapes:
    """One training step and one validation evaluation per architecture and task, as the suite
    runs them on one CPU thread, in a chosen layout."""

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.val = make_split("shapes", "val", n=profile.n_val, size=profile.image_size, data_seed=profile.data_seed)
        self.train = make_split("shapes", "train", n=profile.n_train, size=profile.image_size, data_seed=profile.data_seed)

    def step(self, arch: str, task: str, layout: str, compiled: bool = False):
        p = self.profile
        model = build(FixtureSpec(arch, task, "shapes", 0), p).train().to(memory_format=LAYOUTS[layout])
        opt = make_optimiser(p.optimizer, model.parameters(), lr=p.lr, momentum=p.momentum)
        fmt = LAYOUTS[layout]
        images = self.train.images[: p.batch_size].contiguous(memory_format=fmt)
        targets = self.train.targets(task)[: p.batch_size].contiguous(memory_format=fmt)
        step_model = torch.compile(model) if compiled else model
        return lambda: train_step(step_model, opt, task, images, targets)

    def evaluation(self, arch: str, task: str, layout: str):
        p = self.profile
        model = build(FixtureSpec(arch, task, "shapes", 0), p).eval()
        nhwc = layout == "channels-last"
        score = seg_per_image if task == "seg" else ae_per_image  # evaluate_per_image, in the layout asked for
        return lambda: score(predict(model, self.val.images, batch_size=p.eval_batch_size, device=CPU, nhwc=nhwc), self.val.targets(task))

    def eval_flops(self, arch: str, task: str) -> int:
        model = build(FixtureSpec(arch, task, "shapes", 0), self.profile).eval()
        with torch.no_grad():  # torch 2.1: FlopCounterMode counts nothing under inference_mode
            return flops(lambda: model(self.val.images[: self.profile.eval_batch_size]))


def split(doc: dict, eval_s: dict) -> tuple[dict[str, float], float, int]:
    """(core-seconds per part, of them the donor pool's trainings, networks trained)."""
    trained = [f for f in doc["fixtures"] if f.get("trained_now")]
    rows = {"full trainings: steps": 0.0, "full trainings: validation": 0.0, "fine-tunes: steps": 0.0, "fine-tunes: validation": 0.0}
    pool = 0.0
    for f in trained:
        spec = f["spec"]
        evals = len(f.get("monitor_curve") or [])
        # a fine-tune evaluates on the same validation split (n_val images) at every finetune_eval_every steps
        validation = evals * eval_s[spec["arch"], spec["task"]]
        kind = "fine-tunes" if spec.get("start") else "full trainings"
        rows[f"{kind}: validation"] += min(validation, f["train_seconds"])
        rows[f"{kind}: steps"] += max(f["train_seconds"] - validation, 0.0)
        if not spec.get("start") and spec["seed"] >= 100:
            pool += f["train_seconds"]
    rows["replacement measurements (evaluation)"] = sum(r.get("seconds") or 0.0 for r in doc["records"] if r["kind"] == "case")
    total = doc["wall_seconds"] * doc["environment"].get("workers", 1)
    rows["the rest (data, reference metrics, claims, start-up, idle)"] = max(total - sum(rows.values()), 0.0)
    return rows, pool, len(trained)


def summary(doc: dict, rows: dict, pool: float, trained: int, layout: str, label: str) -> dict:
    seeds = len(doc["profile"]["seeds"])
    return {"format": SUMMARY_FORMAT, "label": label, "profile": doc["profile"]["name"], "seeds": seeds,
            "workers": doc["environment"].get("workers", 1), "cpu": doc["environment"].get("cpu"), "started": doc.get("started"),
            "wall_seconds": doc["wall_seconds"], "networks_trained": trained, "layout": layout,
            "core_seconds": rows, "donor_pool_core_seconds": pool,
            "core_seconds_per_seed": sum(rows.values()) / seeds}


def print_split(s: dict) -> None:
    seeds, total = s["seeds"], sum(s["core_seconds"].values())
    print(f"{s['label']}: profile {s['profile']}, {s['networks_trained']} networks trained, {s['workers']} workers, "
          f"{s['wall_seconds']:.0f} s wall = {total:.0f} core-seconds, {seeds} target seeds")
    print(f"{'part':<62} {'core-s':>8} {'per seed':>9} {'share':>6}")
    for name, seconds in s["core_seconds"].items():
        print(f"{name:<62} {seconds:8.0f} {seconds / seeds:9.0f} {100 * seconds / total:5.1f}%")
    pool = s["donor_pool_core_seconds"]
    print(f"{'(of the full trainings: the donor pool, seeds 100 + s)':<62} {pool:8.0f} {pool / seeds:9.0f} {100 * pool / total:5.1f}%")
    print()


def print_before_after(before: dict, after: dict) -> None:
    print(f"core-seconds per target seed: before = {before['label']}; after = {after['label']}")
    print(f"{'part':<62} {'before':>8} {'after':>8} {'ratio':>6}")
    for name in after["core_seconds"]:
        b = before["core_seconds"].get(name, float("nan")) / before["seeds"]
        a = after["core_seconds"][name] / after["seeds"]
        print(f"{name:<62} {b:8.0f} {a:8.0f} {b / a if a else float('inf'):5.2f}x")
    b, a = before["core_seconds_per_seed"], after["core_seconds_per_seed"]
    print(f"{'all':<62} {b:8.0f} {a:8.0f} {b / a:5.2f}x")
    print(f"{'wall seconds of the run':<62} {before['wall_seconds']:8.0f} {after['wall_seconds']:8.0f} "
          f"{before['wall_seconds'] / after['wall_seconds']:5.2f}x")
    print()


def print_layouts(shapes: Shapes, compiled: bool) -> None:
    """Contiguous vs channels-last (vs compiled), each side timed in alternation, this run."""
    print("layouts on one thread (median ms; each pair timed in alternation):")
    for arch, task in SHAPES:
        row = {}
        for what, make in (("step", shapes.step), ("eval", shapes.evaluation)):
            fns = {layout: make(arch, task, layout) for layout in LAYOUTS}
            times = {layout: [] for layout in fns}
            for fn in fns.values():
                fn()
            for _ in range(7):
                for layout, fn in fns.items():
                    start = time.perf_counter()
                    fn()
                    times[layout].append(time.perf_counter() - start)
            row[what] = {layout: 1000 * statistics.median(t) for layout, t in times.items()}
        line = (f"{arch:>6} {task}: step contiguous {row['step']['contiguous']:6.1f}, channels-last {row['step']['channels-last']:6.1f} "
                f"({row['step']['contiguous'] / row['step']['channels-last']:.2f}x); evaluation {row['eval']['contiguous']:6.1f}, "
                f"{row['eval']['channels-last']:6.1f} ({row['eval']['contiguous'] / row['eval']['channels-last']:.2f}x)")
        if compiled:
            start = time.perf_counter()
            fn = shapes.step(arch, task, "channels-last", compiled=True)
            fn()
            first = time.perf_counter() - start
            line += f"; compiled channels-last step {1000 * median_seconds(fn):6.1f} (compiling took {first:.0f} s)"
        print(line)
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, nargs="?", help="a cold run's records.json")
    parser.add_argument("--before", type=Path, help="an earlier run's summary (--write-summary) to print beside this one")
    parser.add_argument("--write-summary", type=Path, help="write this run's split as a summary file")
    parser.add_argument("--label", default=None, help="what the summary calls this run (default: the records' path)")
    parser.add_argument("--layout", choices=list(LAYOUTS), default="channels-last",
                        help="the layout the run trained and validated in (default: channels-last, the suite's CPU path)")
    parser.add_argument("--layouts", action="store_true", help="time a step and an evaluation in each layout")
    parser.add_argument("--compile", action="store_true", help="with --layouts: also a torch.compile'd step")
    parser.add_argument("--profile", default="smoke", help="the profile whose shapes --layouts times without records")
    args = parser.parse_args()
    if args.records is None and not args.layouts:
        parser.error("give a cold run's records.json, or --layouts")
    torch.set_num_threads(1)  # training runs on one thread (fixtures/training.py); time it so

    doc = None
    if args.records is not None:
        doc = json.loads(args.records.read_text())
        if not any(f.get("trained_now") for f in doc["fixtures"]):
            sys.exit(f"{args.records}: no network was trained in that run; give a cold run's records")
    profile = get_profile(doc["profile"]["name"] if doc else args.profile)
    shapes = Shapes(profile)
    if args.layouts:
        print_layouts(shapes, args.compile)
    if doc is None:
        return 0

    step_s = {s: median_seconds(shapes.step(*s, args.layout)) for s in SHAPES}
    eval_s = {s: median_seconds(shapes.evaluation(*s, args.layout)) for s in SHAPES}
    rows, pool, trained = split(doc, eval_s)
    after = summary(doc, rows, pool, trained, args.layout, args.label or str(args.records))
    print_split(after)
    if args.write_summary:
        args.write_summary.write_text(json.dumps(after, indent=1) + "\n")
        print(f"summary written to {args.write_summary}\n")
    if args.before:
        before = json.loads(args.before.read_text())
        if before.get("format") != SUMMARY_FORMAT:
            sys.exit(f"{args.before}: not a cost summary of format {SUMMARY_FORMAT} (write one with --write-summary)")
        print_before_after(before, after)

    peak, how = peak_gflops()
    print(f"one core's fp32 peak: {peak:.0f} GFLOP/s ({how})")
    for arch, task in SHAPES:
        seconds = step_s[arch, task]
        step_flops = flops(shapes.step(arch, task, args.layout))
        achieved = step_flops / seconds / 1e9
        ev = shapes.eval_flops(arch, task) * (profile.n_val / profile.eval_batch_size) / eval_s[arch, task] / 1e9
        print(f"{arch:>6} {task}: training step (batch {profile.batch_size}, {args.layout}) {1000 * seconds:6.1f} ms, "
              f"{step_flops / 1e9:.2f} GFLOP, {achieved:5.1f} GFLOP/s ({100 * achieved / peak:4.1f}% of peak); "
              f"validation evaluation ({profile.n_val} images) {1000 * eval_s[arch, task]:6.1f} ms, {ev:5.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
