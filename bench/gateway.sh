#!/usr/bin/env bash
# Gateway throughput benchmark, loopback only. In one run:
#   1. closed-loop throughput (wrk -t2, 16 and 64 connections) of the mock upstream direct, through
#      Atalaya, and through the peers LiteLLM and Portkey: req/s, p50, p99, Atalaya/direct, Atalaya/peer
#   2. latency added by Atalaya at a fixed request rate (default 2,000 req/s): direct vs Atalaya
#   3. Atalaya resident memory (VmRSS): idle, max during the highest-connection run, after load
# Prints a Markdown report and writes it to bench/results/gateway-<date>.md.
#
# Usage: bench/gateway.sh        (after bench/setup.sh and cargo build --release)
# Env:   DURATION=20  seconds per measured run      WARMUP=3   seconds of warm-up per target
#        CONNS="16 64"  THREADS=2  RATE=2000  RATE_CONNS=32  SKIP_PEERS=1 (no LiteLLM/Portkey)
#        LITELLM_WORKERS=1  MOCK_PORT=18080 ATALAYA_PORT=18081 LITELLM_PORT=14000 PORTKEY_PORT=18787
#        BIN_DIR (default ${CARGO_TARGET_DIR:-target}/release), FAKE_UPSTREAM_BIN, ATALAYA_BIN
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-16 64}
THREADS=${THREADS:-2}
RATE=${RATE:-2000}
RATE_CONNS=${RATE_CONNS:-32}
SKIP_PEERS=${SKIP_PEERS:-0}
LITELLM_PORT=${LITELLM_PORT:-14000}
LITELLM_WORKERS=${LITELLM_WORKERS:-1}
PORTKEY_PORT=${PORTKEY_PORT:-18787}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
BODY='{"model":"mock-gpt","messages":[{"role":"user","content":"Hello, how are you?"}]}'

command -v wrk >/dev/null || die "wrk not installed: run bench/setup.sh"
read -r -a conns_list <<<"$CONNS"
max_conns=0
for c in "${conns_list[@]}"; do
  if [ "$c" -gt "$max_conns" ]; then max_conns=$c; fi
done

# Preflight, so a run does not fail half-way.
for b in "$FAKE_UPSTREAM_BIN" "$ATALAYA_BIN"; do
  [ -x "$b" ] || die "$b not found: run 'cargo build --release' first (or set BIN_DIR / FAKE_UPSTREAM_BIN / ATALAYA_BIN)"
done
need_free_port "$MOCK_PORT" MOCK_PORT
need_free_port "$ATALAYA_PORT" ATALAYA_PORT

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/gateway-$stamp
mkdir -p "$work" "$RESULTS_DIR"
bench_traps

# ---------------------------------------------------------------- helpers
ms() { awk -v u="$1" 'BEGIN { if (u == "") print "—"; else printf "%.2f", u / 1000 }'; }
signed_ms() { awk -v u="$1" 'BEGIN { printf "%+.2f", u / 1000 }'; }
errs() {
  local l=$1 e=0 k v
  for k in err_connect err_read err_write err_timeout err_status; do
    v=$(kv "$l" $k)
    e=$((e + ${v:-0}))
  done
  echo "$e"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "—"; else printf "%.2f", a / b }'; }

# check NAME URL [curl args]: one request must return 200 with a chat.completion body
check() {
  local name=$1 url=$2 out code; shift 2
  out=$(curl_local -m 30 -w '\n%{http_code}' -H 'Content-Type: application/json' "$@" -d "$BODY" "$url") || true
  code=${out##*$'\n'}
  if [ "$code" != 200 ] || ! grep -q '"choices"' <<<"$out"; then
    log "$name: sanity request failed (HTTP $code): $(head -c 300 <<<"${out%$'\n'*}")"
    return 1
  fi
}

# wrk_run OUTFILE SCRIPT CONNS SECONDS URL [wrk args...] [-- script args]: prints the BENCH line
wrk_run() {
  local out=$1 script=$2 c=$3 d=$4 url=$5; shift 5
  wrk -t"$THREADS" -c"$c" -d"${d}s" --timeout "$WRK_TIMEOUT" -s "$BENCH_DIR/lua/$script" "$url" "$@" >"$out" 2>&1 || true
  grep '^BENCH ' "$out" | tail -1 || true
}

declare -A R # R[name,conns] = BENCH line
ATALAYA_RSS_MAX=

# measure NAME URL [wrk -H args...]: warm-up, then one closed-loop run per connection count
measure() {
  local name=$1 url=$2 c line wpid max r; shift 2
  log "$name: warm-up ${WARMUP}s"
  wrk_run "$work/warmup-$name.txt" chat.lua "${conns_list[0]}" "$WARMUP" "$url" "$@" >/dev/null
  for c in "${conns_list[@]}"; do
    log "$name: wrk -t$THREADS -c$c -d${DURATION}s"
    if [ "$name" = atalaya ] && [ "$c" = "$max_conns" ]; then
      # sample Atalaya's VmRSS while this run goes on
      wrk -t"$THREADS" -c"$c" -d"${DURATION}s" --timeout "$WRK_TIMEOUT" -s "$BENCH_DIR/lua/chat.lua" \
        "$url" "$@" >"$work/wrk-$name-c$c.txt" 2>&1 &
      wpid=$!
      BENCH_PIDS+=("$wpid")
      max=0
      while kill -0 "$wpid" 2>/dev/null; do
        r=$(rss_kb "$ATALAYA_PID")
        if [ "${r:-0}" -gt "$max" ]; then max=$r; fi
        sleep 0.2
      done
      wait "$wpid" || true
      forget_pid "$wpid"
      ATALAYA_RSS_MAX=$max
      line=$(grep '^BENCH ' "$work/wrk-$name-c$c.txt" | tail -1 || true)
    else
      line=$(wrk_run "$work/wrk-$name-c$c.txt" chat.lua "$c" "$DURATION" "$url" "$@")
    fi
    [ -n "$line" ] || log "$name c=$c: no result; see $work/wrk-$name-c$c.txt"
    R[$name,$c]=$line
    [ -z "$line" ] || log "$name c=$c: $(kv "$line" rps) req/s, p50 $(ms "$(kv "$line" p50_us)") ms, p99 $(ms "$(kv "$line" p99_us)") ms, errors $(errs "$line")"
  done
}

# ---------------------------------------------------------------- run
DIRECT_URL=http://127.0.0.1:$MOCK_PORT/v1/chat/completions
ATALAYA_URL=http://127.0.0.1:$ATALAYA_PORT/v1/chat/completions
LITELLM_URL=http://127.0.0.1:$LITELLM_PORT/v1/chat/completions
PORTKEY_URL=http://127.0.0.1:$PORTKEY_PORT/v1/chat/completions
PORTKEY_H=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: http://127.0.0.1:$MOCK_PORT/v1"
  -H "Authorization: Bearer sk-mock")

log "logs and raw wrk output: $work"
start_mock "$work"
check direct "$DIRECT_URL" -H "Authorization: Bearer sk-mock" || die "mock upstream does not answer chat completions"
measure direct "$DIRECT_URL" -H "Authorization: Bearer sk-mock"

start_atalaya "$work"
sleep 1
ATALAYA_RSS_IDLE=$(rss_kb "$ATALAYA_PID")
check atalaya "$ATALAYA_URL" -H "Authorization: Bearer $ATALAYA_KEY" || die "atalaya does not answer chat completions"
measure atalaya "$ATALAYA_URL" -H "Authorization: Bearer $ATALAYA_KEY"

log "fixed rate $RATE req/s: direct, ${DURATION}s"
RATE_DIRECT=$(wrk_run "$work/rate-direct.txt" fixed_rate.lua "$RATE_CONNS" "$DURATION" "$DIRECT_URL" \
  -H "Authorization: Bearer sk-mock" -- "$RATE" "$THREADS")
log "fixed rate $RATE req/s: atalaya, ${DURATION}s"
RATE_ATALAYA=$(wrk_run "$work/rate-atalaya.txt" fixed_rate.lua "$RATE_CONNS" "$DURATION" "$ATALAYA_URL" \
  -H "Authorization: Bearer $ATALAYA_KEY" -- "$RATE" "$THREADS")
sleep 1
ATALAYA_RSS_AFTER=$(rss_kb "$ATALAYA_PID")

# Stop Atalaya before the peers run, so it does not take memory or CPU from them.
kill "$ATALAYA_PID" 2>/dev/null || true
wait "$ATALAYA_PID" 2>/dev/null || true
forget_pid "$ATALAYA_PID"

declare -A PEER_NOTE
peers=()
if [ "$SKIP_PEERS" != 1 ]; then
  peers=(litellm portkey)
  for p in "${peers[@]}"; do
    [ -x "$PEERS_DIR/$p.sh" ] || { PEER_NOTE[$p]="peer script not found in $PEERS_DIR"; continue; }
    if [ "$p" = litellm ]; then port=$LITELLM_PORT; else port=$PORTKEY_PORT; fi
    if port_busy "$port"; then PEER_NOTE[$p]="port $port already in use; skipped"; log "$p: ${PEER_NOTE[$p]}"; continue; fi
    log "$p: starting"
    t0=$(date +%s.%N)
    BENCH_PEERS_STARTED+=("$p")
    if [ "$p" = litellm ]; then
      "$PEERS_DIR/litellm.sh" start "http://127.0.0.1:$MOCK_PORT/v1" "$LITELLM_PORT" "$LITELLM_WORKERS" >"$work/$p-start.txt" 2>&1 || true
    else
      "$PEERS_DIR/portkey.sh" start "$PORTKEY_PORT" >"$work/$p-start.txt" 2>&1 || true
    fi
    if ! grep -q '^http://127.0.0.1' "$work/$p-start.txt"; then
      PEER_NOTE[$p]="failed to start: $(tail -1 "$work/$p-start.txt")"
      log "$p: ${PEER_NOTE[$p]}"
      "$PEERS_DIR/$p.sh" stop >/dev/null 2>&1 || true
      continue
    fi
    started=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    log "$p: up after ${started}s"
    if [ "$p" = litellm ]; then
      hdr=(-H "Authorization: Bearer $(cat "$PEERS_HOME/litellm/master-key")")
      url=$LITELLM_URL
      PEER_NOTE[$p]="LiteLLM (${LITELLM_WORKERS} worker), up in ${started}s"
    else
      hdr=("${PORTKEY_H[@]}")
      url=$PORTKEY_URL
      PEER_NOTE[$p]="Portkey, up in ${started}s"
    fi
    if check "$p" "$url" "${hdr[@]}"; then
      measure "$p" "$url" "${hdr[@]}"
    else
      PEER_NOTE[$p]="${PEER_NOTE[$p]}; sanity request failed"
    fi
    "$PEERS_DIR/$p.sh" stop >/dev/null 2>&1 || true
  done
fi

# ---------------------------------------------------------------- report
label() {
  case $1 in
    direct) echo "mock direct" ;; atalaya) echo "**Atalaya**" ;;
    litellm) echo "LiteLLM" ;; portkey) echo "Portkey" ;;
  esac
}
rate_row() {
  local name=$1 l=$2 late
  if [ -z "$l" ]; then echo "| $name | $RATE | — | — | — | — | — | no result |"; return; fi
  late=$(awk -v a="$(kv "$l" late)" -v b="$(kv "$l" slots)" 'BEGIN { printf "%.1f%%", b ? 100 * a / b : 0 }')
  echo "| $name | $RATE | $(kv "$l" rps) | $(ms "$(kv "$l" p50_us)") | $(ms "$(kv "$l" p90_us)") | $(ms "$(kv "$l" p99_us)") | $(errs "$l") | $late |"
}
mb() { awk -v k="$1" 'BEGIN { if (k == "" || k == 0) print "—"; else printf "%.1f MiB", k / 1024 }'; }

report=$RESULTS_DIR/gateway-$stamp.md
{
  echo "# Atalaya gateway benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- host: $(nproc) CPUs, $(uname -sr); load generator on the same host (loopback), so absolute numbers include client CPU contention"
  echo "- Atalaya: \`$ATALAYA_BIN\` (git $(git_rev)); upstream: \`$FAKE_UPSTREAM_BIN\`"
  echo "- load: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), \`-t$THREADS\`, ${DURATION}s per run after a ${WARMUP}s warm-up per target; request: \`POST /v1/chat/completions\` \`$BODY\`"
  echo
  echo "## Throughput (closed loop)"
  echo
  echo "| target | conns | req/s | p50 ms | p99 ms | errors | Atalaya req/s ÷ this |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for c in "${conns_list[@]}"; do
    a_rps=$(kv "${R[atalaya,$c]:-}" rps)
    for n in direct atalaya "${peers[@]}"; do
      l=${R[$n,$c]:-}
      if [ -z "$l" ]; then
        echo "| $(label "$n") | $c | — | — | — | — | ${PEER_NOTE[$n]:-no result} |"
        continue
      fi
      rps=$(kv "$l" rps)
      if [ "$n" = atalaya ]; then rel="—"; else rel=$(ratio "$a_rps" "$rps"); fi
      echo "| $(label "$n") | $c | $rps | $(ms "$(kv "$l" p50_us)") | $(ms "$(kv "$l" p99_us)") | $(errs "$l") | $rel |"
    done
  done
  echo
  echo "Atalaya ÷ direct below 1 is the share of the mock's throughput that survives the extra hop;"
  echo "Atalaya ÷ peer is how many times the peer's throughput Atalaya reaches."
  for p in "${peers[@]}"; do
    if [ -n "${PEER_NOTE[$p]:-}" ]; then echo "- $p: ${PEER_NOTE[$p]}"; fi
  done
  if [ "$SKIP_PEERS" = 1 ]; then echo "- peers skipped (SKIP_PEERS=1)"; fi
  echo
  echo "## Added latency at a fixed $RATE req/s"
  echo
  echo "wrk + \`bench/lua/fixed_rate.lua\` (paced schedule), \`-t$THREADS -c$RATE_CONNS\`, ${DURATION}s each."
  echo "\"late\" = sends that left more than 1 ms behind schedule (a sign of saturation; should be ~0%)."
  echo
  echo "| path | target req/s | achieved req/s | p50 ms | p90 ms | p99 ms | errors | late |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  rate_row "mock direct" "$RATE_DIRECT"
  rate_row "**Atalaya**" "$RATE_ATALAYA"
  if [ -n "$RATE_DIRECT" ] && [ -n "$RATE_ATALAYA" ]; then
    d50=$(( $(kv "$RATE_ATALAYA" p50_us) - $(kv "$RATE_DIRECT" p50_us) ))
    d90=$(( $(kv "$RATE_ATALAYA" p90_us) - $(kv "$RATE_DIRECT" p90_us) ))
    d99=$(( $(kv "$RATE_ATALAYA" p99_us) - $(kv "$RATE_DIRECT" p99_us) ))
    echo "| **added by Atalaya** | | | $(signed_ms "$d50") | $(signed_ms "$d90") | **$(signed_ms "$d99")** | | |"
  fi
  echo
  echo "## Atalaya memory (VmRSS)"
  echo
  echo "| idle, before load | max during the ${max_conns}-connection run | after load |"
  echo "|---:|---:|---:|"
  echo "| $(mb "$ATALAYA_RSS_IDLE") | $(mb "$ATALAYA_RSS_MAX") | $(mb "$ATALAYA_RSS_AFTER") |"
} | tee "$report"
log "written $report"
