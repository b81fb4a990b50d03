#!/usr/bin/env python3
"""Concurrent streaming chat completions against an OpenAI-compatible endpoint (Atalaya or the
llama-cpp-python server), for generation throughput. Prints one JSON line.
usage: stream_load.py BASE_URL MODEL --streams N --tokens T --prompt-file F [--key K] [--rounds R]
Tokens are counted from the usage chunk when the server sends one, else one per content chunk."""
import argparse
import asyncio
import json
import time

import aiohttp


async def one(session, url, headers, body):
    t0 = time.perf_counter()
    ttft = None
    chunks = 0
    usage_tokens = None
    prompt_tokens = None
    async with session.post(url, json=body, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {await r.text()}")
        async for raw in r.content:
            line = raw.decode().strip()
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                break
            ev = json.loads(data)
            if ev.get("usage"):
                usage_tokens = ev["usage"].get("completion_tokens")
                prompt_tokens = ev["usage"].get("prompt_tokens")
            for c in ev.get("choices", []):
                if c.get("delta", {}).get("content"):
                    chunks += 1
                    if ttft is None:
                        ttft = time.perf_counter() - t0
    total = time.perf_counter() - t0
    n = usage_tokens if usage_tokens is not None else chunks
    return ttft or total, n, total, prompt_tokens


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("model")
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompt-file", required=True)
    ap.add_argument("--key", default="none")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    prompt = open(a.prompt_file, encoding="utf-8").read()
    url = a.base.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {a.key}"}
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        results = []
        t0 = time.perf_counter()
        for rnd in range(a.rounds):
            bodies = [{
                "model": a.model, "stream": True, "max_tokens": a.tokens, "temperature": 0,
                "stream_options": {"include_usage": True},
                # Distinct prompts: no prefix-cache shortcut between concurrent streams.
                "messages": [{"role": "user", "content": f"[{rnd}-{i}] {prompt}"}],
            } for i in range(a.streams)]
            results += await asyncio.gather(*(one(session, url, headers, b) for b in bodies))
        wall = time.perf_counter() - t0
    ttfts = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    # Per stream: decode rate after the first token, prompt-processing rate up to it.
    decode = sorted((r[1] - 1) / (r[2] - r[0]) for r in results if r[1] > 1 and r[2] > r[0])
    pp = sorted(r[3] / r[0] for r in results if r[3])

    def pct(p):
        return ttfts[min(len(ttfts) - 1, int(round(p * (len(ttfts) - 1))))]

    print(json.dumps({"bench": "http_stream", "label": a.label, "streams": a.streams, "requests": len(results),
                      "completion_tokens": tokens, "aggregate_tok_s": tokens / wall,
                      "ttft_p50_s": pct(0.5), "ttft_p99_s": pct(0.99), "wall_s": wall,
                      "stream_decode_tok_s_p50": decode[len(decode) // 2] if decode else None,
                      "pp_tok_s_p50": pp[len(pp) // 2] if pp else None,
                      "prompt_tokens": results[0][3],
                      "short_streams": sum(1 for r in results if r[1] < a.tokens)}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
