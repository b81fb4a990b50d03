#!/usr/bin/env bash
# The support pipeline on realistic tickets: demo/knowledge/tickets.jsonl (210 hand-written
# en/es/pt tickets, noisy, with trigger words, PII and 30 injections; see TICKETS.md) through
# the built-in `support` pipeline in extractive mode over the demo knowledge base (30
# articles, en/es/pt), with `atalaya tickets triage`. Reports, per split and language: the
# drafted rate of benign tickets, the right article among the first two citations, citations
# all in the ticket's language, and injected tickets escalated. JSON in
# bench/results/tickets-*.json.
#   ./bench/tickets.sh                 # release build
#   ATALAYA_BIN=path/to/atalaya ./bench/tickets.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/atalaya/target}"
./scripts/models.sh >&2
bin="${ATALAYA_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --locked --bin atalaya >&2
  bin="$CARGO_TARGET_DIR/release/atalaya"
fi
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
"$bin" kb create support --data-dir "$data" >/dev/null
for lang in en es pt; do
  "$bin" kb ingest support "demo/knowledge/$lang" --language "$lang" --data-dir "$data" --json >/dev/null
done
python3 - "$data/in.jsonl" <<'PY'
import json, sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for l in open("demo/knowledge/tickets.jsonl", encoding="utf-8"):
        t = json.loads(l)
        f.write(json.dumps({"id": t["id"], "subject": t["subject"] or None, "body": t["body"]}, ensure_ascii=False) + "\n")
PY
"$bin" tickets triage --input "$data/in.jsonl" --data-dir "$data" --trace > "$data/out.jsonl"
mkdir -p bench/results
python3 bench/tickets/score.py demo/knowledge/tickets.jsonl "$data/out.jsonl" \
  --out "bench/results/tickets-$(date +%Y%m%d-%H%M%S).json"
