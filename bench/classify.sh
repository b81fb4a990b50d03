#!/usr/bin/env bash
# Intent classifiers on public sets (../shared/data), trained and scored with the real CLI:
#   Banking77: train on train.csv (10% stratified validation split), report on test.csv;
#   CLINC150 (full): train on train + oos_train (out of scope learned as a class),
#   calibrate the out-of-scope threshold on val + oos_val,
#   report on test + oos_test (in-scope accuracy, out-of-scope recall).
# Each set is run with n-grams + MiniLM embeddings (default) and n-grams only.
# Prints a Markdown report and writes it to bench/results/classify-<date>.md.
#
# Usage: bench/classify.sh   (after `make models`; builds the release binary)
# Env:   SETS="banking77 clinc150"   EPOCHS=30
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

SETS=${SETS:-banking77 clinc150}
EPOCHS=${EPOCHS:-30}
DATA=${DATA:-$REPO_DIR/../shared/data}
(cd "$REPO_DIR" && cargo build --release -p atalaya --bin atalaya >/dev/null 2>&1) || die "release build failed"
[ -d "$REPO_DIR/models/all-MiniLM-L6-v2" ] || die "the embedding model is missing: run make models"

stamp=$(date -u +%Y%m%d-%H%M%S)
work=$BENCH_HOME/runs/classify-$stamp
mkdir -p "$work" "$RESULTS_DIR"
cd "$REPO_DIR"

# CLINC150's JSON as JSON Lines (out-of-scope examples labelled "oos").
python3 - "$DATA/clinc150/data_full.json" "$work" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
def dump(name, parts):
    with open(f"{sys.argv[2]}/clinc-{name}.jsonl", "w") as f:
        for p in parts:
            for text, label in d[p]:
                f.write(json.dumps({"text": text, "label": label}) + "\n")
dump("train", ["train", "oos_train"]); dump("val", ["val", "oos_val"]); dump("test", ["test", "oos_test"])
PY

report=$RESULTS_DIR/classify-$stamp.md
row() { # set features train-json eval-json
  python3 - "$@" <<'PY'
import json, sys
s, feat, tr, ev = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3])), json.load(open(sys.argv[4]))
oos = ev.get("out_of_scope_recall")
print(f"| {s} | {feat} | {ev['accuracy_without_threshold']:.4f} | {ev['macro_f1_without_threshold']:.4f} | "
      f"{ev['accuracy']:.4f} | {ev['macro_f1']:.4f} | {'—' if oos is None else f'{oos:.4f}'} | "
      f"{ev['in_scope_rejected']} | {tr['validation']['macro_f1_without_threshold']:.4f} | "
      f"{tr['threshold']:.3f} | {tr['train_seconds']:.0f} s | {ev['seconds']:.1f} s |")
PY
}
{
  echo "## Classifiers ($stamp, $(git_rev), $(nproc) cores, epochs $EPOCHS)"
  echo
  echo "Test set. *Best label*: no out-of-scope threshold (the published protocol). *Thresholded*:"
  echo "as the product answers — below the calibrated threshold the answer is out_of_scope, which"
  echo "counts as wrong for an in-scope example (accuracy over in-scope examples)."
  echo
  echo "| set | features | accuracy, best label | macro-F1, best label | accuracy, thresholded | macro-F1, thresholded | out-of-scope recall | in-scope rejected | validation macro-F1 (best) | threshold | train time | eval time |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$report"
for set in $SETS; do
  case $set in
    banking77) train=(--data "$DATA/banking77/train.csv"); test=$DATA/banking77/test.csv ;;
    clinc150) train=(--data "$work/clinc-train.jsonl" --validation "$work/clinc-val.jsonl"); test=$work/clinc-test.jsonl ;;
    *) die "unknown set $set" ;;
  esac
  for feat in embeddings ngrams; do
    extra=(); [ "$feat" = ngrams ] && extra=(--no-embeddings)
    name=$set-$feat
    log "$name: training"
    "$ATALAYA_BIN" classify train --name "$name" --data-dir "$work/data" "${train[@]}" \
      --epochs "$EPOCHS" "${extra[@]}" >"$work/$name-train.json" 2>"$work/$name-train.log" \
      || die "training failed: $work/$name-train.log"
    log "$name: evaluating"
    "$ATALAYA_BIN" classify eval --name "$name" --data-dir "$work/data" --data "$test" \
      >"$work/$name-eval.json" 2>"$work/$name-eval.log" || die "evaluation failed: $work/$name-eval.log"
    row "$set" "$([ "$feat" = ngrams ] && echo "n-grams" || echo "n-grams + MiniLM")" \
      "$work/$name-train.json" "$work/$name-eval.json" >>"$report"
  done
done
cat "$report"
log "report: $report (runs in $work)"
