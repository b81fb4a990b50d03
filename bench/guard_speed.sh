#!/usr/bin/env bash
# Guard detectors' speed on one core: a 2 KB support message (en/es/pt, 8 entities) through
# every detector, N times, RUNS runs; prints each run's JSON and the medians. Then the
# throughput of each detector over two corpora of support messages: our multilingual PII set
# (600 generated messages) and Banking77's test set (3,080 real customer messages, short).
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
corpora="bench/results/guard-corpora.tmp"
mkdir -p "$corpora"
python3 - "$corpora" <<'PY'
import csv, json, sys
out = sys.argv[1]
with open(f"{out}/multilingual.jsonl", "w") as f:
    for r in json.load(open("bench/guard/data/pii_multilingual.json")):
        f.write(json.dumps({"text": r["full_text"]}) + "\n")
with open(f"{out}/banking77.jsonl", "w") as f:
    for r in csv.DictReader(open("../shared/data/banking77/test.csv", newline="")):
        f.write(json.dumps({"text": r["text"]}) + "\n")
PY
for c in multilingual banking77; do
  for _ in $(seq "$RUNS"); do
    taskset -c 0 "$bin" 20 corpus "$corpora/$c.jsonl" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
corpus = [r for r in rows if "corpus" in r]
rows = [r for r in rows if "corpus" not in r]
med = lambda f: statistics.median(f(r) for r in rows)
print(f"medians of {len(rows)} runs ({sys.argv[1]}):")
print(f"  all detectors, 2 KB message: p50 {med(lambda r: r['all_detectors_us']['p50']):.0f} us, "
      f"p99 {med(lambda r: r['all_detectors_us']['p99']):.0f} us, {med(lambda r: r['all_detectors_mb_per_s']):.2f} MB/s")
print(f"  PII only: {med(lambda r: r['pii_mb_per_s']):.1f} MB/s ({med(lambda r: r['pii_us_per_message']):.0f} us/message)")
print(f"  injection only: {med(lambda r: r['injection_mb_per_s']):.1f} MB/s ({med(lambda r: r['injection_us_per_message']):.0f} us/message)")
for name in sorted({r["corpus"] for r in corpus}):
    rs = [r for r in corpus if r["corpus"] == name]
    m = lambda k: statistics.median(r[k] for r in rs)
    print(f"  corpus {name} ({rs[0]['texts']} texts, mean {rs[0]['mean_bytes']:.0f} B): "
          f"PII {m('pii_mb_per_s'):.1f} MB/s, injection {m('injection_mb_per_s'):.1f} MB/s")
PY
rm -rf "$corpora"
