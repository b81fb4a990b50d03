#!/usr/bin/env python3
"""How CLINC150's test figures move with the out-of-scope share pi and the out-of-scope
class, each threshold chosen on validation only (docs/BENCHMARKS.md, intent classifiers).

Input: a bench/classify.sh run directory RUN holding clinc-{val,test}.jsonl and the
predictions of two classifiers on those files' texts (one text per line, from the CWD of
the repository so the embedding model is found):
  atalaya classify predict --name clinc150-embeddings --data-dir RUN/data < val.txt > RUN/pred-oos-val.jsonl
  (and -test; the same for a classifier trained with --out-of-scope-class-min 100000, as
  RUN/pred-no-{val,test}.jsonl).
Usage: python3 bench/classify/sweep.py RUN
Prints, per model and pi: the threshold, then (in-scope accuracy, out-of-scope recall,
accuracy over all examples) on validation and on test.
"""
import json
import sys

RUN = sys.argv[1]


def load(kind, split):
    gold = [json.loads(l)["label"] for l in open(f"{RUN}/clinc-{split}.jsonl")]
    preds = [json.loads(l)["prediction"] for l in open(f"{RUN}/pred-{kind}-{split}.jsonl")]
    rows = []
    for g, p in zip(gold, preds):
        p_oos = dict(p["top"]).get("out_of_scope", 0.0)
        conf = p["confidence"]
        # Rejected by the out-of-scope class: below any threshold.
        rows.append((g == "oos", p["best"] == g, -1.0 if p_oos > conf else conf))
    return rows


def figures(rows, t):
    ins = [r for r in rows if not r[0]]
    oos = [r for r in rows if r[0]]
    kept = sum(1 for r in ins if r[1] and r[2] >= t)
    caught = sum(1 for r in oos if r[2] < t)
    return kept / len(ins), caught / len(oos), (kept + caught) / len(rows)


for kind in ["no", "oos"]:
    val, test = load(kind, "val"), load(kind, "test")
    candidates = sorted({0.0} | {r[2] for r in val if r[2] >= 0})
    for pi in [0.05, 0.1, 0.2, 0.3, 0.5]:
        t = max(candidates, key=lambda t: (1 - pi) * figures(val, t)[0] + pi * figures(val, t)[1])
        print(kind, pi, round(t, 3),
              "val", [round(x, 4) for x in figures(val, t)],
              "test", [round(x, 4) for x in figures(test, t)])
