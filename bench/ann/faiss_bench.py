#!/usr/bin/env python3
"""The peer: faiss HNSW (IndexHNSWFlat, inner product) on the vectors of vectors.py, with the
same M / efConstruction / efSearch as Atalaya. Builds on --build-threads, searches on one
thread (all queries in one call: faiss's fastest path). Prints one JSON line.
usage: faiss_bench.py DIR --m 16 --ef-construction 128 --ef-search 64 --k 10 --repeat 5"""
import argparse
import json
import os
import statistics
import time

import faiss
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=128)
    ap.add_argument("--ef-search", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build-threads", type=int, default=2)
    a = ap.parse_args()
    meta = json.load(open(os.path.join(a.dir, "meta.json")))
    d = meta["dims"]
    base = np.fromfile(os.path.join(a.dir, "base.f32"), dtype=np.float32).reshape(-1, d)
    q = np.fromfile(os.path.join(a.dir, "queries.f32"), dtype=np.float32).reshape(-1, d)
    gt = np.fromfile(os.path.join(a.dir, "groundtruth.i64"), dtype=np.int64).reshape(len(q), -1)
    faiss.omp_set_num_threads(a.build_threads)
    index = faiss.IndexHNSWFlat(d, a.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = a.ef_construction
    t0 = time.perf_counter()
    index.add(base)
    build_s = time.perf_counter() - t0
    faiss.omp_set_num_threads(1)
    index.hnsw.efSearch = a.ef_search
    rates = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        _, ids = index.search(q, a.k)
        rates.append(len(q) / (time.perf_counter() - t0))
    hits = sum(len(set(ids[i]) & set(gt[i, : a.k])) for i in range(len(q)))
    print(json.dumps({
        "engine": f"faiss {faiss.__version__} IndexHNSWFlat",
        "base": len(base), "queries": len(q), "dims": d, "m": a.m,
        "ef_construction": a.ef_construction, "ef_search": a.ef_search, "k": a.k,
        "build_threads": a.build_threads, "build_s": round(build_s, 3),
        f"recall@{a.k}": round(hits / (len(q) * a.k), 4),
        "qps_1_thread_median": round(statistics.median(rates), 1),
        "qps_runs": [round(r, 1) for r in rates],
    }))


if __name__ == "__main__":
    main()
