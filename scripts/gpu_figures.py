"""The GPU path's figures, measured in one run: achieved TFLOP/s against the device's peak,
and (optionally) the cold wall time of a whole profile and the precision check.

    python scripts/gpu_figures.py                          # throughput, paper profile, on the GPU
    python scripts/gpu_figures.py --precision bf16 --channels-last
    python scripts/gpu_figures.py --cold-run               # + the paper profile cold, end to end
    python scripts/gpu_figures.py --precision-check bf16   # + smoke fp32 vs bf16 against the GPU tolerance
    python scripts/gpu_figures.py --device cpu --profile smoke --steps 3   # the script's own check, on the CPU

Throughput: FLOPs of one training step (forward, loss, backward; torch.utils.flop_counter)
and of one evaluation batch, times the steps done per second, against the device's dense
peak for the precision (a table of known GPUs; "unknown" elsewhere). Convolutions dominate;
the optimiser's elementwise work is not counted, so training figures are a lower bound.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]

from reusebench.fixtures.accel import Acceleration, strict_fp32  # noqa: E402
from reusebench.fixtures.datasets import make_split  # noqa: E402
from reusebench.fixtures.store import FixtureSpec, build  # noqa: E402
from reusebench.fixtures.training import train_step  # noqa: E402
from reusebench.baseline import compare, from_records, load_tolerances  # noqa: E402
from reusebench.environment import device_name, resolve_device  # noqa: E402
from reusebench.profiles import get_profile  # noqa: E402

# Dense (no sparsity) peak TFLOP/s per precision, from the vendors' data sheets (SXM parts).
PEAKS = {
    "H200": {"fp32": 67, "tf32": 495, "bf16": 989},
    "H100": {"fp32": 67, "tf32": 495, "bf16": 989},
    "A100": {"fp32": 19.5, "tf32": 156, "bf16": 312},
    "L40S": {"fp32": 91.6, "tf32": 183, "bf16": 362},
}


def peak(name: str, precision: str) -> float | None:
    return next((p[precision] for gpu, p in PEAKS.items() if gpu in name), None)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def throughput(arch: str, profile, device: torch.device, accel: Acceleration, steps: int) -> dict:
    spec = FixtureSpec(arch, "seg", "shapes", 0)
    data = make_split("shapes", "train", n=max(profile.batch_size, profile.eval_batch_size), size=profile.image_size, data_seed=0)
    x, y = data.images[: profile.batch_size].to(device), data.masks[: profile.batch_size].to(device)
    model = build(spec, profile).to(device)
    step_model = accel.prepare(model)
    optimiser = torch.optim.Adam(model.parameters(), lr=profile.lr)
    xb, yb = accel.batch(x), accel.batch(y)
    model.train()
    with accel.training(device):
        with FlopCounterMode(display=False) as counter:
            train_step(step_model, optimiser, "seg", xb, yb)
        train_flops = counter.get_total_flops()
        for _ in range(3):  # warm-up (and compilation)
            train_step(step_model, optimiser, "seg", xb, yb)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            train_step(step_model, optimiser, "seg", xb, yb)
        sync(device)
        train_s = (time.perf_counter() - start) / steps
    accel.finish(model)
    model.eval()
    xe = data.images[: profile.eval_batch_size].to(device)
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            model(xe)
        eval_flops = counter.get_total_flops()
        model(xe)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            model(xe)
        sync(device)
        eval_s = (time.perf_counter() - start) / steps
    return {"train_tflops": train_flops / train_s / 1e12, "train_ms": train_s * 1e3, "eval_tflops": eval_flops / eval_s / 1e12, "eval_ms": eval_s * 1e3}


def main_job(profile: str, device: str, cache: Path, results: Path, extra: list[str]) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "-q", "-p", "no:cacheprovider", "--reusebench-profile", profile, "--device", device,
           "--cache-dir", str(cache), "--results-dir", str(results), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REUSEBENCH_", "PYTEST_"))}
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):  # 1: some observations do not hold; that is a result
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
        raise SystemExit(f"{' '.join(cmd)} failed ({result.returncode})")
    return seconds, json.loads((results / profile / "records.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per figure")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers of --cold-run and --precision-check")
    parser.add_argument("--workers-per-device", type=int, default=2)
    parser.add_argument("--cold-run", action="store_true", help="run the profile's main job from an empty cache and time it")
    parser.add_argument("--precision-check", choices=("tf32", "bf16"), help="smoke profile in fp32 and in this precision: claim values against the GPU tolerance")
    args = parser.parse_args()

    device = resolve_device(args.device)
    accel = Acceleration(args.precision, args.channels_last, args.compile).check(device)
    profile = get_profile(args.profile)
    if device.type == "cuda":
        strict_fp32()
    name = device_name(device)
    top = peak(name, args.precision) if device.type == "cuda" else None
    print(f"device: {name} ({device}); torch {torch.__version__}; profile {profile.name}; {accel}")
    print(f"peak (dense, {args.precision}): {f'{top:g} TFLOP/s' if top else 'unknown for this device'}")
    for arch in ("unet", "pspnet"):
        f = throughput(arch, profile, device, accel, args.steps)
        share = (lambda v: f" = {100 * v / top:.1f}% of peak") if top else (lambda v: "")
        print(f"{arch:7s} training  {f['train_ms']:8.2f} ms/step  {f['train_tflops']:7.3f} TFLOP/s{share(f['train_tflops'])}")
        print(f"{arch:7s} eval      {f['eval_ms']:8.2f} ms/batch {f['eval_tflops']:7.3f} TFLOP/s{share(f['eval_tflops'])}")
    gpu_flags = [f"--precision={args.precision}"] + ["--channels-last"] * args.channels_last + ["--compile"] * args.compile
    spread = ["-n", str(args.workers), "--workers-per-device", str(args.workers_per_device)] if args.workers else []
    with tempfile.TemporaryDirectory() as tmp:
        if args.cold_run:
            seconds, doc = main_job(profile.name, args.device, Path(tmp) / "cold", Path(tmp) / "cold-results", spread + gpu_flags)
            trained = sum(t["train_seconds"] for t in doc["trainings"])
            print(f"cold {profile.name} main job: {seconds:.0f} s wall ({len(doc['trainings'])} networks trained, {trained:.0f} s of training)")
        if args.precision_check:
            _, ref = main_job("smoke", args.device, Path(tmp) / "fp32", Path(tmp) / "fp32-results", spread)
            _, low = main_job("smoke", args.device, Path(tmp) / "low", Path(tmp) / "low-results", spread + [f"--precision={args.precision_check}"])
            tolerances = load_tolerances(ROOT / "benchmarks" / "tolerances.toml", "smoke", device.type)
            drifts, notes = compare(from_records(ref), from_records(low), tolerances)
            print(f"precision check (smoke, fp32 vs {args.precision_check}): {len(drifts)} values beyond the {device.type} tolerance, {len(notes)} notes")
            for d in drifts[:20]:
                print(f"  {d.row()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
