#!/usr/bin/env python3
"""Concurrent SSE streaming benchmark for an OpenAI-compatible endpoint (loopback use).

Opens C concurrent `stream: true` chat completions, reads every `data:` event and checks that each
stream carries the content chunks "t0 ", "t1 ", ..., "t{N-1} " exactly in that order, one per event
(the shape atalaya-fake-upstream sends), a finish_reason, and then `data: [DONE]` as the last event.

Reports streams OK/failed (with reasons), time to first byte (request sent -> first `data:` line)
p50/p99/max, total duration and content chunks/s. Exit status 0 only if every stream was OK.

Run it with the bench venv (bench/setup.sh):
  ~/.cache/atalaya-bench/venv/bin/python bench/stream_bench.py \
      --base-url http://127.0.0.1:18081/v1 --key sk-bench --model mock-gpt -c 256 -n 200
"""
import argparse
import asyncio
import collections
import json
import math
import sys
import time

import aiohttp

PROMPT = [{"role": "user", "content": "Hello, how are you?"}]


def percentile(values, p):
    """Nearest-rank percentile of a list (None if empty)."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


class Stream:
    __slots__ = ("ok", "reason", "ttfb", "end", "chunks", "contents", "done", "after_done", "finish", "error")

    def __init__(self):
        self.ok = False
        self.reason = ""
        self.ttfb = None  # seconds from request send to the first data: line
        self.end = None  # perf_counter() when the stream finished
        self.chunks = 0  # content chunks received
        self.contents = []
        self.done = False
        self.after_done = False
        self.finish = False
        self.error = None

    def on_event(self, data):
        if self.done:
            self.after_done = True
            return
        if data == b"[DONE]":
            self.done = True
            return
        try:
            obj = json.loads(data)
        except ValueError:
            self.error = self.error or f"invalid JSON event: {data[:80]!r}"
            return
        if not isinstance(obj, dict):
            self.error = self.error or f"unexpected event: {data[:80]!r}"
            return
        if "error" in obj:
            self.error = self.error or f"error event: {json.dumps(obj)[:160]}"
            return
        for choice in obj.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content:
                self.contents.append(content)
                self.chunks += 1
            if choice.get("finish_reason"):
                self.finish = True

    def verify(self, expected):
        if self.error:
            return self.error
        if self.contents != expected:
            if "".join(self.contents) == "".join(expected):
                return "content intact but re-chunked (event boundaries changed)"
            for i, (got, want) in enumerate(zip(self.contents, expected)):
                if got != want:
                    return f"chunk {i}: got {got!r}, expected {want!r}"
            return f"got {len(self.contents)} content chunks, expected {len(expected)}"
        if not self.finish:
            return "no finish_reason"
        if not self.done:
            return "no [DONE]"
        if self.after_done:
            return "events after [DONE]"
        return None


async def one_stream(session, url, headers, body, expected, gate):
    st = Stream()
    await gate.wait()
    t0 = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                text = (await resp.text())[:160]
                st.reason = f"HTTP {resp.status}: {text}"
                st.end = time.perf_counter()
                return st
            buf = b""
            event = []  # data: lines of the event being read
            async for block in resp.content.iter_any():
                if st.ttfb is None and b"data:" in (buf + block):
                    st.ttfb = time.perf_counter() - t0
                buf += block
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.endswith(b"\r"):
                        line = line[:-1]
                    if not line:  # blank line: dispatch the event
                        if event:
                            st.on_event(b"\n".join(event))
                            event = []
                    elif line.startswith(b"data:"):
                        v = line[5:]
                        event.append(v[1:] if v.startswith(b" ") else v)
                    # comments (":") and other fields (event:, id:, retry:) are ignored
            if buf.startswith(b"data:"):
                v = buf[5:].rstrip(b"\r")
                event.append(v[1:] if v.startswith(b" ") else v)
            if event:
                st.on_event(b"\n".join(event))
    except asyncio.TimeoutError:
        st.reason = "timeout"
    except aiohttp.ClientError as e:
        st.reason = f"{type(e).__name__}: {e}"[:160]
    st.end = time.perf_counter()
    if not st.reason:
        st.reason = st.verify(expected) or ""
    st.ok = not st.reason
    st.contents = None  # free memory early
    return st


async def run(args):
    url = args.base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    for h in args.header:
        k, _, v = h.partition(":")
        headers[k.strip()] = v.strip()
    body = json.dumps({"model": args.model, "stream": True, "messages": PROMPT}).encode()
    expected = [f"t{i} " for i in range(args.chunks)]
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
        if args.warmup:
            gate = asyncio.Event()
            gate.set()
            await asyncio.gather(*(one_stream(session, url, headers, body, expected, gate)
                                   for _ in range(args.warmup)))
        gate = asyncio.Event()
        tasks = [asyncio.ensure_future(one_stream(session, url, headers, body, expected, gate))
                 for _ in range(args.concurrency)]
        await asyncio.sleep(0.05)  # let every task reach the gate
        start = time.perf_counter()
        gate.set()
        streams = await asyncio.gather(*tasks)
    end = max(s.end for s in streams)
    duration = end - start
    ok = [s for s in streams if s.ok]
    ttfb = [s.ttfb for s in streams if s.ttfb is not None]
    chunks = sum(s.chunks for s in streams)
    reasons = collections.Counter(s.reason for s in streams if not s.ok)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return {
        "label": args.label,
        "url": url,
        "concurrency": args.concurrency,
        "chunks_per_stream": args.chunks,
        "streams_ok": len(ok),
        "streams_failed": len(streams) - len(ok),
        "failure_reasons": reasons.most_common(5),
        "ttfb_ms": {"p50": ms(percentile(ttfb, 50)), "p99": ms(percentile(ttfb, 99)),
                    "max": ms(max(ttfb) if ttfb else None), "n": len(ttfb)},
        "duration_s": round(duration, 4),
        "content_chunks": chunks,
        "chunks_per_s": round(chunks / duration, 1) if duration > 0 else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:18081/v1")
    ap.add_argument("--key", default="", help="Bearer key")
    ap.add_argument("--model", default="mock-gpt")
    ap.add_argument("-c", "--concurrency", type=int, default=256)
    ap.add_argument("-n", "--chunks", type=int, default=200, help="content chunks the upstream sends per stream")
    ap.add_argument("-H", "--header", action="append", default=[], help="extra header 'Name: value'")
    ap.add_argument("--timeout", type=float, default=120, help="per-stream total timeout, seconds")
    ap.add_argument("--warmup", type=int, default=0, help="streams to run (unmeasured) before the test")
    ap.add_argument("--label", default="")
    ap.add_argument("--json-out", help="also write the result as JSON to this file")
    args = ap.parse_args()
    if not args.base_url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        sys.exit("refusing a non-loopback base URL")
    try:
        import uvloop  # optional, faster client
        uvloop.install()
    except ImportError:
        pass
    r = asyncio.run(run(args))
    t = r["ttfb_ms"]
    print(f"{r['label'] or r['url']}: {r['streams_ok']}/{r['concurrency']} streams OK, "
          f"{r['streams_failed']} failed; TTFB p50 {t['p50']} ms, p99 {t['p99']} ms, max {t['max']} ms; "
          f"{r['duration_s']} s total, {r['content_chunks']} chunks, {r['chunks_per_s']} chunks/s")
    for reason, n in r["failure_reasons"]:
        print(f"  {n} x {reason}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(r, f, indent=1)
    sys.exit(0 if r["streams_failed"] == 0 else 1)


if __name__ == "__main__":
    main()
