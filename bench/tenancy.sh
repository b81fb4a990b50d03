#!/usr/bin/env bash
# Tenancy benchmarks, loopback only. In one run:
#   1. in-process: authentication + admission (rate limits, concurrency, budgets) + settlement
#      per request (p50/p99/p99.9), audit append rate, `audit verify` over ENTRIES entries
#      (the tenancy_bench example, release build);
#   2. gateway throughput with authentication and rate limiting on vs off: the same binary
#      and mock upstream, the two configurations alternated ROUNDS times (wrk -t2, CONNS
#      connections, DURATION seconds each); medians and the on/off ratio of each round.
# Prints a Markdown report and writes it to bench/results/tenancy-<date>.md.
#
# Usage: bench/tenancy.sh     (after bench/setup.sh; builds what it needs in release mode)
# Env:   N=200000 requests in-process   ENTRIES=1000000 audit entries
#        DURATION=10  WARMUP=2  ROUNDS=3  CONNS=64  THREADS=2
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

N=${N:-200000}
ENTRIES=${ENTRIES:-1000000}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"Hello, how are you?"}]}'

command -v wrk >/dev/null || die "wrk not installed: run bench/setup.sh"
# Two builds: `--example` would restrict one build to example targets, leaving the binaries stale.
(cd "$REPO_DIR" && cargo build --release -p atalaya -p atalaya-testkit --bins >/dev/null 2>&1 \
  && cargo build --release -p atalaya-tenancy --example tenancy_bench >/dev/null 2>&1) \
  || die "release build failed"
EXAMPLE=$BIN_DIR/examples/tenancy_bench

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/tenancy-$stamp
mkdir -p "$work" "$RESULTS_DIR"
bench_traps

log "in-process: $EXAMPLE $N $ENTRIES"
"$EXAMPLE" "$N" "$ENTRIES" | tee "$work/inprocess.txt"

# ---------------------------------------------------------------- HTTP on vs off
start_mock "$work"
cat >"$work/off.toml" <<EOF
[auth]
enabled = false
[upstreams.mock]
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[models.$MODEL]
targets = [{ upstream = "mock" }]
EOF
# On: a store key of a tenant, with key and tenant limits far above the load (every check
# runs, none refuses), and the audit log signed.
sed 's/^enabled = false$/enabled = true/' "$work/off.toml" >"$work/on.toml"
printf '[audit]\nsigning_key = "env:BENCH_SIGNING_KEY"\n' >>"$work/on.toml"
export BENCH_SIGNING_KEY=0123456789abcdef0123456789abcdef-bench
limits=(--requests-per-minute 1000000000 --tokens-per-minute 1000000000000 --max-concurrent 100000
  --tokens-per-day 1000000000000000)
"$ATALAYA_BIN" tenants create bench "${limits[@]}" --config "$work/on.toml" --data-dir "$work/data-on" >/dev/null
KEY=$("$ATALAYA_BIN" keys create --tenant bench --name wrk "${limits[@]}" --config "$work/on.toml" \
  --data-dir "$work/data-on" | sed -n 's/.*"key": "\(atl_[^"]*\)".*/\1/p')
[ -n "$KEY" ] || die "could not create a key"

URL=http://127.0.0.1:$ATALAYA_PORT/v1/chat/completions

# run MODE ROUND: start Atalaya in MODE, warm up, measure; prints "rps p99_us"
run() {
  local mode=$1 round=$2 pid line
  need_free_port "$ATALAYA_PORT" ATALAYA_PORT
  ATALAYA__LOG__LEVEL=warn "$ATALAYA_BIN" serve --config "$work/$mode.toml" --data-dir "$work/data-$mode" \
    --listen "127.0.0.1:$ATALAYA_PORT" >"$work/atalaya-$mode-$round.log" 2>&1 &
  pid=$!
  BENCH_PIDS+=("$pid")
  wait_http "http://127.0.0.1:$ATALAYA_PORT/healthz" 30 "$pid" || die "atalaya ($mode) did not start"
  local auth=(-H "Authorization: Bearer $KEY")
  curl_local -sf -m 10 "${auth[@]}" -H 'Content-Type: application/json' -d "$BODY" "$URL" >/dev/null \
    || die "atalaya ($mode) does not answer"
  BENCH_BODY=$BODY wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/lua/chat.lua" "$URL" "${auth[@]}" >/dev/null 2>&1 || true
  BENCH_BODY=$BODY wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$BENCH_DIR/lua/chat.lua" "$URL" "${auth[@]}" \
    >"$work/wrk-$mode-$round.txt" 2>&1 || true
  line=$(grep '^BENCH ' "$work/wrk-$mode-$round.txt" | tail -1)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
  local errs=$(( $(kv "$line" err_status) + $(kv "$line" err_connect) + $(kv "$line" err_timeout) ))
  [ "$errs" = 0 ] || log "$mode round $round: $errs errors (see $work/wrk-$mode-$round.txt)"
  echo "$(kv "$line" rps) $(kv "$line" p99_us)"
}

declare -a OFF_RPS ON_RPS OFF_P99 ON_P99 RATIOS
for r in $(seq 1 "$ROUNDS"); do
  read -r rps p99 < <(run off "$r")
  OFF_RPS+=("$rps"); OFF_P99+=("$p99")
  log "round $r off: $rps req/s, p99 $p99 us"
  read -r rps p99 < <(run on "$r")
  ON_RPS+=("$rps"); ON_P99+=("$p99")
  log "round $r on:  $rps req/s, p99 $p99 us"
  RATIOS+=("$(awk -v a="${ON_RPS[-1]}" -v b="${OFF_RPS[-1]}" 'BEGIN { printf "%.3f", a / b }')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

report=$RESULTS_DIR/tenancy-$stamp.md
{
  echo "## Tenancy ($stamp, $(git_rev), $(nproc) cores)"
  echo
  echo '```'
  echo "\$ $EXAMPLE $N $ENTRIES"
  cat "$work/inprocess.txt"
  echo '```'
  echo
  echo "Gateway throughput, wrk -t$THREADS -c$CONNS -d${DURATION}s, alternated $ROUNDS times:"
  echo
  echo "| round | off req/s | on req/s | on/off | off p99 ms | on p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|"
  for i in $(seq 0 $((ROUNDS - 1))); do
    printf '| %d | %.0f | %.0f | %s | %.2f | %.2f |\n' $((i + 1)) "${OFF_RPS[$i]}" "${ON_RPS[$i]}" "${RATIOS[$i]}" \
      "$(awk -v u="${OFF_P99[$i]}" 'BEGIN { print u / 1000 }')" "$(awk -v u="${ON_P99[$i]}" 'BEGIN { print u / 1000 }')"
  done
  printf '| **median** | %.0f | %.0f | **%s** | | |\n' "$(median "${OFF_RPS[@]}")" "$(median "${ON_RPS[@]}")" "$(median "${RATIOS[@]}")"
} | tee "$report"
log "report: $report"
