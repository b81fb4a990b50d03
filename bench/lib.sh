# Shared helpers for bench/*.sh (sourced, not executed). Everything here talks to 127.0.0.1 only.
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
BENCH_HOME=${BENCH_HOME:-$HOME/.cache/atalaya-bench}
PEERS_DIR=${PEERS_DIR:-$REPO_DIR/../shared/peers}
PEERS_HOME=${PEERS_HOME:-$HOME/.cache/atalaya-peers}
export PEERS_HOME
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}

target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$REPO_DIR/$target_dir ;; esac
BIN_DIR=${BIN_DIR:-$target_dir/release}
FAKE_UPSTREAM_BIN=${FAKE_UPSTREAM_BIN:-$BIN_DIR/atalaya-fake-upstream}
ATALAYA_BIN=${ATALAYA_BIN:-$BIN_DIR/atalaya}

MOCK_PORT=${MOCK_PORT:-18080}
ATALAYA_PORT=${ATALAYA_PORT:-18081}
ATALAYA_KEY=sk-bench
MODEL=mock-gpt

# Loopback traffic must never go through a proxy (curl, and httpx inside LiteLLM, honour these).
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- process bookkeeping: every process started here is recorded and ended by pid on exit ---
BENCH_PIDS=()
# The command that stops the throwaway Postgres of start_postgres (empty: none started).
PG_STOP=()
BENCH_PEERS_STARTED=()
bench_cleanup() {
  local pid p i
  set +e
  for p in "${BENCH_PEERS_STARTED[@]}"; do "$PEERS_DIR/$p.sh" stop >/dev/null 2>&1; done
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${BENCH_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${BENCH_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
  wait 2>/dev/null
  # The database last, once nothing is connected to it.
  [ "${#PG_STOP[@]}" = 0 ] || "${PG_STOP[@]}" >/dev/null 2>&1
}
bench_traps() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# forget_pid PID: drop a pid that has been waited for (so cleanup never signals a reused pid)
forget_pid() {
  local keep=() p
  for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  BENCH_PIDS=("${keep[@]}")
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
need_free_port() { port_busy "$1" && die "127.0.0.1:$1 is already in use (stop whatever listens there, or set ${2:-the port variable})"; return 0; }

curl_local() { curl -s --noproxy '*' "$@"; }

# wait_http URL TIMEOUT_S PID: until URL answers 2xx; fails early if PID exits.
wait_http() {
  local url=$1 timeout=$2 pid=$3 i
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    curl_local -f -o /dev/null -m 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# start_mock LOGDIR [mock args...]: sets MOCK_PID
start_mock() {
  local logdir=$1; shift
  [ -x "$FAKE_UPSTREAM_BIN" ] || die "$FAKE_UPSTREAM_BIN not found: run 'cargo build --release' first (or set FAKE_UPSTREAM_BIN / BIN_DIR)"
  need_free_port "$MOCK_PORT" MOCK_PORT
  "$FAKE_UPSTREAM_BIN" --listen "127.0.0.1:$MOCK_PORT" "$@" >"$logdir/mock.log" 2>&1 &
  MOCK_PID=$!
  BENCH_PIDS+=("$MOCK_PID")
  wait_http "http://127.0.0.1:$MOCK_PORT/v1/models" 20 "$MOCK_PID" \
    || die "mock upstream did not come up; see $logdir/mock.log"
  log "mock upstream up on 127.0.0.1:$MOCK_PORT (pid $MOCK_PID)"
}

# start_atalaya LOGDIR [BIN] [PORT]: sets ATALAYA_PID (the gateway process itself, for
# /proc/PID/status). BIN and PORT default to ATALAYA_BIN and ATALAYA_PORT; ATALAYA__* variables
# set by the caller (log level, data directory) reach the server.
start_atalaya() {
  local logdir=$1 bin=${2:-$ATALAYA_BIN} port=${3:-$ATALAYA_PORT}
  [ -x "$bin" ] || die "$bin not found: run 'cargo build --release' first (or set ATALAYA_BIN / BIN_DIR)"
  need_free_port "$port" ATALAYA_PORT
  ATALAYA_API_KEY=$ATALAYA_KEY ATALAYA__LOG__LEVEL=${ATALAYA__LOG__LEVEL:-warn} \
    "$bin" serve --upstream "http://127.0.0.1:$MOCK_PORT/v1" --model "$MODEL" \
    --listen "127.0.0.1:$port" >"$logdir/atalaya.log" 2>&1 &
  ATALAYA_PID=$!
  BENCH_PIDS+=("$ATALAYA_PID")
  wait_http "http://127.0.0.1:$port/healthz" 30 "$ATALAYA_PID" \
    || die "atalaya did not come up; see $logdir/atalaya.log"
  log "atalaya ($bin) up on 127.0.0.1:$port (pid $ATALAYA_PID)"
}

# start_postgres: a throwaway PostgreSQL (scripts/postgres.sh installs it) with its files in a
# new directory under /tmp (the postgres user, which runs it when the script runs as root,
# cannot enter root's home), on 127.0.0.1:PG_PORT (18432); sets PG_URL. bench_cleanup stops
# it and removes the directory.
start_postgres() {
  local dir pgbin=${PG_BIN:-/usr/lib/postgresql/15/bin} port=${PG_PORT:-18432} as=()
  [ -x "$pgbin/initdb" ] || die "no PostgreSQL in $pgbin: run scripts/postgres.sh (or set PG_BIN)"
  need_free_port "$port" PG_PORT
  dir=$(mktemp -d /tmp/atalaya-bench-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$dir"
    as=(runuser -u postgres --)
  fi
  "${as[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U atalaya -E UTF8 --locale=C.UTF-8 >/dev/null
  "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  PG_STOP=(sh -c "$(printf '%q ' "${as[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m fast stop); rm -rf $(printf '%q' "$dir")")
  PG_URL="postgres://atalaya@127.0.0.1:$port/postgres"
  log "postgres up on 127.0.0.1:$port ($dir)"
}

# kv LINE KEY: value of KEY=... in a "BENCH k=v ..." line printed by the wrk Lua scripts
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

git_rev() {
  local rev
  rev=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null) || { echo "no commit"; return; }
  git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null || rev="$rev+dirty"
  echo "$rev"
}
