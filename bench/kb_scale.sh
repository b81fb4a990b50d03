#!/usr/bin/env bash
# Knowledge-base scale: ingestion throughput (documents/s, chunks/s) and the server's peak
# memory for 1,000 mixed documents (Markdown, HTML, text, CSV/JSONL FAQs) uploaded through the
# API's task queue, beside the CLI ingesting the same files; then query latency (p50/p90/p99,
# one query at a time over HTTP) for hybrid, dense and BM25 search in a 100k-chunk collection
# (an HNSW collection: above knowledge's 20k-chunk threshold). Documents are generated from
# the Banking77/CLINC150 texts (bench/kb_scale/make_docs.py). JSON lines in
# bench/results/kb-scale-*.jsonl. Knobs: DOCS (1000), CHUNKS (100000), QUERIES (500).
# STORAGE=postgres runs the same on the Postgres backend (a throwaway server, bench/lib.sh
# start_postgres); LARGE_ONLY=1 skips the mixed documents and the CLI; ATALAYA_BIN_OVERRIDE=path uses
# that binary instead of building one. Then recall@10 of dense and hybrid search against exact
# search over the stored vectors (bench/kb_scale/recall.py; RECALL_QUERIES=200, NO_RECALL=1
# skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
. bench/lib.sh
bench_traps
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
./scripts/models.sh >&2
if [ -n "${ATALAYA_BIN_OVERRIDE:-}" ]; then
  bin=$ATALAYA_BIN_OVERRIDE
else
  cargo build --release --locked --bin atalaya >&2
  bin="$CARGO_TARGET_DIR/release/atalaya"
fi
storage=${STORAGE:-sqlite}
data=${DATA_DIR:-../shared/data}
work=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$work"' EXIT
port=${PORT:-18095}
need_free_port "$port" PORT
mkdir -p bench/results
out="bench/results/kb-scale-${STORAGE:-sqlite}-$(date +%Y%m%d-%H%M).jsonl"
key=bench-key
repo=$(pwd)
cat > "$work/atalaya.toml" <<TOML
[server]
data_dir = "$work/data"
[auth]
api_keys = ["env:BENCH_KEY"]
[log]
level = "warn"
[local_models.all-minilm-l6-v2]
kind = "embedding"
path = "$repo/models/all-MiniLM-L6-v2/model.onnx"
threads = 2
[onnxruntime]
library = "$repo/models/onnxruntime/libonnxruntime.so"
[models.all-minilm-l6-v2]
targets = [{ upstream = "all-minilm-l6-v2" }]
TOML
if [ "$storage" = postgres ]; then
  start_postgres
  printf '[storage]\nbackend = "postgres"\nurl = "env:DATABASE_URL"\n' >> "$work/atalaya.toml"
  export DATABASE_URL=$PG_URL
fi
python3 bench/kb_scale/make_docs.py "$data" mixed "$work/mixed" --n "${DOCS:-1000}"
python3 bench/kb_scale/make_docs.py "$data" faq "$work/faq" --chunks "${CHUNKS:-100000}"
python3 bench/kb_scale/make_docs.py "$data" queries "$work/queries.jsonl" --n "${QUERIES:-500}"

BENCH_KEY=$key "$bin" serve --config "$work/atalaya.toml" --listen "127.0.0.1:$port" >/dev/null &
server=$!
BENCH_PIDS+=("$server")
for _ in $(seq 1 200); do port_busy "$port" && break; sleep 0.1; done
base="http://127.0.0.1:$port"
api() { curl -sf -H "Authorization: Bearer $key" -H 'content-type: application/json' "$@"; }
rss() { awk -v k="$1" '$1==k":" {print $2}' "/proc/$server/status"; }

if [ -z "${LARGE_ONLY:-}" ]; then
api -X POST "$base/v1/knowledge" -d '{"name":"mixed"}' >/dev/null
idle=$(rss VmRSS)
log "ingesting ${DOCS:-1000} mixed documents through the API"
r=$(python3 bench/kb_scale/client.py "$base" "$key" ingest mixed "$work/mixed")
peak=$(rss VmHWM)
echo "$r" | python3 -c "
import json,sys; r=json.load(sys.stdin)
r.update({'bench':'ingest','path':'api (task queue)','rss_idle_mib':round($idle/1024,1),'rss_peak_mib':round($peak/1024,1)})
print(json.dumps(r))" | tee -a "$out"

log "the same documents through the CLI (its own process)"
"$bin" kb create mixed --data-dir "$work/cli" >/dev/null
/usr/bin/time -f '%e %M' -o "$work/time" "$bin" kb ingest mixed "$work/mixed" --data-dir "$work/cli" >/dev/null 2>"$work/cli.err" || true
read -r wall maxkb < "$work/time"
chunks=$(grep -o '[0-9]* chunks;' "$work/cli.err" | grep -o '[0-9]*' | head -1)
python3 -c "
import json; w=float('$wall'); c=int('${chunks:-0}'); n=${DOCS:-1000}
print(json.dumps({'bench':'ingest','path':'cli (kb ingest)','documents':n,'chunks':c,'wall_s':w,
  'documents_per_s':round(n/w,2),'chunks_per_s':round(c/w,1),'rss_peak_mib':round($maxkb/1024,1)}))" | tee -a "$out"
fi

log "building a ${CHUNKS:-100000}-chunk collection"
api -X POST "$base/v1/knowledge" -d '{"name":"large"}' >/dev/null
python3 bench/kb_scale/client.py "$base" "$key" ingest large "$work/faq" --batch 10 \
  | python3 -c "import json,sys; r=json.load(sys.stdin); r.update({'bench':'ingest','path':'api, FAQ rows','storage':'$storage'}); print(json.dumps(r))" | tee -a "$out"
for mode in hybrid dense bm25; do
  python3 bench/kb_scale/client.py "$base" "$key" latency large "$work/queries.jsonl" --mode "$mode" \
    | python3 -c "import json,sys; r=json.load(sys.stdin); r.update({'bench':'query latency','chunks':${CHUNKS:-100000},'storage':'$storage'}); print(json.dumps(r))" | tee -a "$out"
done
if [ -z "${NO_RECALL:-}" ]; then
  # Recall@10 against exact (brute-force) search over the stored vectors; needs numpy, kept
  # in a virtual environment outside the clone.
  venv="$HOME/.cache/atalaya/bench-venv"
  if ! "$venv/bin/python" -c 'import numpy' 2>/dev/null; then
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q 'numpy==2.4.6' >&2
  fi
  if [ "$storage" = postgres ]; then src=(--postgres "$PG_URL"); else src=(--sqlite "$work/data/knowledge/knowledge.db"); fi
  "$venv/bin/python" bench/kb_scale/recall.py "$base" "$key" large "$work/queries.jsonl" "${src[@]}" \
    --n "${RECALL_QUERIES:-200}" \
    | python3 -c "import json,sys
for l in sys.stdin: r=json.loads(l); r.update({'bench':'recall vs exact','storage':'$storage'}); print(json.dumps(r))" | tee -a "$out"
fi
echo "{\"bench\":\"memory\",\"rss_after_all_mib\":$(( $(rss VmRSS) / 1024 )),\"rss_peak_mib\":$(( $(rss VmHWM) / 1024 ))}" | tee -a "$out"
echo "results: $out" >&2
