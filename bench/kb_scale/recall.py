#!/usr/bin/env python3
"""Recall@k of a server's knowledge search against exact search (127.0.0.1 only).

  recall.py BASE KEY COLLECTION QUERIES.jsonl (--sqlite KNOWLEDGE_DB | --postgres URL)
            [--n 200] [--k 10] [--modes dense,hybrid] [--model all-minilm-l6-v2]

Exact search is brute-force cosine similarity over every vector the collection stores, read
from the backend's own tables (SQLite's chunks.vector, Postgres's kb_chunks.embedding), with
query vectors from the server's /v1/embeddings (the model the collection was built with).
For each mode, the server's top k (chunk ids) is compared with the exact dense top k:
recall@k = |server ∩ exact| / k, averaged over queries. For `dense` this is the approximate
index's recall; for `hybrid` it is how much of the exact nearest neighbours the fused ranking
keeps. Prints one JSON line per mode. Needs numpy."""
import argparse
import json
import sqlite3
import subprocess
import urllib.request

import numpy as np


def call(base, key, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def sqlite_vectors(path, collection):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT c.id, c.vector FROM chunks c JOIN collections k ON k.id = c.collection_id WHERE k.name = ?",
        (collection,)).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    m = np.stack([np.frombuffer(r[1], dtype="<f4") for r in rows])
    return ids, m


def postgres_vectors(url, collection):
    sql = ("COPY (SELECT c.id, c.embedding::text FROM kb_chunks c JOIN kb_collections k ON k.id = c.collection_id "
           f"WHERE k.name = '{collection}') TO STDOUT")
    out = subprocess.run(["psql", url, "-X", "-q", "-c", sql], check=True, capture_output=True, text=True).stdout
    ids, vecs = [], []
    for line in out.splitlines():
        i, v = line.split("\t", 1)
        ids.append(int(i))
        vecs.append(np.array(v.strip("[]").split(","), dtype=np.float32))
    return np.array(ids, dtype=np.int64), np.stack(vecs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("key")
    ap.add_argument("collection")
    ap.add_argument("queries")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--sqlite")
    src.add_argument("--postgres")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--modes", default="dense,hybrid")
    ap.add_argument("--model", default="all-minilm-l6-v2")
    a = ap.parse_args()

    ids, m = sqlite_vectors(a.sqlite, a.collection) if a.sqlite else postgres_vectors(a.postgres, a.collection)
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)
    qs = [json.loads(l)["query"] for l in open(a.queries, encoding="utf-8")][: a.n]
    qv = []
    for i in range(0, len(qs), 32):
        r = call(a.base, a.key, "/v1/embeddings", {"model": a.model, "input": qs[i:i + 32]})
        qv.extend(d["embedding"] for d in sorted(r["data"], key=lambda d: d["index"]))
    q = np.array(qv, dtype=np.float32)
    q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    sims = q @ m.T
    exact = []
    for row in sims:
        top = np.argpartition(-row, a.k)[: a.k]
        exact.append(set(ids[top].tolist()))
    for mode in a.modes.split(","):
        recalls = []
        for text, truth in zip(qs, exact):
            r = call(a.base, a.key, f"/v1/knowledge/{a.collection}/query", {"query": text, "k": a.k, "mode": mode})
            got = {d["chunk_id"] for d in r["data"]}
            recalls.append(len(got & truth) / a.k)
        print(json.dumps({"mode": mode, "k": a.k, "queries": len(recalls), "chunks": int(len(ids)),
                          f"recall_at_{a.k}_vs_exact": round(float(np.mean(recalls)), 4),
                          "min": round(float(np.min(recalls)), 2)}))


if __name__ == "__main__":
    main()
