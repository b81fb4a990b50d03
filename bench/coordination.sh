#!/usr/bin/env bash
# Shared limits' cost: gateway throughput and latency with the key's and tenant's rate limits,
# concurrency gates and budgets counted in Redis ([coordination] redis_url, a throwaway
# redis-server on loopback) against the same limits counted in the process. Same binary,
# same store key (limits far above the load: every check runs, none refuses), the two
# configurations alternated ROUNDS times (wrk -t2, CONNS connections, DURATION seconds each);
# medians and the per-round redis/local ratio. Writes bench/results/coordination-<date>.md.
#
# Usage: bench/coordination.sh   (after bench/setup.sh; builds what it needs in release mode)
# Env:   DURATION=10  WARMUP=2  ROUNDS=5  CONNS=64  THREADS=2  REDIS_PORT=18379
#        ATALAYA_BIN_OVERRIDE=path (use that binary, build nothing)
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
REDIS_PORT=${REDIS_PORT:-18379}
BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"Hello, how are you?"}]}'

command -v wrk >/dev/null || die "wrk not installed: run bench/setup.sh"
command -v redis-server >/dev/null || die "redis-server not installed: run scripts/setup.sh"
if [ -n "${ATALAYA_BIN_OVERRIDE:-}" ]; then
  ATALAYA_BIN=$ATALAYA_BIN_OVERRIDE
else
  (cd "$REPO_DIR" && cargo build --release -p atalaya -p atalaya-testkit --bins >/dev/null 2>&1) \
    || die "release build failed"
fi

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/coordination-$stamp
mkdir -p "$work" "$RESULTS_DIR"
bench_traps

need_free_port "$REDIS_PORT" REDIS_PORT
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  >"$work/redis.log" 2>&1 &
REDIS_PID=$!
BENCH_PIDS+=("$REDIS_PID")
for _ in $(seq 1 100); do port_busy "$REDIS_PORT" && break; sleep 0.05; done

start_mock "$work"
printf '[upstreams.mock]\nbase_url = "http://127.0.0.1:%s/v1"\n[models.%s]\ntargets = [{ upstream = "mock" }]\n' \
  "$MOCK_PORT" "$MODEL" >"$work/local.toml"
cp "$work/local.toml" "$work/redis.toml"
printf '[coordination]\nredis_url = "redis://127.0.0.1:%s"\n' "$REDIS_PORT" >>"$work/redis.toml"
limits=(--requests-per-minute 1000000000 --tokens-per-minute 1000000000000 --max-concurrent 100000
  --tokens-per-day 1000000000000000)
"$ATALAYA_BIN" tenants create bench "${limits[@]}" --config "$work/local.toml" --data-dir "$work/data" >/dev/null
KEY=$("$ATALAYA_BIN" keys create --tenant bench --name wrk "${limits[@]}" --config "$work/local.toml" \
  --data-dir "$work/data" | sed -n 's/.*"key": "\(atl_[^"]*\)".*/\1/p')
[ -n "$KEY" ] || die "could not create a key"
URL=http://127.0.0.1:$ATALAYA_PORT/v1/chat/completions

# CPU time (user + system, in clock ticks) a process has used so far.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TCK=$(getconf CLK_TCK)

# run MODE ROUND: Atalaya with MODE's limits, warmed up, measured; prints "rps p50_us p99_us
# cpu_atalaya cpu_redis cpu_upstream" (CPU in µs per request during the measured run)
run() {
  local mode=$1 round=$2 pid line
  need_free_port "$ATALAYA_PORT" ATALAYA_PORT
  ATALAYA__LOG__LEVEL=warn "$ATALAYA_BIN" serve --config "$work/$mode.toml" --data-dir "$work/data" \
    --listen "127.0.0.1:$ATALAYA_PORT" >"$work/atalaya-$mode-$round.log" 2>&1 &
  pid=$!
  BENCH_PIDS+=("$pid")
  wait_http "http://127.0.0.1:$ATALAYA_PORT/healthz" 30 "$pid" || die "atalaya ($mode) did not start"
  local auth=(-H "Authorization: Bearer $KEY")
  curl_local -sf -m 10 "${auth[@]}" -H 'Content-Type: application/json' -d "$BODY" "$URL" >/dev/null \
    || die "atalaya ($mode) does not answer"
  BENCH_BODY=$BODY wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" -s "$BENCH_DIR/lua/chat.lua" "$URL" "${auth[@]}" >/dev/null 2>&1 || true
  local a0 r0 m0 a1 r1 m1
  a0=$(ticks "$pid"); r0=$(ticks "$REDIS_PID"); m0=$(ticks "$MOCK_PID")
  BENCH_BODY=$BODY wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" -s "$BENCH_DIR/lua/chat.lua" "$URL" "${auth[@]}" \
    >"$work/wrk-$mode-$round.txt" 2>&1 || true
  a1=$(ticks "$pid"); r1=$(ticks "$REDIS_PID"); m1=$(ticks "$MOCK_PID")
  line=$(grep '^BENCH ' "$work/wrk-$mode-$round.txt" | tail -1)
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
  local errs=$(( $(kv "$line" err_status) + $(kv "$line" err_connect) + $(kv "$line" err_timeout) ))
  [ "$errs" = 0 ] || log "$mode round $round: $errs errors (see $work/wrk-$mode-$round.txt)"
  local n; n=$(kv "$line" requests)
  per() { awk -v t="$1" -v n="$n" -v hz="$TCK" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }'; }
  echo "$(kv "$line" rps) $(kv "$line" p50_us) $(kv "$line" p99_us) $(per $((a1 - a0))) $(per $((r1 - r0))) $(per $((m1 - m0)))"
}

declare -a L_RPS R_RPS L_P99 R_P99 L_P50 R_P50 RATIOS L_CPU R_CPU R_RCPU L_MCPU R_MCPU
for r in $(seq 1 "$ROUNDS"); do
  # Alternate which mode runs first.
  if [ $((r % 2)) = 1 ]; then order=(local redis); else order=(redis local); fi
  for mode in "${order[@]}"; do
    read -r rps p50 p99 cpu rcpu mcpu < <(run "$mode" "$r")
    if [ "$mode" = local ]; then
      L_RPS+=("$rps"); L_P50+=("$p50"); L_P99+=("$p99"); L_CPU+=("$cpu"); L_MCPU+=("$mcpu")
    else
      R_RPS+=("$rps"); R_P50+=("$p50"); R_P99+=("$p99"); R_CPU+=("$cpu"); R_RCPU+=("$rcpu"); R_MCPU+=("$mcpu")
    fi
    log "round $r $mode: $rps req/s, p50 $p50 us, p99 $p99 us; CPU us/request: atalaya $cpu, redis $rcpu, upstream $mcpu"
  done
  RATIOS+=("$(awk -v a="${R_RPS[-1]}" -v b="${L_RPS[-1]}" 'BEGIN { printf "%.3f", a / b }')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }

report=$RESULTS_DIR/coordination-$stamp.md
{
  echo "## Shared limits: Redis vs in-process ($stamp, $(git_rev), $(nproc) cores)"
  echo
  echo "wrk -t$THREADS -c$CONNS -d${DURATION}s, modes alternated over $ROUNDS rounds; one key of one tenant, every limit kind on:"
  echo
  echo "| round | local req/s | redis req/s | redis/local | local p50 ms | redis p50 ms | local p99 ms | redis p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for i in $(seq 0 $((ROUNDS - 1))); do
    printf '| %d | %.0f | %.0f | %s | %s | %s | %s | %s |\n' $((i + 1)) "${L_RPS[$i]}" "${R_RPS[$i]}" "${RATIOS[$i]}" \
      "$(ms "${L_P50[$i]}")" "$(ms "${R_P50[$i]}")" "$(ms "${L_P99[$i]}")" "$(ms "${R_P99[$i]}")"
  done
  printf '| **median** | %.0f | %.0f | **%s** | %s | %s | %s | %s |\n' "$(median "${L_RPS[@]}")" "$(median "${R_RPS[@]}")" \
    "$(median "${RATIOS[@]}")" "$(ms "$(median "${L_P50[@]}")")" "$(ms "$(median "${R_P50[@]}")")" \
    "$(ms "$(median "${L_P99[@]}")")" "$(ms "$(median "${R_P99[@]}")")"
  echo
  echo "CPU time per request during the measured runs (µs, from /proc/PID/stat; medians of rounds):"
  echo
  echo "| | Atalaya | Redis | fake upstream |"
  echo "|---|---:|---:|---:|"
  echo "| in-process limits | $(median "${L_CPU[@]}") | – | $(median "${L_MCPU[@]}") |"
  echo "| Redis limits | $(median "${R_CPU[@]}") | $(median "${R_RCPU[@]}") | $(median "${R_MCPU[@]}") |"
} | tee "$report"
log "report: $report"
