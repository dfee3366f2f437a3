#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Cross-checks `tconv bench` against tconv_harness, which shares no code with it: for each thread
# count and layout, the bench's tconv / oneDNN (plain) ratio per layer must agree with the one the
# harness measures through tconv's C API and its own oneDNN code, within TOLERANCE. A benchmark,
# not a unit test: run it on a quiet machine, and repeat a disagreement before trusting it.
#
#   scripts/bench_check.sh [BUILD_DIR]     (default: build)
#
# Environment: CONFIGS (config files or directories), THREADS ("1 2"), LAYOUTS
# ("channels_first channels_last"), MIN_TIME (seconds of runs per contender, 0.3), TOLERANCE (0.15).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
configs=${CONFIGS:-"$top/configs/dcgan.json $top/configs/fsrcnn.json $top/configs/hifigan.json"}
threads=${THREADS:-"1 2"}
layouts=${LAYOUTS:-"channels_first channels_last"}
min_time=${MIN_TIME:-0.3}
tolerance=${TOLERANCE:-0.15}

for exe in tconv tconv_harness; do
  [ -x "$build/$exe" ] || { echo "bench_check: $build/$exe not built" >&2; exit 2; }
done
json=$(mktemp --suffix=.json)
trap 'rm -f "$json"' EXIT

status=0
for t in $threads; do
  for layout in $layouts; do
    echo "== $t thread(s), $layout"
    # word splitting of $configs is intended: a list of paths
    # shellcheck disable=SC2086
    "$build/tconv" bench $configs --threads "$t" --layout "$layout" --min-time "$min_time" \
      --json "$json" >/dev/null
    # shellcheck disable=SC2086
    "$build/tconv_harness" $configs --threads "$t" --layout "$layout" --min-time "$min_time" \
      --against "$json" --tolerance "$tolerance" || status=1
  done
done
exit $status
