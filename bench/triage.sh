#!/usr/bin/env bash
# Ticket triage throughput of the built-in `support` pipeline in extractive mode (no
# generative model), single process: the demo knowledge base (30 articles, en/es/pt) ingested
# with the CLI, an `intents` classifier trained on the demo questions' articles, then every
# demo question (150, en/es/pt) as a ticket through `atalaya tickets triage --trace`, ROUNDS
# times. Reports tickets/s (wall), p50/p99 latency per ticket and per step, and the
# escalation rate, as JSON lines in bench/results/triage-*.jsonl. Knobs: ROUNDS (3),
# CONCURRENCY (1 and 4).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
./scripts/models.sh
cargo build --release --locked --bin atalaya >&2
bin="$CARGO_TARGET_DIR/release/atalaya"
rounds=${ROUNDS:-3}
mkdir -p bench/results
out="bench/results/triage-$(date +%Y%m%d-%H%M).jsonl"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
"$bin" kb create support --data-dir "$data" >&2
for lang in en es pt; do
  "$bin" kb ingest support "demo/knowledge/$lang" --language "$lang" --data-dir "$data" --json
done | tail -n 3 >&2
# Intents: the article each tuning/eval question is about (its topic), so the classify step
# does real work; trained on n-grams + embeddings like a tenant would.
python3 - "$data" <<'PY'
import csv, json, sys
rows = []
for l in open('demo/knowledge/questions.jsonl', encoding='utf-8'):
    q = json.loads(l)
    topic = q['relevant'][0].split('/')[-1].rsplit('.', 1)[0] if q['relevant'] else 'other'
    rows.append((q['query'], q['lang'] + ':' + topic))
with open(sys.argv[1] + '/intents.csv', 'w', newline='', encoding='utf-8') as f:
    w = csv.writer(f); w.writerow(['text', 'label']); w.writerows(rows)
with open(sys.argv[1] + '/tickets.jsonl', 'w', encoding='utf-8') as f:
    for l in open('demo/knowledge/questions.jsonl', encoding='utf-8'):
        q = json.loads(l)
        f.write(json.dumps({'id': q['id'], 'body': q['query']}, ensure_ascii=False) + '\n')
PY
"$bin" classify train --name intents --data "$data/intents.csv" --data-dir "$data" --validation-fraction 0 --threshold 0.05 >/dev/null
for conc in ${CONCURRENCY:-1 4}; do
  for r in $(seq 1 "$rounds"); do
    t0=$(date +%s.%N)
    "$bin" tickets triage --input "$data/tickets.jsonl" --data-dir "$data" --trace --concurrency "$conc" > "$data/out.jsonl"
    t1=$(date +%s.%N)
    python3 bench/triage/summary.py "$data/out.jsonl" --wall "$(echo "$t1 - $t0" | bc)" --concurrency "$conc" --round "$r" | tee -a "$out"
  done
done
echo "results: $(pwd)/$out" >&2
