#!/usr/bin/env python3
"""The embedded backend (SQLite + tantivy + HNSW) against the Postgres backend (pgvector +
full text), through the same API on the same documents and questions, in one run:

- retrieval quality on the demo knowledge base (demo/knowledge: 30 articles en/es/pt, 120
  labelled evaluation questions): recall@5, MRR@10, nDCG@10 for bm25, dense and hybrid
  (bench/knowledge/metrics.py, the same scoring as bench/knowledge.sh);
- query latency (hybrid, p50/p99 over every question, sequential, loopback);
- ingestion throughput: the demo articles COPIES times over under distinct names, uploaded in
  one task, documents per second from enqueue to the task's end.

usage: bench/storage.py --bin target/release/atalaya --pg-bin /usr/lib/postgresql/15/bin
       [--copies 8] [--out bench/results/storage-STAMP.json]
Starts its own throwaway Postgres (initdb in a temp directory, a loopback port; as the
`postgres` user when run as root) and its own servers; ends every process it started.
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = pathlib.Path(__file__).resolve().parent.parent
KEY = "sk-storage-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(method: str, url: str, body=None, timeout=120):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {KEY}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Postgres:
    def __init__(self, pg_bin: str):
        self.bin = pathlib.Path(pg_bin)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="atalaya-bench-pg-"))
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, user="postgres")
        self.port = free_port()
        self.run("initdb", "-D", str(self.dir / "data"), "-A", "trust", "-U", "atalaya", "-E", "UTF8",
                 "--locale=C.UTF-8", "--no-sync")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self.run("pg_ctl", "-D", str(self.dir / "data"), "-o", opts, "-l", str(self.dir / "log"), "-w", "start")
        self.url = f"postgres://atalaya@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def minilm() -> str:
    m = REPO / "models"
    return (f'[local_models.minilm]\nkind = "embedding"\npath = "{m}/all-MiniLM-L6-v2/model.onnx"\n'
            f'[onnxruntime]\nlibrary = "{m}/onnxruntime/libonnxruntime.so"\n')


class Server:
    def __init__(self, binary: str, work: pathlib.Path, name: str, storage: str, db_url: str | None):
        self.dir = work / name
        self.dir.mkdir(parents=True)
        cfg = self.dir / "atalaya.toml"
        cfg.write_text(
            f'[server]\ndata_dir = "{self.dir}/data"\n[auth]\napi_keys = ["env:KEY"]\n[log]\nlevel = "warn"\n'
            # A route is required; nothing here calls it.
            f'[upstreams.none]\nbase_url = "http://127.0.0.1:9/v1"\n[models.chat]\ntargets = [{{ upstream = "none" }}]\n'
            f"{minilm()}\n[storage]\n{storage}\n", encoding="utf-8")
        self.port = free_port()
        env = {"PATH": os.environ.get("PATH", ""), "KEY": KEY}
        if db_url:
            env["DATABASE_URL"] = db_url
        self.log = open(self.dir / "server.log", "wb")
        self.proc = subprocess.Popen([binary, "serve", "--config", str(cfg), "--listen", f"127.0.0.1:{self.port}"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=self.log, cwd=REPO)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(600):
            if self.proc.poll() is not None:
                self.log.close()
                sys.exit(f"{name}: the server exited:\n{(self.dir / 'server.log').read_text(errors='replace')[-3000:]}")
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"{name}: the server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def documents(copies: int) -> list[dict]:
    docs = []
    for copy in range(copies):
        for lang in ("en", "es", "pt"):
            for f in sorted((REPO / "demo/knowledge" / lang).iterdir()):
                source = f"{lang}/{f.name}" if copy == 0 else f"copy{copy}/{lang}/{f.name}"
                docs.append({"source": source, "content": f.read_text(encoding="utf-8"),
                             "language": lang, "tags": [lang]})
    return docs


def ingest(base: str, collection: str, docs: list[dict]) -> float:
    s, c = call("POST", f"{base}/v1/knowledge", {"name": collection, "chunking": {"max_tokens": 200}})
    assert s == 201, c
    t0 = time.perf_counter()
    s, t = call("POST", f"{base}/v1/knowledge/{collection}/documents", {"documents": docs})
    assert s == 202, t
    while True:
        s, t = call("GET", f"{base}/v1/tasks/{t['id']}")
        if t["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    assert t["status"] == "succeeded" and t["progress"]["failed"] == 0, t
    return len(docs) / elapsed


def evaluate(base: str, collection: str, questions: list[dict], mode: str, work: pathlib.Path, name: str):
    res = work / f"{name}-{mode}.jsonl"
    latencies = []
    with open(res, "w", encoding="utf-8") as out:
        for q in questions:
            t0 = time.perf_counter()
            s, r = call("POST", f"{base}/v1/knowledge/{collection}/query", {"query": q["query"], "k": 10, "mode": mode})
            latencies.append((time.perf_counter() - t0) * 1000)
            assert s == 200, r
            out.write(json.dumps({"id": q["id"], "results": [{"doc": h["source"]} for h in r["data"]]}) + "\n")
    metrics = subprocess.run(
        [sys.executable, str(REPO / "bench/knowledge/metrics.py"), str(REPO / "demo/knowledge/questions.jsonl"),
         str(res), "--mode", mode, "--split", "eval"], check=True, capture_output=True, text=True)
    m = json.loads(metrics.stdout)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return m, statistics.median(latencies), p99


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pg-bin", default="/usr/lib/postgresql/15/bin")
    ap.add_argument("--copies", type=int, default=8)
    ap.add_argument("--out", default=str(REPO / f"bench/results/storage-{time.strftime('%Y%m%d-%H%M%S')}.json"))
    a = ap.parse_args()
    questions = [json.loads(l) for l in open(REPO / "demo/knowledge/questions.jsonl", encoding="utf-8")]
    questions = [q for q in questions if q["split"] == "eval"]
    work = pathlib.Path(tempfile.mkdtemp(prefix="atalaya-bench-storage-"))
    pg = Postgres(a.pg_bin)
    servers = []
    report = {"bench": "storage", "copies": a.copies, "questions": len(questions), "backends": {}}
    try:
        for name, storage, url in (
            ("sqlite", 'backend = "sqlite"', None),
            ("postgres", 'backend = "postgres"\nurl = "env:DATABASE_URL"', pg.url),
        ):
            srv = Server(a.bin, work, name, storage, url)
            servers.append(srv)
            row = {}
            # Quality on the demo articles alone (the labelled sources), then throughput on the
            # articles many times over in a second collection.
            ingest(srv.base, "demo", documents(1))
            for mode in ("bm25", "dense", "hybrid"):
                m, p50, p99 = evaluate(srv.base, "demo", questions, mode, work, name)
                row[mode] = {"recall@5": round(m["recall@5"], 4), "mrr@10": round(m["mrr@10"], 4),
                             "ndcg@10": round(m["ndcg@10"], 4), "recall@5_by_lang": m["recall@5_by_lang"],
                             "p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}
            row["ingest_docs_per_s"] = round(ingest(srv.base, "bulk", documents(a.copies)), 2)
            report["backends"][name] = row
            srv.stop()
            servers.remove(srv)
            print(json.dumps({name: row}), file=sys.stderr)
    finally:
        for s in servers:
            s.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    s, p = report["backends"]["sqlite"], report["backends"]["postgres"]
    report["postgres_minus_sqlite"] = {
        mode: {k: round(p[mode][k] - s[mode][k], 4) for k in ("recall@5", "mrr@10", "ndcg@10")}
        for mode in ("bm25", "dense", "hybrid")}
    report["ingest_ratio_postgres_to_sqlite"] = round(p["ingest_docs_per_s"] / s["ingest_docs_per_s"], 3)
    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(a.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
