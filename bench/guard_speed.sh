#!/usr/bin/env bash
# Guard detectors' speed on one core: a 2 KB support message (en/es/pt, 8 entities) through
# every detector, N times, RUNS runs; prints each run's JSON and the medians.
#   ./bench/guard_speed.sh            # RUNS=3 N=20000
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
N="${N:-20000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
cargo build --release --locked -q -p atalaya-guard --example guard_bench
bin="$CARGO_TARGET_DIR/release/examples/guard_bench"
out="bench/results/guard-speed-$(date +%Y%m%d-%H%M).jsonl"
: > "$out"
for _ in $(seq "$RUNS"); do
  taskset -c 0 "$bin" "$N" | tee -a "$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda f: statistics.median(f(r) for r in rows)
print(f"medians of {len(rows)} runs ({sys.argv[1]}):")
print(f"  all detectors, 2 KB message: p50 {med(lambda r: r['all_detectors_us']['p50']):.0f} us, "
      f"p99 {med(lambda r: r['all_detectors_us']['p99']):.0f} us, {med(lambda r: r['all_detectors_mb_per_s']):.2f} MB/s")
print(f"  PII only: {med(lambda r: r['pii_mb_per_s']):.1f} MB/s ({med(lambda r: r['pii_us_per_message']):.0f} us/message)")
print(f"  injection only: {med(lambda r: r['injection_mb_per_s']):.1f} MB/s ({med(lambda r: r['injection_us_per_message']):.0f} us/message)")
PY
