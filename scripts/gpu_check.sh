#!/usr/bin/env bash
# The GPU check: the paper profile on one GPU, then its figures (observation statuses,
# timings, where the report is). Needs a CUDA build of torch; everything else as for ./dev.
#
#   scripts/gpu_check.sh [pytest args]    e.g. scripts/gpu_check.sh --set steps=1000
#
# Environment: REUSEBENCH_CACHE_DIR (trained networks are kept there), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=${PYTHON:-python3}
"$py" - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device (torch %s); install a CUDA build" % torch.__version__)
print("gpu_check: torch %s on %s" % (torch.__version__, torch.cuda.get_device_name(0)))
PY
start=$(date +%s)
status=0
"$py" -m pytest benchmarks -q -p no:cacheprovider --reusebench-profile paper --device cuda -n "${WORKERS:-2}" "$@" || status=$?
echo "gpu_check: paper profile finished in $(( $(date +%s) - start )) s with exit code $status"
"$py" - <<'PY'
import json, pathlib
doc = json.loads(pathlib.Path("results/paper/records.json").read_text())
claims = [r for r in doc["records"] if r["kind"] == "claim"]
for obs in sorted({c["observation"] for c in claims}):
    held = [c for c in claims if c["observation"] == obs]
    print(f"  {obs}: holds in {sum(c['holds'] for c in held)}/{len(held)}")
for r in sorted((r for r in doc["records"] if r["kind"] == "timing"), key=lambda r: r["benchmark"]["name"]):
    print(f"  {r['benchmark']['name']:40s} median {r['benchmark']['stats']['median'] * 1e3:8.2f} ms")
print("  fixture training seconds:", {f["label"]: round(f["train_seconds"], 1) for f in doc["fixtures"]})
PY
echo "gpu_check: report in results/paper/report.md"
exit $status
