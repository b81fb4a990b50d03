#!/usr/bin/env bash
# Builds and starts Atalaya. Every mode without CONFIG also serves the local embedding model
# all-MiniLM-L6-v2 (model "all-minilm-l6-v2" on /v1/embeddings), prepared by scripts/models.sh.
#   make run                                   demo: chat model "demo" is the bundled fake upstream
#   make run GGUF=path/to/model.gguf [MODEL=name]   a GGUF chat model run in-process
#   make run UPSTREAM=http://host:8000/v1 MODEL=llama-3.1-8b   one real OpenAI-compatible upstream
#   make run CONFIG=atalaya.toml               a configuration file (see atalaya.example.toml)
# The client key is $ATALAYA_API_KEY, or (without a config file) a demo key printed at start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked --bins
bin="${CARGO_TARGET_DIR:-target}/release"
listen="${LISTEN:-127.0.0.1:8080}"

if [ -n "${CONFIG:-}" ]; then
  exec "$bin/atalaya" serve --config "$CONFIG" --listen "$listen"
fi
# The embedding model on ONNX Runtime; on llama.cpp where no ONNX Runtime library was installed
# (scripts/models.sh pins the x86_64 wheel only).
if [ -e models/onnxruntime/libonnxruntime.so ]; then
  embed=(--embedding-model models/all-MiniLM-L6-v2/model.onnx)
else
  embed=(--embedding-model models/all-MiniLM-L6-v2.gguf)
fi
if [ -n "${GGUF:-}" ]; then
  exec "$bin/atalaya" serve --gguf "$GGUF" ${MODEL:+--model "$MODEL"} "${embed[@]}" --listen "$listen"
fi
if [ -n "${UPSTREAM:-}" ]; then
  exec "$bin/atalaya" serve --upstream "$UPSTREAM" --model "${MODEL:?set MODEL with UPSTREAM}" "${embed[@]}" --listen "$listen"
fi

# The demo knowledge base (demo/knowledge: a fictional company's support articles in English,
# Spanish and Portuguese) is loaded into collection "nimbo" of ./data before the server starts;
# unchanged articles are skipped, so this is quick after the first run.
if [ -e models/onnxruntime/libonnxruntime.so ] && [ "${DEMO_KB:-1}" = 1 ]; then
  "$bin/atalaya" kb list --data-dir ./data 2>/dev/null | grep -q '^nimbo\b' \
    || "$bin/atalaya" kb create nimbo --data-dir ./data >/dev/null
  for lang in en es pt; do
    "$bin/atalaya" kb ingest nimbo "demo/knowledge/$lang" --glob '*.md' --language "$lang" \
      --tags "$lang" --data-dir ./data >/dev/null
  done
  echo "Demo knowledge base: collection \"nimbo\" (demo/knowledge). Ask it:"
  echo "  curl http://$listen/v1/knowledge/nimbo/answer -H \"Authorization: Bearer <the API key below>\" -H 'content-type: application/json' -d '{\"query\":\"How do I reset my password?\"}'"
  # The built-in `support` pipeline (POST /v1/tickets) drafts from the demo articles.
  export ATALAYA__PIPELINES__VARS__SUPPORT__COLLECTION="${ATALAYA__PIPELINES__VARS__SUPPORT__COLLECTION:-nimbo}"
  echo "Triage a ticket with the built-in support pipeline (drafts cite the demo articles):"
  echo "  curl http://$listen/v1/tickets -H \"Authorization: Bearer <the API key below>\" -H 'content-type: application/json' -d '{\"body\":\"How do I reset my password?\"}'"
fi

# Demo: no generative weights ship with Atalaya (GGUF files are the user's), so the chat model
# "demo" is the bundled fake upstream (a fixed reply; streams of 20 chunks). Embeddings are real.
demo_listen="${DEMO_UPSTREAM_LISTEN:-127.0.0.1:18080}"
"$bin/atalaya-fake-upstream" --listen "$demo_listen" --stream-chunks 20 --chunk-delay-us 20000 &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT INT TERM
echo "Demo upstream (bundled fake, fixed replies) on http://$demo_listen/v1"
"$bin/atalaya" serve --upstream "http://$demo_listen/v1" --model demo "${embed[@]}" --listen "$listen"
