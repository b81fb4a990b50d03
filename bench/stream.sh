#!/usr/bin/env bash
# Streaming benchmark, loopback only: C concurrent SSE chat streams, direct to the mock upstream and
# through Atalaya, in one run. Checks every stream got t0..t{N-1} in order then [DONE], and reports
# TTFB p50/p99 of each, the TTFB overhead of Atalaya, duration, chunks/s and Atalaya's max VmRSS.
# Prints a Markdown report and writes it to bench/results/stream-<date>.md.
#
# Usage: bench/stream.sh        (after bench/setup.sh and cargo build --release)
# Env:   CONCURRENCY=256  CHUNKS=200  CHUNK_DELAY_US=1000 (mock delay between chunks)  WARMUP_STREAMS=$CONCURRENCY
#        TIMEOUT=120 (s per stream)  MOCK_PORT=18080 ATALAYA_PORT=18081  BIN_DIR, FAKE_UPSTREAM_BIN, ATALAYA_BIN
# Exit status: 0 if every stream of both runs was received intact and in order, 1 otherwise.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

CONCURRENCY=${CONCURRENCY:-256}
CHUNKS=${CHUNKS:-200}
CHUNK_DELAY_US=${CHUNK_DELAY_US:-1000}
WARMUP_STREAMS=${WARMUP_STREAMS:-$CONCURRENCY} # a full warm-up round leaves the keep-alive connections open
TIMEOUT=${TIMEOUT:-120}
PY=$BENCH_HOME/venv/bin/python
[ -x "$PY" ] || die "$PY not found: run bench/setup.sh"

# Each side holds one socket per stream (two for Atalaya); make sure the fd limit is not the bottleneck.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((CONCURRENCY * 2 + 64)) ] \
  || log "warning: open-file limit $(ulimit -n) is low for $CONCURRENCY streams"

for b in "$FAKE_UPSTREAM_BIN" "$ATALAYA_BIN"; do
  [ -x "$b" ] || die "$b not found: run 'cargo build --release' first (or set BIN_DIR / FAKE_UPSTREAM_BIN / ATALAYA_BIN)"
done
need_free_port "$MOCK_PORT" MOCK_PORT
need_free_port "$ATALAYA_PORT" ATALAYA_PORT

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/stream-$stamp
mkdir -p "$work" "$RESULTS_DIR"
bench_traps

log "logs and raw results: $work"
start_mock "$work" --stream-chunks "$CHUNKS" --chunk-delay-us "$CHUNK_DELAY_US"
start_atalaya "$work"
sleep 1
rss_idle=$(rss_kb "$ATALAYA_PID")

bench() { # LABEL BASE_URL KEY
  "$PY" "$BENCH_DIR/stream_bench.py" --label "$1" --base-url "$2" --key "$3" --model "$MODEL" \
    -c "$CONCURRENCY" -n "$CHUNKS" --timeout "$TIMEOUT" --warmup "$WARMUP_STREAMS" \
    --json-out "$work/$1.json" >&2
}

status=0
log "direct: $CONCURRENCY streams x $CHUNKS chunks"
bench direct "http://127.0.0.1:$MOCK_PORT/v1" sk-mock || status=1

log "atalaya: $CONCURRENCY streams x $CHUNKS chunks"
bench atalaya "http://127.0.0.1:$ATALAYA_PORT/v1" "$ATALAYA_KEY" &
bpid=$!
BENCH_PIDS+=("$bpid")
rss_max=0
while kill -0 "$bpid" 2>/dev/null; do
  r=$(rss_kb "$ATALAYA_PID")
  if [ "${r:-0}" -gt "$rss_max" ]; then rss_max=$r; fi
  sleep 0.1
done
wait "$bpid" || status=1
forget_pid "$bpid"
rss_after=$(rss_kb "$ATALAYA_PID")
for f in direct atalaya; do [ -s "$work/$f.json" ] || die "stream_bench.py produced no result for $f"; done

report=$RESULTS_DIR/stream-$stamp.md
R_DATE=$(date -u '+%Y-%m-%d %H:%M UTC') R_HOST="$(nproc) CPUs, $(uname -sr)" R_GIT=$(git_rev) \
R_ATALAYA=$ATALAYA_BIN R_MOCK="$FAKE_UPSTREAM_BIN --stream-chunks $CHUNKS --chunk-delay-us $CHUNK_DELAY_US" \
R_WARMUP=$WARMUP_STREAMS R_RSS="$rss_idle $rss_max $rss_after" \
  "$PY" - "$work/direct.json" "$work/atalaya.json" <<'PYEOF' | tee "$report"
import json, os, sys
E = os.environ
d, a = (json.load(open(p)) for p in sys.argv[1:3])

def f(v, fmt="{:.2f}"):
    return "—" if v is None else fmt.format(v)

def diff(k):
    x, y = d["ttfb_ms"][k], a["ttfb_ms"][k]
    return "—" if x is None or y is None else "{:+.2f}".format(y - x)

def verdict(r):
    if r["streams_failed"] == 0:
        return "all in order"
    return "; ".join(f"{n} × {why}" for why, n in r["failure_reasons"])

def mib(k):
    return "—" if not k or k == "0" else f"{int(k) / 1024:.1f} MiB"

print(f"# Atalaya streaming benchmark — {E['R_DATE']}")
print()
print(f"- host: {E['R_HOST']}; client (Python asyncio + aiohttp) on the same host, loopback")
print(f"- Atalaya: `{E['R_ATALAYA']}` (git {E['R_GIT']}); upstream: `{E['R_MOCK']}`")
print(f"- {d['concurrency']} concurrent `stream: true` chat completions, released together after "
      f"{E['R_WARMUP']} warm-up streams; each must carry t0..t{d['chunks_per_stream'] - 1} in order, "
      "a finish_reason, then [DONE]")
print("- TTFB = request sent → first `data:` line; chunks/s = content chunks received by all streams ÷ wall time")
print()
print("| path | streams OK | failed | TTFB p50 ms | TTFB p99 ms | TTFB max ms | duration s | chunks/s | order check |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
for name, r in (("mock direct", d), ("**Atalaya**", a)):
    t = r["ttfb_ms"]
    print(f"| {name} | {r['streams_ok']} | {r['streams_failed']} | {f(t['p50'])} | {f(t['p99'])} | {f(t['max'])} "
          f"| {f(r['duration_s'], '{:.3f}')} | {f(r['chunks_per_s'], '{:.0f}')} | {verdict(r)} |")
print(f"| **TTFB added by Atalaya** | | | {diff('p50')} | **{diff('p99')}** | {diff('max')} | | | |")
print()
idle, peak, after = E["R_RSS"].split()
print(f"Atalaya VmRSS: idle {mib(idle)}, max during the streaming run {mib(peak)}, after {mib(after)}.")
PYEOF
log "written $report"
exit "$status"
