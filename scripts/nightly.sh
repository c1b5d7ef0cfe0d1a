#!/usr/bin/env bash
# One nightly run of $PROFILE: record its baseline, derive its tolerances, or compare with both
# (scripts/nightly_mode.py decides), then report the run time against $LIMIT_MINUTES.
# Usage: PROFILE=paper LIMIT_MINUTES=240 scripts/nightly.sh DEVICE_TYPE [pytest args] [--force-record]
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
device=${1:?usage: scripts/nightly.sh DEVICE_TYPE [pytest args]}; shift
profile=${PROFILE:?set PROFILE}
args=()
force=0
for a in "$@"; do [ "$a" = --force-record ] && force=1 || args+=("$a"); done
mode=$(python scripts/nightly_mode.py "$profile" "$device") || exit 2
[ "$force" = 1 ] && mode=record
case "$mode" in
    # on the CPU, a baseline per CPU model (scripts/nightly_mode.py)
    record) flags=(--update-baseline); [ "$device" = cpu ] && flags+=(--machine-baseline) ;;
    # the second run from an empty cache: its networks are trained anew, so the spread between
    # the two runs is the hardware's run-to-run spread (a warm cache would give zero)
    derive) flags=(--cache-dir="$(mktemp -d)") ;;
    compare) flags=(--compare-baseline) ;;
    *) echo "nightly: unexpected mode '$mode'" >&2; exit 2 ;;
esac
echo "nightly: $profile on $device: $mode"
start=$(date +%s)
python -m pytest benchmarks --dist loadgroup --reusebench-profile "$profile" --cache-prune "${flags[@]}" "${args[@]}"
status=$?
minutes=$(( ($(date +%s) - start + 59) / 60 ))
line="nightly: $profile ($mode) took $minutes min of the ${LIMIT_MINUTES:-?}-minute limit; exit code $status"
echo "$line"
[ -n "${GITHUB_STEP_SUMMARY:-}" ] && echo "$line" >> "$GITHUB_STEP_SUMMARY"
if [ -n "${LIMIT_MINUTES:-}" ] && [ $(( minutes * 100 )) -gt $(( LIMIT_MINUTES * 80 )) ]; then
    echo "::warning::the $profile run took $minutes min, over 80% of its ${LIMIT_MINUTES}-minute limit"
fi
if [ "$mode" = derive ] && [ "$status" -eq 0 ]; then
    baseline=$(python -c "import sys, torch; from reusebench.baseline import baseline_path; from reusebench.environment import cpu_model; print(baseline_path('results/baselines', sys.argv[1], str(torch.__version__), cpu_model() if sys.argv[2] == 'cpu' else None))" "$profile" "$device")
    python scripts/derive_tolerances.py --toml "$baseline" "results/$profile/records.json" > "tolerances-$profile.toml" || status=1
    echo "nightly: tolerances derived from two runs in tolerances-$profile.toml (commit them to benchmarks/tolerances.toml)"
    cat "tolerances-$profile.toml"
fi
exit "$status"
