"""How good is the main job's estimate of the training time left? Run a job, timestamp every
progress line, and set each estimate beside the truth (when that worker's networks were ready).

    python scripts/progress_curve.py --log /tmp/cold.log -- ./dev main     # run it (a cold cache is the test)
    python scripts/progress_curve.py --read /tmp/cold.log                    # or read a log this script wrote

Prints per worker, for every estimate: minutes into the run, the estimate, the truth, and the
estimate over the truth; then the worst ratio once the first minutes are past.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

LEFT = re.compile(r"^(\d+\.\d+) \[(gw\d+)\] reusebench: worker \d+ of \d+: network (\d+) of its (\d+) ready .*about "
                  r"(\d+h \d+m|\d+m \d+s|\d+s) of training left")
READY = re.compile(r"^(\d+\.\d+) \[(gw\d+)\] reusebench: worker \d+ of \d+: all \d+ of its networks ready")
START = re.compile(r"^(\d+\.\d+) ")


def seconds(text: str) -> float:
    total = 0.0
    for value, unit in re.findall(r"(\d+)([hms])", text):
        total += int(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def run(command: list[str], log: Path) -> int:
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            out.write(f"{time.time():.3f} {line}")
            out.flush()
        return proc.wait()


def curve(log: Path, after_minutes: float) -> int:
    lines = log.read_text().splitlines()
    first = next((float(m.group(1)) for line in lines if (m := START.match(line))), None)
    if first is None:
        sys.exit(f"{log}: no timestamped line")
    ready = {m.group(2): float(m.group(1)) for line in lines if (m := READY.match(line))}
    worst = 0.0
    for worker in sorted(ready):
        print(f"{worker}: training done {(ready[worker] - first) / 60:.1f} min into the run")
        print(f"{'min':>6} {'network':>9} {'estimate':>9} {'truth':>8} {'ratio':>6}")
        for line in lines:
            m = LEFT.match(line)
            if not m or m.group(2) != worker:
                continue
            t = float(m.group(1))
            estimate, truth = seconds(m.group(5)), ready[worker] - t
            ratio = estimate / truth if truth > 0 else float("nan")
            if (t - first) / 60 >= after_minutes and truth > 60:
                worst = max(worst, abs(ratio - 1))
            print(f"{(t - first) / 60:6.1f} {m.group(3):>4}/{m.group(4):<4} {estimate / 60:8.1f}m {truth / 60:7.1f}m {ratio:6.2f}")
    print(f"\nworst |estimate / truth - 1| after minute {after_minutes:g} (while more than a minute was left): {worst:.0%}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, help="where to write the timestamped log of the command")
    parser.add_argument("--read", type=Path, help="read a log this script wrote instead of running a command")
    parser.add_argument("--after", type=float, default=3.0, help="judge the estimates from this minute on (default 3)")
    parser.add_argument("command", nargs="*", help="the job to run, after --")
    args = parser.parse_args()
    if args.read:
        return curve(args.read, args.after)
    if not args.command or not args.log:
        parser.error("give --log FILE -- COMMAND, or --read FILE")
    status = run(args.command, args.log)
    curve(args.log, args.after)
    return status


if __name__ == "__main__":
    sys.exit(main())
