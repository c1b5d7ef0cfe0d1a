"""The cold path's cost model: where a main job's core-seconds go, per target seed, and how
close a training step and an evaluation come to the core's fp32 peak. One run of this script
measures the per-operation times; the split comes from a cold run's records.

    python scripts/cost_model.py results/smoke/records.json      # a cold run's records (networks trained in it)

Printed, per target seed of the battery (core-seconds; a run on 2 workers spends 2 per second):
  full trainings (targets and the donor pool) and fine-tunes, each split into optimisation
  steps and the validation evaluations inside training (evaluations counted from each
  network's validation curve, timed here on one thread at the profile's batch size);
  replacement measurements (the records' own evaluation times); the rest (data, reference
  metrics, claims, start-up) as the remainder of wall time x workers.
Then the achieved GFLOP/s of one training step and of one evaluation batch on one thread
(FLOPs from torch.utils.flop_counter, 2 per multiply-add), against the core's fp32 peak,
derived as 2 FMA units x fp32 lanes (16 with AVX-512, 8 with AVX2) x 2 FLOPs x the clock in
/proc/cpuinfo (an assumption about the core's FMA units: stated, not measured).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from reusebench.fixtures.datasets import make_split
from reusebench.fixtures.store import FixtureSpec, build
from reusebench.fixtures.training import make_optimiser, train_step
from reusebench.metrics import evaluate_per_image
from reusebench.profiles import get_profile
from reusebench.timing import measure


def median_seconds(fn, rounds: int = 7) -> float:
    return statistics.median(measure(fn, rounds=rounds))


def flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def peak_gflops() -> tuple[float, str]:
    """One core's fp32 peak and how it was derived."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    mhz = next((float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")), float("nan"))
    lanes, isa = (16, "AVX-512") if " avx512f" in flags else (8, "AVX2") if " avx2" in flags else (4, "SSE")
    per_cycle = 2 * lanes * 2
    return per_cycle * mhz / 1000, f"2 FMA units x {lanes} fp32 lanes ({isa}) x 2 FLOPs x {mhz / 1000:.2f} GHz = {per_cycle} FLOP/cycle"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, help="a cold run's records.json")
    args = parser.parse_args()
    doc = json.loads(args.records.read_text())
    profile = get_profile(doc["profile"]["name"])
    trained = [f for f in doc["fixtures"] if f.get("trained_now")]
    if not trained:
        sys.exit(f"{args.records}: no network was trained in that run; give a cold run's records")
    torch.set_num_threads(1)  # training runs on one thread (fixtures/training.py); time it so
    workers = doc["environment"].get("workers", 1)
    seeds = len(doc["profile"]["seeds"])

    # per architecture and task: one optimisation step and one validation evaluation, on one thread
    step_s, eval_s, step_flops, eval_flops = {}, {}, {}, {}
    val = make_split("shapes", "val", n=profile.n_val, size=profile.image_size, data_seed=profile.data_seed)
    train = make_split("shapes", "train", n=profile.n_train, size=profile.image_size, data_seed=profile.data_seed)
    cpu = torch.device("cpu")
    for arch in ("unet", "pspnet"):
        for task in ("seg", "ae"):
            model = build(FixtureSpec(arch, task, "shapes", 0), profile).train()
            opt = make_optimiser(profile.optimizer, model.parameters(), lr=profile.lr, momentum=profile.momentum)
            images, targets = train.images[: profile.batch_size], train.targets(task)[: profile.batch_size]
            step = lambda: train_step(model, opt, task, images, targets)  # noqa: E731
            step_s[arch, task], step_flops[arch, task] = median_seconds(step), flops(step)
            model.eval()
            evaluate = lambda: evaluate_per_image(model, task, val.images, val.targets(task), batch_size=profile.eval_batch_size, device=cpu)  # noqa: E731
            eval_s[arch, task] = median_seconds(evaluate)
            with torch.inference_mode():
                eval_flops[arch, task] = flops(lambda: model(val.images[: profile.eval_batch_size]))

    rows = {"full trainings: steps": 0.0, "full trainings: validation": 0.0, "fine-tunes: steps": 0.0,
            "fine-tunes: validation": 0.0}
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
    measured = sum(r.get("seconds") or 0.0 for r in doc["records"] if r["kind"] == "case")
    rows["replacement measurements (evaluation)"] = measured
    total = doc["wall_seconds"] * workers
    rows["the rest (data, reference metrics, claims, start-up, idle)"] = max(total - sum(rows.values()), 0.0)

    print(f"{args.records}: profile {profile.name}, {len(trained)} networks trained, {workers} workers, "
          f"{doc['wall_seconds']:.0f} s wall = {total:.0f} core-seconds, {seeds} target seeds")
    print(f"{'part':<62} {'core-s':>8} {'per seed':>9} {'share':>6}")
    for name, seconds in rows.items():
        print(f"{name:<62} {seconds:8.0f} {seconds / seeds:9.0f} {100 * seconds / total:5.1f}%")
    print(f"{'(of the full trainings: the donor pool, seeds 100 + s)':<62} {pool:8.0f} {pool / seeds:9.0f} {100 * pool / total:5.1f}%")
    print()
    peak, how = peak_gflops()
    print(f"one core's fp32 peak: {peak:.0f} GFLOP/s ({how})")
    for (arch, task), seconds in sorted(step_s.items()):
        achieved = step_flops[arch, task] / seconds / 1e9
        ev = eval_flops[arch, task] * (profile.n_val / profile.eval_batch_size) / eval_s[arch, task] / 1e9
        print(f"{arch:>6} {task}: training step (batch {profile.batch_size}) {1000 * seconds:6.1f} ms, "
              f"{step_flops[arch, task] / 1e9:.2f} GFLOP, {achieved:5.1f} GFLOP/s ({100 * achieved / peak:4.1f}% of peak); "
              f"validation evaluation ({profile.n_val} images) {1000 * eval_s[arch, task]:6.1f} ms, {ev:5.1f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
