#!/usr/bin/env python3
"""Retrieval metrics of `atalaya kb search --queries` output against labelled questions.
Relevance is per document: a document's rank is that of its best chunk (later chunks of an
already-seen document are skipped). Prints one JSON line.
usage: metrics.py QUESTIONS.jsonl RESULTS.jsonl --mode M [--split eval]"""
import argparse
import json
import math


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("questions")
    ap.add_argument("results")
    ap.add_argument("--mode", required=True)
    ap.add_argument("--split", default="eval")
    ap.add_argument("--strip-prefix", default="")
    a = ap.parse_args()
    qs = {}
    for line in open(a.questions, encoding="utf-8"):
        q = json.loads(line)
        if q["split"] == a.split:
            qs[q["id"]] = q
    got = {}
    for line in open(a.results, encoding="utf-8"):
        r = json.loads(line)
        docs = []
        for hit in r["results"]:
            d = hit["doc"][len(a.strip_prefix):] if hit["doc"].startswith(a.strip_prefix) else hit["doc"]
            if d not in docs:
                docs.append(d)
        got[r["id"]] = docs
    recall5 = mrr10 = ndcg10 = 0.0
    per_lang = {}
    misses = []
    for qid, q in qs.items():
        docs = got.get(qid, [])
        rel = set(q["relevant"])
        hit5 = any(d in rel for d in docs[:5])
        recall5 += hit5
        rr = next((1.0 / (i + 1) for i, d in enumerate(docs[:10]) if d in rel), 0.0)
        mrr10 += rr
        dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(docs[:10]) if d in rel)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), 10)))
        ndcg10 += dcg / idcg
        pl = per_lang.setdefault(q["lang"], [0, 0])
        pl[0] += hit5
        pl[1] += 1
        if not hit5:
            misses.append({"id": qid, "query": q["query"], "top": docs[:3]})
    n = max(len(qs), 1)
    print(json.dumps({"bench": "retrieval", "mode": a.mode, "split": a.split, "questions": len(qs),
                      "recall@5": recall5 / n, "mrr@10": mrr10 / n, "ndcg@10": ndcg10 / n,
                      "recall@5_by_lang": {k: v[0] / v[1] for k, v in sorted(per_lang.items())},
                      "misses": misses}, ensure_ascii=False))


if __name__ == "__main__":
    main()
