"""The official OpenAI Python SDK against the real `atalaya` binary and the fake upstream.

Usage: openai_compat.py BIN_DIR. Starts `atalaya-fake-upstream` and `atalaya serve` on free
loopback ports, runs each check, prints 'openai-sdk: N passed, M failed' and exits non-zero on
any failure. Every process it starts is stopped on exit.
"""
import json
import math
import os
import re
import subprocess
import sys
import time

from openai import APIError, AuthenticationError, BadRequestError, NotFoundError, OpenAI

BIN = sys.argv[1]
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
KEY = "sk-sdk-check"
procs = []


def start(args, pattern, env=None):
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    procs.append(p)
    deadline = time.time() + 20
    stream = p.stderr if "fake" in args[0] else p.stdout
    while time.time() < deadline:
        line = stream.readline()
        if not line:
            raise SystemExit(f"{args[0]} exited early: {p.stderr.read()}")
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise SystemExit(f"{args[0]} did not start")


def main():
    upstream = start([f"{BIN}/atalaya-fake-upstream", "--listen", "127.0.0.1:0", "--stream-chunks", "5"],
                     r"fake upstream on (\S+)")
    env = {"PATH": os.environ.get("PATH", ""), "ATALAYA_API_KEY": KEY, "ATALAYA__LOG__LEVEL": "warn",
           "ATALAYA__ONNXRUNTIME__LIBRARY": os.path.join(REPO, "models", "onnxruntime", "libonnxruntime.so")}
    minilm = os.path.join(REPO, "models", "all-MiniLM-L6-v2", "model.onnx")
    base = start([f"{BIN}/atalaya", "serve", "--upstream", upstream, "--model", "demo",
                  "--embedding-model", minilm, "--listen", "127.0.0.1:0"],
                 r"Atalaya listening on (\S+)", env)
    client = OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0)
    msgs = [{"role": "user", "content": "Hello!"}]

    def plain():
        r = client.chat.completions.create(model="demo", messages=msgs, temperature=0.2, seed=1,
                                           extra_body={"vendor_field": {"x": 1}})
        assert r.choices[0].message.content == "Hello from the fake upstream.", r
        assert r.usage.total_tokens == 21, r.usage

    def streaming_with_usage():
        parts, usage = [], None
        for ch in client.chat.completions.create(model="demo", messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}):
            if ch.choices:
                parts.append(ch.choices[0].delta.content or "")
            if ch.usage:
                usage = ch.usage
        assert "".join(parts) == "t0 t1 t2 t3 t4 ", parts
        assert usage is not None and usage.completion_tokens == 5, usage

    def streaming_without_usage():
        chunks = list(client.chat.completions.create(model="demo", messages=msgs, stream=True))
        assert all(c.usage is None for c in chunks), "no usage chunk unless asked"
        assert chunks[-1].choices[0].finish_reason == "stop"

    def models():
        listed = {m.id: m for m in client.models.list()}
        assert sorted(listed) == ["all-minilm-l6-v2", "demo"], listed
        # Local models carry Atalaya's details as an extra field.
        assert listed["all-minilm-l6-v2"].model_extra["atalaya"]["dimensions"] == 384

    def embeddings():
        e = client.embeddings.create(model="demo", input=["a", "b"])
        assert len(e.data) == 2 and len(e.data[0].embedding) == 8

    def local_embeddings():
        # The SDK asks for base64 by default and decodes it; the vectors must still match
        # sentence-transformers' reference.
        ref = json.load(open(os.path.join(REPO, "crates/atalaya-engine/tests/data/minilm_reference.json")))
        items = ref["items"][:3]
        e = client.embeddings.create(model="all-minilm-l6-v2", input=[i["text"] for i in items])
        assert len(e.data) == 3 and e.usage.prompt_tokens == sum(i["tokens"] for i in items), e.usage
        for got, want in zip(e.data, items):
            v, w = got.embedding, want["embedding"]
            cos = sum(a * b for a, b in zip(v, w)) / (math.sqrt(sum(a * a for a in v)) * math.sqrt(sum(b * b for b in w)))
            assert len(v) == 384 and cos >= 0.9999, (want["text"], cos)
        f = client.embeddings.create(model="all-minilm-l6-v2", input="hello", encoding_format="float")
        assert len(f.data[0].embedding) == 384

    def unknown_model():
        try:
            client.chat.completions.create(model="nope", messages=msgs)
        except NotFoundError as err:
            assert err.body["code"] == "model_not_found", err.body
        else:
            raise AssertionError("expected 404")

    def invalid_request():
        try:
            client.chat.completions.create(model="demo", messages=[{"role": "robot", "content": "x"}])
        except BadRequestError as err:
            assert err.body["param"] == "messages[0].role", err.body
        else:
            raise AssertionError("expected 400")

    def bad_key():
        try:
            OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0).models.list()
        except AuthenticationError as err:
            assert err.status_code == 401
        else:
            raise AssertionError("expected 401")

    checks = [plain, streaming_with_usage, streaming_without_usage, models, embeddings, local_embeddings,
              unknown_model, invalid_request, bad_key]
    failed = 0
    for check in checks:
        try:
            check()
            print(f"ok   {check.__name__}")
        except (AssertionError, APIError) as e:
            failed += 1
            print(f"FAIL {check.__name__}: {e!r}")
    print(f"openai-sdk: {len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    sys.exit(code)
