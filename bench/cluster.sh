#!/usr/bin/env bash
# Cluster figures (docs/BENCHMARKS.md "Scale-out"): revocation propagation over REVOCATIONS
# revocations (p50/p99/max), and the aggregate throughput of 1, 2 and 3 replicas behind nginx
# on one Postgres and one Redis (wrk -t2 -c64, ROUNDS interleaved rounds of DURATION seconds),
# with each part's CPU time per request. The same harness as tests/cluster/run.sh, in its
# --bench mode, on release builds. JSON lines in bench/results/cluster-<date>.jsonl.
# Env: REVOCATIONS=100 ROUNDS=3 DURATION=10
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/cluster-$(date -u +%Y%m%d-%H%M).jsonl"
PROFILE=release ./tests/cluster/run.sh --bench --revocations "${REVOCATIONS:-100}" --rounds "${ROUNDS:-3}" \
  --duration "${DURATION:-10}" | tee "$out"
echo "results: $out" >&2
