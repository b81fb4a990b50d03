#!/usr/bin/env python3
"""HTTP client of the knowledge-base scale benchmark (standard library only; 127.0.0.1).
  client.py BASE KEY ingest COLLECTION DIR [--batch 100]
      uploads every file of DIR as JSON documents (batches of --batch), waits for every task,
      prints {"documents","chunks","wall_s","documents_per_s","chunks_per_s","failed"}
  client.py BASE KEY latency COLLECTION QUERIES.jsonl [--mode hybrid] [--k 10] [--warmup 20]
      one query at a time, prints {"mode","queries","p50_ms","p90_ms","p99_ms","mean_ms"}"""
import argparse
import json
import os
import statistics
import time
import urllib.request


def call(base, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def ingest(a):
    files = sorted(os.listdir(a.dir))
    t0 = time.perf_counter()
    tasks = []
    for i in range(0, len(files), a.batch):
        docs = [{"source": f, "content": open(os.path.join(a.dir, f), encoding="utf-8").read()}
                for f in files[i:i + a.batch]]
        tasks.append(call(a.base, a.key, "POST", f"/v1/knowledge/{a.collection}/documents", {"documents": docs})["id"])
    done = {}
    while len(done) < len(tasks):
        for t in tasks:
            if t not in done:
                r = call(a.base, a.key, "GET", f"/v1/tasks/{t}")
                if r["status"] in ("succeeded", "failed"):
                    done[t] = r
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    chunks = sum(r["progress"]["chunks"] for r in done.values())
    failed = sum(r["progress"]["failed"] for r in done.values())
    # Why items failed: each distinct message once, with how many items gave it.
    errors = {}
    for r in done.values():
        for it in r.get("items", []):
            if it.get("error"):
                errors[it["error"]] = errors.get(it["error"], 0) + 1
    print(json.dumps({"documents": len(files), "chunks": chunks, "failed": failed, "wall_s": round(wall, 2),
                      "documents_per_s": round(len(files) / wall, 2), "chunks_per_s": round(chunks / wall, 1),
                      "errors": errors}))


def latency(a):
    qs = [json.loads(l)["query"] for l in open(a.queries, encoding="utf-8")]
    body = lambda q: {"query": q, "k": a.k, "mode": a.mode}
    for q in qs[: a.warmup]:
        call(a.base, a.key, "POST", f"/v1/knowledge/{a.collection}/query", body(q))
    ms = []
    for q in qs:
        t0 = time.perf_counter()
        call(a.base, a.key, "POST", f"/v1/knowledge/{a.collection}/query", body(q))
        ms.append((time.perf_counter() - t0) * 1000)
    ms.sort()
    pct = lambda p: round(ms[min(len(ms) - 1, int(p * len(ms)))], 2)
    print(json.dumps({"mode": a.mode, "k": a.k, "queries": len(ms), "p50_ms": pct(0.5), "p90_ms": pct(0.9),
                      "p99_ms": pct(0.99), "mean_ms": round(statistics.mean(ms), 2)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("key")
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("ingest")
    i.add_argument("collection")
    i.add_argument("dir")
    i.add_argument("--batch", type=int, default=100)
    l = sub.add_parser("latency")
    l.add_argument("collection")
    l.add_argument("queries")
    l.add_argument("--mode", default="hybrid")
    l.add_argument("--k", type=int, default=10)
    l.add_argument("--warmup", type=int, default=20)
    a = ap.parse_args()
    ingest(a) if a.cmd == "ingest" else latency(a)


if __name__ == "__main__":
    main()
