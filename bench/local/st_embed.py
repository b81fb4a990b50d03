#!/usr/bin/env python3
"""The peer: PyTorch sentence-transformers on the same texts, batches and thread count as
bench_engine embed. Prints JSON lines like it.
usage: st_embed.py MODEL_DIR TEXTS.json --threads 2 --batches 1,16,64 --repeat 3"""
import argparse
import json
import time

import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("texts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = SentenceTransformer(a.model_dir, device="cpu")
    texts = json.load(open(a.texts, encoding="utf-8"))
    for kind in ("short", "long"):
        pool = texts[kind]
        toks = sum(min(len(model.tokenizer(t)["input_ids"]), model.max_seq_length) for t in pool) // len(pool)
        model.encode(pool[:4], normalize_embeddings=True)
        for b in [int(x) for x in a.batches.split(",")]:
            rates = []
            for _ in range(a.repeat):
                t0 = time.perf_counter()
                for i in range(0, len(pool), b):
                    model.encode(pool[i:i + b], batch_size=b, normalize_embeddings=True)
                rates.append(len(pool) / (time.perf_counter() - t0))
            rates.sort()
            print(json.dumps({"bench": "embed", "engine": "sentence-transformers", "kind": kind, "batch": b,
                              "mean_tokens": toks, "sentences_per_s": rates[len(rates) // 2],
                              "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
