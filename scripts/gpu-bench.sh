#!/bin/bash
# Runs the benchmarks on this workplace's GPU machine (see scripts/gpu-payload.sh, which packs
# .gpu/; the Vulkan loader travels as .gl/*.deb, per the device tool's README). Everything it
# prints and writes lands in $OUT: machine.log, m1.log + m1/ (the suite), m8.log + m8/ (8 vectors), llm.log.
#   run: bash scripts/gpu-bench.sh [bench args…]     (carry: .gpu .gl)
set -u
cd "$(dirname "$0")/.."
source scripts/gpu-env.sh
# The benchmark suite (default preset on a GPU: full), then stories260K generation.
bench() { # bench NAME TIMEOUT ARGS…: $OUT/NAME.log and $OUT/NAME/ (the HTML is left out: the
  # device tool brings back 8 files; render it from the JSON with bench/report.ts)
  local name=$1 limit=$2; shift 2
  timeout "$limit" node .gpu/run.mjs --runtime node --out "$OUT/$name" "$@" 2>&1 | tee "$OUT/$name.log"
  echo "exit ${PIPESTATUS[0]}" | tee -a "$OUT/$name.log"
  rm -f "$OUT/$name"/*.html
}
bench m1 300 "$@"
bench m8 100 --shapes 4096x4096,14336x4096,4096x14336 --vectors 8 "$@"
rm -f "$OUT"/m8/calibration-*
timeout 45 node .gpu/llm.mjs 128 2>&1 | tee "$OUT/llm.log"
echo "llm exit ${PIPESTATUS[0]}" | tee -a "$OUT/llm.log"
