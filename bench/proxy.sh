#!/usr/bin/env bash
# Atalaya against the practical limit of an HTTP proxy on this machine, and against a baseline
# binary (the previous commit), in interleaved rounds on loopback:
#   - nginx (Debian nginx-light): proxy_pass to the mock upstream with upstream keep-alive,
#     its default access log on;
#   - Atalaya as configured by default (authentication and tenancy on, access log at info,
#     written to a file);
#   - optionally BASE_BIN, another Atalaya binary, configured the same way.
# Each round runs wrk -t2 -c16 for DURATION seconds against each target in turn; the report
# gives each target's median req/s and the medians of the per-round ratios.
#
# Usage: bench/proxy.sh                  (after bench/setup.sh and cargo build --release)
# Env:   ROUNDS=5 DURATION=10 WARMUP=3 CONNS=16 THREADS=2
#        BASE_BIN=path/to/atalaya (the baseline; none = no A/B)   LOG_LEVEL=info
#        BASE_STORAGE=postgres: the baseline is this build (or BASE_BIN) with
#          [storage] backend = "postgres", on a throwaway PostgreSQL (bench/lib.sh
#          start_postgres): the Postgres backend against the embedded one in the same run
#        NGINX_PORT=18090 ATALAYA_PORT=18081 BASE_PORT=18082 MOCK_PORT=18080
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
LOG_LEVEL=${LOG_LEVEL:-info}
NGINX_PORT=${NGINX_PORT:-18090}
BASE_PORT=${BASE_PORT:-18082}
BASE_BIN=${BASE_BIN:-}
BASE_STORAGE=${BASE_STORAGE:-}
[ "$BASE_STORAGE" != postgres ] || BASE_BIN=${BASE_BIN:-$ATALAYA_BIN}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}

command -v wrk >/dev/null || die "wrk not installed: run bench/setup.sh"
[ -x "$NGINX_BIN" ] || die "nginx not installed: run bench/setup.sh"
for p in "$NGINX_PORT:NGINX_PORT" "$ATALAYA_PORT:ATALAYA_PORT"; do need_free_port "${p%%:*}" "${p#*:}"; done
[ -z "$BASE_BIN" ] || need_free_port "$BASE_PORT" BASE_PORT

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/proxy-$stamp
mkdir -p "$work" "$RESULTS_DIR"
bench_traps
log "logs and raw wrk output: $work"

start_mock "$work"

# nginx in the foreground of its own process (daemon off), its files under $work.
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 64; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
"$NGINX_BIN" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$work/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
BENCH_PIDS+=("$NGINX_PID")
wait_http "http://127.0.0.1:$NGINX_PORT/v1/models" 20 "$NGINX_PID" \
  || die "nginx did not come up; see $work/nginx/error.log"
log "nginx up on 127.0.0.1:$NGINX_PORT (pid $NGINX_PID)"

# start_gateway NAME BIN PORT: Atalaya with authentication and tenancy on, the access log at
# LOG_LEVEL into a file (the default output, stderr, redirected), its own data directory.
start_gateway() {
  mkdir -p "$work/$1"
  if [ "$1" = base ] && [ "$BASE_STORAGE" = postgres ]; then
    start_postgres
    export ATALAYA__STORAGE__BACKEND=postgres ATALAYA__STORAGE__URL=env:DATABASE_URL DATABASE_URL=$PG_URL
  fi
  ATALAYA__LOG__LEVEL=$LOG_LEVEL ATALAYA__SERVER__DATA_DIR=$work/$1/data start_atalaya "$work/$1" "$2" "$3"
  unset ATALAYA__STORAGE__BACKEND ATALAYA__STORAGE__URL DATABASE_URL
}
start_gateway atalaya "$ATALAYA_BIN" "$ATALAYA_PORT"
targets=(nginx atalaya)
declare -A URL=([nginx]="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
  [atalaya]="http://127.0.0.1:$ATALAYA_PORT/v1/chat/completions")
if [ -n "$BASE_BIN" ]; then
  start_gateway base "$BASE_BIN" "$BASE_PORT"
  targets+=(base)
  URL[base]="http://127.0.0.1:$BASE_PORT/v1/chat/completions"
fi

# run TARGET SECONDS OUT: one wrk run; prints its req/s (empty if it failed or had errors)
run() {
  local t=$1 d=$2 out=$3 line
  wrk -t"$THREADS" -c"$CONNS" -d"${d}s" --timeout "$WRK_TIMEOUT" -s "$BENCH_DIR/lua/chat.lua" \
    -H "Authorization: Bearer $ATALAYA_KEY" "${URL[$t]}" >"$out" 2>&1 || true
  line=$(grep '^BENCH ' "$out" | tail -1 || true)
  local e=0 k
  for k in err_connect err_read err_write err_timeout err_status; do e=$((e + $(kv "$line" $k))); done
  if [ -z "$line" ] || [ "$e" != 0 ]; then
    log "$t: errors in $out"
    return
  fi
  kv "$line" rps
}

for t in "${targets[@]}"; do
  log "$t: warm-up ${WARMUP}s"
  run "$t" "$WARMUP" "$work/warmup-$t.txt" >/dev/null
done
declare -A RPS
for ((r = 1; r <= ROUNDS; r++)); do
  # Rotate the order each round, so no target always runs first.
  n=${#targets[@]}
  for ((i = 0; i < n; i++)); do
    t=${targets[$(((i + r) % n))]}
    v=$(run "$t" "$DURATION" "$work/wrk-$t-r$r.txt")
    RPS[$t,$r]=$v
    log "round $r $t: ${v:-failed} req/s"
  done
done

median() { sort -g | awk '{a[NR] = $1} END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
med_of() { local t=$1 r; for ((r = 1; r <= ROUNDS; r++)); do [ -z "${RPS[$t,$r]}" ] || echo "${RPS[$t,$r]}"; done | median; }
ratio_med() {
  local a=$1 b=$2 r
  for ((r = 1; r <= ROUNDS; r++)); do
    [ -n "${RPS[$a,$r]}" ] && [ -n "${RPS[$b,$r]}" ] && awk -v x="${RPS[$a,$r]}" -v y="${RPS[$b,$r]}" 'BEGIN { printf "%.4f\n", x / y }'
  done | median
}

report=$RESULTS_DIR/proxy-$stamp.md
{
  echo "# Proxy throughput: Atalaya vs nginx$([ -n "$BASE_BIN" ] && echo " and the baseline")"
  echo
  echo "$(date -u +%F), commit $(git_rev), wrk -t$THREADS -c$CONNS, $ROUNDS interleaved rounds of ${DURATION}s, log level $LOG_LEVEL."
  echo
  echo "| target | median req/s | rounds |"
  echo "|---|---:|---|"
  for t in "${targets[@]}"; do
    all=$(for ((r = 1; r <= ROUNDS; r++)); do printf '%s ' "${RPS[$t,$r]:-—}"; done)
    echo "| $t | $(med_of "$t") | $all|"
  done
  echo
  echo "- Atalaya / nginx, median of per-round ratios: **$(ratio_med atalaya nginx)**"
  [ -z "$BASE_BIN" ] || echo "- baseline / Atalaya, median of per-round ratios: **$(ratio_med base atalaya)**$([ "$BASE_STORAGE" = postgres ] && echo " (the baseline on the Postgres backend)")"
  [ -z "$BASE_BIN" ] || echo "- Atalaya / baseline, median of per-round ratios: **$(ratio_med atalaya base)**"
} | tee "$report"
log "report: $report"
# The access logs (hundreds of MB at these rates): only their last lines are kept.
for f in "$work"/*/atalaya.log "$work/nginx/access.log"; do
  [ -f "$f" ] || continue
  tail -n 200 "$f" >"$f.tail" && rm -f "$f"
done
