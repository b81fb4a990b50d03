#!/usr/bin/env python3
"""Concurrent /v1/embeddings requests against Atalaya, for micro-batching throughput over HTTP.
Each of C clients sends R requests of B texts taken round-robin from the short or long pool.
Prints one JSON line per (kind, clients, batch).
usage: embed_load.py BASE_URL MODEL TEXTS.json --key K --clients 1,8 --batches 1,16 --rounds 8"""
import argparse
import asyncio
import json
import time

import aiohttp


async def client(session, url, headers, model, pool, batch, rounds, offset):
    lat = []
    for r in range(rounds):
        start = (offset * rounds + r) * batch
        texts = [pool[(start + i) % len(pool)] for i in range(batch)]
        t0 = time.perf_counter()
        async with session.post(url, json={"model": model, "input": texts}, headers=headers) as resp:
            body = await resp.json()
            if resp.status != 200 or len(body.get("data", [])) != batch:
                raise RuntimeError(f"HTTP {resp.status}: {body}")
        lat.append(time.perf_counter() - t0)
    return lat


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("model")
    ap.add_argument("texts")
    ap.add_argument("--key", default="none")
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--rounds", type=int, default=8)
    a = ap.parse_args()
    texts = json.load(open(a.texts, encoding="utf-8"))
    url = a.base.rstrip("/") + "/embeddings"
    headers = {"Authorization": f"Bearer {a.key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as session:
        await client(session, url, headers, a.model, texts["short"], 4, 1, 0)  # warm-up
        for kind in ("short", "long"):
            for c in [int(x) for x in a.clients.split(",")]:
                for b in [int(x) for x in a.batches.split(",")]:
                    t0 = time.perf_counter()
                    lats = await asyncio.gather(*[
                        client(session, url, headers, a.model, texts[kind], b, a.rounds, k) for k in range(c)])
                    wall = time.perf_counter() - t0
                    flat = sorted(x for l in lats for x in l)
                    print(json.dumps({"bench": "embed_http", "engine": "atalaya", "kind": kind, "clients": c,
                                      "batch": b, "sentences_per_s": c * b * a.rounds / wall,
                                      "p50_ms": 1000 * flat[len(flat) // 2],
                                      "p99_ms": 1000 * flat[min(len(flat) - 1, int(len(flat) * 0.99))]}),
                          flush=True)


if __name__ == "__main__":
    asyncio.run(main())
