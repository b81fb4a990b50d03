#!/usr/bin/env bash
# Soak: mixed traffic (chat, streams, uploads with replacements and deletions, knowledge
# queries, tickets through a pipeline) against one Atalaya for SOAK_SECONDS (default 1800),
# sampling its resident memory and open file descriptors every 10 s. Loopback only; the
# upstream is the fake one (no model calls leave the machine).
#
# Usage: bench/soak.sh            (after cargo build --release)
# Env:   SOAK_SECONDS=1800  MOCK_PORT=18080 ATALAYA_PORT=18081  ATALAYA_BIN / FAKE_UPSTREAM_BIN
# Writes bench/results/soak-<date>/{samples.csv,summary.json}; exits 1 if a request failed
# with a 5xx or a broken connection, or memory or descriptors kept growing.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-1800}
"$REPO_DIR/scripts/models.sh" >&2
stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/soak-$stamp
out=$RESULTS_DIR/soak-$stamp
mkdir -p "$work/data" "$work/pipelines" "$out"
bench_traps

start_mock "$work" --stream-chunks 40 --chunk-delay-us 2000

cat >"$work/pipelines/soak.yaml" <<'YAML'
name: soak
steps:
  - id: language
    kind: detect_language
  - id: guard_in
    kind: guard
    stage: input
  - id: found
    kind: retrieve
    collection: soak
    query: "{{ guard_in.text }}"
    k: 3
  - id: ask
    kind: prompt
    system: Answer from the sources.
    user: "{{ guard_in.text }}"
  - id: draft
    kind: generate
    model: mock-gpt
    prompt: ask
    sources: found
YAML
cat >"$work/atalaya.toml" <<TOML
[server]
data_dir = "$work/data"
[auth]
api_keys = ["env:ATALAYA_API_KEY"]
[log]
level = "warn"
[upstreams.mock]
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[models.$MODEL]
targets = [{ upstream = "mock" }]
guard = "default"
[guard.policies.default]
[knowledge]
embedding_model = "minilm"
[local_models.minilm]
kind = "embedding"
path = "$REPO_DIR/models/all-MiniLM-L6-v2/model.onnx"
threads = 1
[onnxruntime]
library = "$REPO_DIR/models/onnxruntime/libonnxruntime.so"
[pipelines]
paths = ["$work/pipelines"]
tickets_pipeline = "soak"
TOML

[ -x "$ATALAYA_BIN" ] || die "$ATALAYA_BIN not found: run 'cargo build --release' first"
need_free_port "$ATALAYA_PORT" ATALAYA_PORT
ATALAYA_API_KEY=$ATALAYA_KEY "$ATALAYA_BIN" serve --config "$work/atalaya.toml" \
  --listen "127.0.0.1:$ATALAYA_PORT" >"$work/atalaya.log" 2>&1 &
ATALAYA_PID=$!
BENCH_PIDS+=("$ATALAYA_PID")
wait_http "http://127.0.0.1:$ATALAYA_PORT/healthz" 60 "$ATALAYA_PID" \
  || die "atalaya did not come up; see $work/atalaya.log"
log "soak: $SOAK_SECONDS s against pid $ATALAYA_PID ($(git_rev)); log in $work/atalaya.log"
python3 "$BENCH_DIR/soak/drive.py" --base "http://127.0.0.1:$ATALAYA_PORT" --key "$ATALAYA_KEY" \
  --pid "$ATALAYA_PID" --seconds "$SOAK_SECONDS" --data "$work/data" --out "$out"
