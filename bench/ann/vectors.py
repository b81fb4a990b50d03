#!/usr/bin/env python3
"""Real MiniLM embeddings of the Banking77 and CLINC150 texts (../shared/data), for the ANN
benchmark: all-MiniLM-L6-v2 from the project's wheel through sentence-transformers, unit length.
Texts are de-duplicated and shuffled with a fixed seed; the first --queries are held out as
queries, the rest is the base. Writes base.f32, queries.f32 (row-major float32) and
groundtruth.i64 (exact top-k by inner product) to OUT_DIR; skips the work when present.
usage: vectors.py MODEL_DIR DATA_DIR OUT_DIR [--queries 1000] [--k 10]"""
import argparse
import csv
import json
import os
import random

import numpy as np


def texts(data_dir: str) -> list[str]:
    out = []
    for name in ("train.csv", "test.csv"):
        with open(os.path.join(data_dir, "banking77", name), encoding="utf-8") as f:
            out += [row["text"] for row in csv.DictReader(f)]
    clinc = json.load(open(os.path.join(data_dir, "clinc150", "data_full.json"), encoding="utf-8"))
    for part in clinc.values():
        out += [t for t, _ in part]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("data_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    a = ap.parse_args()
    done = os.path.join(a.out_dir, "meta.json")
    if os.path.exists(done):
        print(open(done).read())
        return
    os.makedirs(a.out_dir, exist_ok=True)
    all_texts = sorted(set(t.strip() for t in texts(a.data_dir) if t.strip()))
    random.Random(42).shuffle(all_texts)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(a.model_dir, device="cpu")
    vecs = model.encode(all_texts, batch_size=128, normalize_embeddings=True, convert_to_numpy=True)
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    q, base = vecs[: a.queries], vecs[a.queries :]
    base.tofile(os.path.join(a.out_dir, "base.f32"))
    q.tofile(os.path.join(a.out_dir, "queries.f32"))
    # Exact top-k by inner product (= cosine on unit vectors).
    scores = q @ base.T
    gt = np.argsort(-scores, axis=1, kind="stable")[:, : a.k].astype(np.int64)
    gt.tofile(os.path.join(a.out_dir, "groundtruth.i64"))
    meta = {"texts": len(all_texts), "base": int(base.shape[0]), "queries": int(q.shape[0]),
            "dims": int(base.shape[1]), "k": a.k}
    json.dump(meta, open(done, "w"))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
