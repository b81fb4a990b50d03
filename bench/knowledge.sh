#!/usr/bin/env bash
# Knowledge-base retrieval quality on the demo knowledge base (demo/knowledge: 30 support
# articles, en/es/pt) with its labelled questions (demo/knowledge/questions.jsonl: 120 for
# evaluation, 30 kept apart for tuning): recall@5, MRR@10 and nDCG@10 for bm25, dense and
# hybrid, through the stable CLI (`atalaya kb search --queries`). JSON lines in
# bench/results/knowledge-*.jsonl. Knobs: SPLIT (eval), K (10), MAX_TOKENS (200).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
./scripts/models.sh
cargo build --release --locked --bin atalaya >&2
bin="$CARGO_TARGET_DIR/release/atalaya"
split=${SPLIT:-eval}
k=${K:-10}
mkdir -p bench/results
out="bench/results/knowledge-$(date +%Y%m%d-%H%M).jsonl"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
repo=$(pwd)
"$bin" kb create demo --data-dir "$data" --max-tokens "${MAX_TOKENS:-200}" >&2
for lang in en es pt; do
  "$bin" kb ingest demo "demo/knowledge/$lang" --language "$lang" --data-dir "$data" --json
done | tail -n 3 >&2
questions=$(mktemp)
python3 -c "
import json,sys
for l in open('demo/knowledge/questions.jsonl', encoding='utf-8'):
    q=json.loads(l)
    if q['split']=='$split': print(json.dumps({'id': q['id'], 'query': q['query']}, ensure_ascii=False))
" > "$questions"
for mode in bm25 dense hybrid; do
  res=$(mktemp)
  t0=$(date +%s.%N)
  "$bin" kb search demo --queries "$questions" --k "$k" --mode "$mode" --data-dir "$data" > "$res"
  t1=$(date +%s.%N)
  python3 bench/knowledge/metrics.py demo/knowledge/questions.jsonl "$res" --mode "$mode" --split "$split" --strip-prefix demo/knowledge/ \
    | python3 -c "import json,sys; r=json.load(sys.stdin); r['wall_s']=round($t1-$t0,3); print(json.dumps(r, ensure_ascii=False))" \
    | tee -a "$out"
  rm -f "$res"
done
rm -f "$questions"
echo "results: $repo/$out" >&2
