#!/bin/bash
# Stream-layout sweep on this workplace's GPU machine: the suite's kernels at each target lane
# length (--lane-symbols) and tile width (--tile-lanes). One log, $OUT/sweep.log.
#   run: bash scripts/gpu-layout-sweep.sh SHAPES "SYMBOLS…" "TILE_LANES…" [bench args…]   (carry: .gpu .gl)
set -u
cd "$(dirname "$0")/.."
source scripts/gpu-env.sh
shapes=$1 symbols=$2 tiles=$3
shift 3
for t in $tiles; do
  for s in $symbols; do
    echo "=== lane-symbols $s tile-lanes $t" | tee -a "$OUT/sweep.log"
    timeout 90 node .gpu/run.mjs --runtime node --out /tmp/sweep --shapes "$shapes" --lane-symbols "$s" --tile-lanes "$t" "$@" 2>/dev/null | grep -v '^wrote' | tee -a "$OUT/sweep.log"
  done
done
