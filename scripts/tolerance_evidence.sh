#!/usr/bin/env bash
# Gather the evidence behind benchmarks/tolerances.toml on a machine with a GPU: the smoke
# profile from scratch on its CPU (another CPU than the CI machine's) and twice on its GPU
# (GPU kernels are not deterministic). Records land in DIR as <name>-records.json; then
#   python scripts/derive_tolerances.py results/smoke/records.json DIR/*.json
# Usage: [PROFILE=paper] [CPU_WORKERS=8] scripts/tolerance_evidence.sh DIR
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:?usage: scripts/tolerance_evidence.sh DIR}
mkdir -p "$out"
py=${PYTHON:-python3}
run() {  # name device workers
    local tmp; tmp=$(mktemp -d)
    local start; start=$(date +%s)
    "$py" -m pytest benchmarks -q -p no:cacheprovider --reusebench-profile "$profile" --device "$2" -n "$3" --cache-dir "$tmp/cache" --results-dir "$tmp/results" > "$tmp/log" 2>&1
    echo "$1: exit $? in $(( $(date +%s) - start )) s: $(tail -n 2 "$tmp/log" | head -n 1)"
    cp "$tmp/results/$profile/records.json" "$out/$1-records.json"
    [ -f "$tmp/results/$profile/benchmark.json" ] && cp "$tmp/results/$profile/benchmark.json" "$out/$1-benchmark.json"
}
profile=${PROFILE:-smoke}
run cpu cpu "${CPU_WORKERS:-8}"
run gpu1 cuda 2
run gpu2 cuda 2
