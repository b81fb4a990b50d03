#!/usr/bin/env python3
"""The cluster harness (standard library only; 127.0.0.1 only): three Atalaya replicas behind
nginx round robin, on one throwaway Postgres and one throwaway Redis, then:

  exact_limits     a key limited to 10 requests/minute, hit by 40 concurrent clients through
                   nginx (so spread over the replicas), gets exactly 10 x 200
  tokens_budget    a tokens-per-minute limit and a daily token budget hold across replicas
                   within the in-flight estimates
  revocation       a key revoked through one replica is refused by every replica within 1 s
                   (p50 and max over several revocations)
  replica_killed   kill -9 of the replica working a knowledge upload: another replica
                   finishes the task and every document is there
  rolling_restart  each replica in turn taken out of nginx (as a rollout removes the
                   endpoint before its pre-stop delay), sent SIGTERM, started again and put
                   back, under steady load through nginx: no failed non-streaming request;
                   every stream either completes or ends with an error event
  audit            concurrent admin actions through all replicas; `atalaya audit verify` ok
  redis_stopped    Redis killed mid-run: the replicas keep serving on their share of the limits
                   (fail_open), report it in their metrics, and share the limits again once
                   Redis is back

One JSON line per check on stdout; exit status 1 when a check fails. Every process started
here is ended here, by its pid.

--bench measures instead (bench/cluster.sh): revocation propagation over --revocations
revocations (p50, p99, max), and the aggregate throughput of 1, 2 and 3 replicas behind nginx
(wrk, interleaved rounds), with the CPU time per request of each part (replicas, nginx, the
fake upstream, Postgres, Redis) read from /proc."""
import argparse
import concurrent.futures as cf
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

SIGN = "0123456789abcdef0123456789abcdef-cluster-signing"
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def http(method, url, body=None, key=None, timeout=30):
    """(status, parsed JSON or text); connection failures are status 0."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
        return 0, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class Cluster:
    def __init__(self, bin_dir, models, root):
        self.bin = bin_dir
        self.models = models
        self.root = root
        self.procs = []  # every process started, to end
        self.admin_key = None
        self.replicas = []  # [{"port", "proc", "name"}]

    # --- processes -------------------------------------------------------------------
    def spawn(self, args, log, env=None):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "ab"), env=env,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def start_postgres(self):
        d = tempfile.mkdtemp(prefix="atalaya-cluster-pg.", dir="/tmp")
        self.pg_dir = d
        as_pg = []
        if os.geteuid() == 0:
            shutil.chown(d, user="postgres")
            as_pg = ["runuser", "-u", "postgres", "--"]
        self.as_pg = as_pg
        port = free_port()
        subprocess.run(as_pg + [f"{PG_BIN}/initdb", "-D", f"{d}/data", "-A", "trust", "-U", "atalaya",
                                "-E", "UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(as_pg + [f"{PG_BIN}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/server.log", "-w",
                                "-o", f"-p {port} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=200",
                                "start"], check=True, stdout=subprocess.DEVNULL)
        self.pg_url = f"postgres://atalaya@127.0.0.1:{port}/postgres"

    def stop_postgres(self):
        if getattr(self, "pg_dir", None):
            subprocess.run(self.as_pg + [f"{PG_BIN}/pg_ctl", "-D", f"{self.pg_dir}/data", "-m", "fast", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(self.pg_dir, ignore_errors=True)

    def start_redis(self):
        if not hasattr(self, "redis_port"):
            self.redis_port = free_port()
        self.redis = self.spawn(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", self.root],
                                f"{self.root}/redis.log")
        wait_port(self.redis_port, self.redis)

    def stop_redis(self):
        self.redis.kill()
        self.redis.wait()

    def start_fake(self):
        self.fake_port = free_port()
        p = self.spawn([f"{self.bin}/atalaya-fake-upstream", "--listen", f"127.0.0.1:{self.fake_port}",
                        "--stream-chunks", "20", "--chunk-delay-us", "25000"], f"{self.root}/fake.log")
        self.fake = p
        wait_port(self.fake_port, p)

    def write_config(self):
        m = self.models
        cfg = f"""
[server]
shutdown_grace_ms = 8000

[storage]
backend = "postgres"
url = "env:DATABASE_URL"
pool_size = 6
task_lease_ms = 3000

[coordination]
redis_url = "redis://127.0.0.1:{self.redis_port}"
expected_replicas = 3
timeout_ms = 200

[auth]
bootstrap_admin_key = "env:ATALAYA_ADMIN_KEY"

[audit]
signing_key = "env:SIGN"
anchor_every = 20

[log]
level = "warn"

[upstreams.fake]
base_url = "http://127.0.0.1:{self.fake_port}/v1"

[models.m]
targets = [{{ upstream = "fake" }}]

[local_models.minilm]
kind = "embedding"
path = "{m}/all-MiniLM-L6-v2/model.onnx"
threads = 1

[onnxruntime]
library = "{m}/onnxruntime/libonnxruntime.so"
"""
        self.config = f"{self.root}/atalaya.toml"
        with open(self.config, "w") as f:
            f.write(cfg)

    def env(self, node):
        e = {"PATH": os.environ.get("PATH", ""), "DATABASE_URL": self.pg_url, "ATALAYA_ADMIN_KEY": self.admin_key,
             "SIGN": SIGN, "ATALAYA__SERVER__DATA_DIR": f"{self.root}/{node}"}
        return e

    def cli(self, *args):
        out = subprocess.run([f"{self.bin}/atalaya", *args, "--config", self.config], env=self.env("cli"),
                             capture_output=True, text=True, timeout=120)
        return out.returncode, out.stdout, out.stderr

    def start_replica(self, i):
        r = self.replicas[i]
        r["proc"] = self.spawn([f"{self.bin}/atalaya", "serve", "--listen", f"127.0.0.1:{r['port']}",
                                "--config", self.config], f"{self.root}/{r['name']}.log", env=self.env(r["name"]))
        wait_port(r["port"], r["proc"], timeout=60)
        deadline = time.monotonic() + 30
        while http("GET", f"http://127.0.0.1:{r['port']}/readyz")[0] != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{r['name']} never became ready")
            time.sleep(0.1)

    def start_replicas(self, n=3):
        out = subprocess.run([f"{self.bin}/atalaya", "keys", "generate"], capture_output=True, text=True, check=True)
        self.admin_key = next(l.split(":", 1)[1].strip() for l in out.stdout.splitlines() if l.startswith("key:"))
        self.replicas = [{"name": f"r{i}", "port": free_port(), "proc": None} for i in range(n)]
        for i in range(n):
            self.start_replica(i)

    def start_nginx(self):
        self.nginx_port = free_port()
        d = f"{self.root}/nginx"
        os.makedirs(d, exist_ok=True)
        os.chmod(self.root, 0o755)
        servers = "\n".join(f"    server 127.0.0.1:{r['port']} max_fails=1 fail_timeout=2s;" for r in self.replicas)
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_max_body_size 20m;
  upstream atalaya {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{self.nginx_port};
    location / {{
      proxy_pass http://atalaya;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 60s;
      # A replica that refuses the connection (stopped, or draining) or answers 502/503:
      # the request goes to the next one. nginx never resends a POST that reached a
      # replica, so a request is never served twice.
      proxy_next_upstream error timeout http_502 http_503;
      proxy_next_upstream_tries 3;
    }}
  }}
}}
"""
        with open(f"{d}/nginx.conf", "w") as f:
            f.write(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        p = self.spawn([nginx, "-p", d, "-c", f"{d}/nginx.conf"], f"{d}/stderr.log")
        self.nginx = p
        wait_port(self.nginx_port, p)
        self.lb = f"http://127.0.0.1:{self.nginx_port}"

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.stop_postgres()

    # --- helpers -----------------------------------------------------------------------
    def url(self, i):
        return f"http://127.0.0.1:{self.replicas[i]['port']}"

    def admin(self, method, path, body=None, base=None):
        return http(method, (base or self.url(0)) + path, body, key=self.admin_key)

    def new_key(self, tenant, name, limits, base=None):
        s, k = self.admin("POST", f"/admin/v1/tenants/{tenant}/keys", {"name": name, "limits": limits}, base)
        assert s == 201, (s, k)
        return k

    def chat(self, base, key, max_tokens=None, timeout=30):
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        if max_tokens:
            body["max_tokens"] = max_tokens
        return http("POST", f"{base}/v1/chat/completions", body, key=key, timeout=timeout)[0]

    def metrics(self, i):
        s, text = http("GET", f"{self.url(i)}/metrics")
        return text if s == 200 else ""


def stream(base, key, timeout=30):
    """'complete' ([DONE] seen), 'error_event' (ended with an error event), or why not."""
    body = json.dumps({"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    req = urllib.request.Request(f"{base}/v1/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            last = None
            for line in r:
                line = line.strip()
                if line.startswith(b"data: "):
                    last = line[6:]
            if last == b"[DONE]":
                return "complete"
            if last and b'"error"' in last:
                return "error_event"
            return f"cut ({last[:60] if last else None})"
    except urllib.error.HTTPError as e:
        return f"http {e.code}"
    except Exception as e:  # noqa: BLE001 - any failure is the outcome being measured
        return f"failed ({e})"


# --- checks ------------------------------------------------------------------------------
def check_exact_limits(c):
    key = c.new_key("acme", "ten", {"requests_per_minute": 10})["key"]
    with cf.ThreadPoolExecutor(40) as ex:
        statuses = list(ex.map(lambda _: c.chat(c.lb, key), range(40)))
    served, limited = statuses.count(200), statuses.count(429)
    return (served, limited) == (10, 30), {"served": served, "limited": limited, "other": 40 - served - limited}


def check_tokens_budget(c):
    # Each request is estimated at its prompt plus max_tokens (50) before it is served, and
    # settled at the fake upstream's usage (21 tokens).
    tpm = c.new_key("acme", "tpm", {"tokens_per_minute": 600})["key"]
    with cf.ThreadPoolExecutor(20) as ex:
        s1 = list(ex.map(lambda _: c.chat(c.lb, tpm, max_tokens=50), range(40)))
    budget = 300
    bud = c.new_key("acme", "budget", {"tokens_per_day": budget})
    with cf.ThreadPoolExecutor(20) as ex:
        s2 = list(ex.map(lambda _: c.chat(c.lb, bud["key"], max_tokens=50), range(40)))
    time.sleep(1.5)  # usage is written within a second
    s, usage = c.admin("GET", "/admin/v1/tenants/acme/usage")
    used = None
    if s == 200:
        rows = usage.get("data", usage) if isinstance(usage, dict) else usage
        used = sum((r.get("prompt_tokens", 0) + r.get("completion_tokens", 0))
                   for r in rows if isinstance(r, dict) and r.get("key_id") == bud["id"])
    ok_tpm, ok_bud = s1.count(200), s2.count(200)
    # tokens/minute: the served requests' tokens (21 each, settled) never exceed the minute's
    # 600; the estimates of requests in flight (prompt + 50) are held until they settle.
    tpm_ok = 1 <= ok_tpm and ok_tpm * 21 <= 600 and s1.count(429) > 0
    # The budget refuses once the total reaches it: what was served stays within the budget
    # plus the estimates in flight when it was reached (20 concurrent, 21 tokens each served).
    bud_ok = ok_bud >= 1 and (ok_bud - 1) * 21 < budget + 20 * 21 and s2.count(429) > 0
    return tpm_ok and bud_ok, {"tpm_admitted_of_40": ok_tpm, "budget_admitted_of_40": ok_bud,
                               "budget_tokens": budget, "budget_used_tokens": used}


def check_revocation(c, rounds=10):
    """Revocation reaches every replica within a second."""
    delays = []
    for i in range(rounds):
        k = c.new_key("acme", f"rev{i}", {})
        for j in range(len(c.replicas)):
            assert c.chat(c.url(j), k["key"]) == 200
        src = i % len(c.replicas)
        s, _ = c.admin("DELETE", f"/admin/v1/keys/{k['id']}", base=c.url(src))
        assert s in (200, 204), s
        t0 = time.monotonic()
        pending = set(range(len(c.replicas)))
        while pending and time.monotonic() - t0 < 5:
            for j in list(pending):
                if c.chat(c.url(j), k["key"]) == 401:
                    pending.discard(j)
            time.sleep(0.01)
        delays.append(time.monotonic() - t0 if not pending else float("inf"))
    delays.sort()
    pct = lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))] * 1000)
    return delays[-1] < 1.0, {"p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(delays[-1] * 1000),
                              "rounds": rounds}


def lease_holder_port(c, task_id):
    out = subprocess.run(["psql", c.pg_url, "-XAtc", f"SELECT lease_owner FROM kb_tasks WHERE id = {task_id}"],
                         capture_output=True, text=True)
    owner = out.stdout.strip()
    if not owner:
        return None
    pid = int(owner.split("-")[0])
    for i, r in enumerate(c.replicas):
        if r["proc"] and r["proc"].pid == pid:
            return i
    return None


def check_replica_killed(c):
    member = c.new_key("acme", "kb", {})["key"]
    s, col = http("POST", f"{c.lb}/v1/knowledge", {"name": "docs"}, key=member)
    assert s == 201, (s, col)
    docs = [{"source": f"doc-{i}.md",
             "content": f"# Policy {i}\n\n" + " ".join(f"Clause {i}.{j}: returns within {j + 14} days are refunded." for j in range(40))}
            for i in range(60)]
    s, task = http("POST", f"{c.lb}/v1/knowledge/docs/documents", {"documents": docs}, key=member)
    assert s == 202, (s, task)
    tid = task["id"]
    victim = None
    deadline = time.monotonic() + 30
    while victim is None and time.monotonic() < deadline:
        victim = lease_holder_port(c, tid)
        time.sleep(0.02)
    if victim is None:
        return False, {"error": "no replica took the task"}
    c.replicas[victim]["proc"].kill()
    c.replicas[victim]["proc"].wait()
    killed_at = time.monotonic()
    status = None
    while time.monotonic() - killed_at < 120:
        s, t = http("GET", f"{c.lb}/v1/tasks/{tid}", key=member)
        if s == 200 and t["status"] in ("succeeded", "failed"):
            status = t
            break
        time.sleep(0.2)
    took = time.monotonic() - killed_at
    c.start_replica(victim)
    if status is None:
        return False, {"error": "the task never finished"}
    s, listed = http("GET", f"{c.lb}/v1/knowledge/docs/documents?limit=100", key=member)
    n = len(listed.get("data", [])) if s == 200 else -1
    ok = status["status"] == "succeeded" and n == len(docs) and status["progress"]["failed"] == 0
    return ok, {"killed": c.replicas[victim]["name"], "task": status["status"], "documents": n,
                "expected": len(docs), "finished_after_s": round(took, 1)}


def check_rolling_restart(c):
    key = c.new_key("acme", "load", {})["key"]
    stop = threading.Event()
    results, streams = [], []

    def steady():
        while not stop.is_set():
            results.append(c.chat(c.lb, key))

    def streaming():
        while not stop.is_set():
            streams.append(stream(c.lb, key))

    workers = [threading.Thread(target=steady) for _ in range(4)] + [threading.Thread(target=streaming) for _ in range(2)]
    for w in workers:
        w.start()
    time.sleep(1)
    restarts = []
    everyone = list(range(len(c.replicas)))
    for i in everyone:
        # As a Kubernetes rollout does (the endpoint removed, then the pre-stop delay, then
        # SIGTERM): nginx stops sending new requests to the replica first, so none lands in
        # its accept queue as it closes; what it already has drains.
        set_nginx_replicas(c, 0, only=[j for j in everyone if j != i])
        p = c.replicas[i]["proc"]
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
        c.start_replica(i)
        restarts.append(round(time.monotonic() - t0, 1))
        set_nginx_replicas(c, 0, only=everyone)
    stop.set()
    for w in workers:
        w.join()
    failed = [s for s in results if s != 200]
    bad_streams = [s for s in streams if s not in ("complete", "error_event")]
    ok = not failed and not bad_streams and len(results) > 0
    return ok, {"requests": len(results), "failed": len(failed), "failures": sorted(set(failed))[:5],
                "streams": len(streams), "streams_with_error_event": streams.count("error_event"),
                "streams_cut": bad_streams[:3], "restart_s": restarts}


def check_audit(c):
    def act(i):
        base = c.url(i % len(c.replicas))
        t = f"team{i}"
        s, _ = c.admin("POST", "/admin/v1/tenants", {"id": t, "name": f"Team {i}"}, base)
        k = c.new_key(t, "k", {}, base)
        s2, _ = c.admin("DELETE", f"/admin/v1/keys/{k['id']}", base=c.url((i + 1) % len(c.replicas)))
        return s == 201 and s2 in (200, 204)

    with cf.ThreadPoolExecutor(9) as ex:
        done = list(ex.map(act, range(18)))
    code, out, err = c.cli("audit", "verify")
    verified = code == 0
    s, v = c.admin("GET", "/admin/v1/audit/verify", base=c.url(2))
    return all(done) and verified and s == 200 and v.get("ok") is True, {
        "admin_actions": len(done) * 3, "cli_verify_exit": code, "api_verify_ok": v.get("ok") if isinstance(v, dict) else v,
        "detail": (out + err).strip()[-200:] if not verified else ""}


def check_redis_stopped(c):
    key = c.new_key("acme", "share", {"requests_per_minute": 30})["key"]
    c.stop_redis()
    t0 = time.monotonic()
    # fail_open with 3 expected replicas: each counts 30 / 3 = 10 on its own.
    statuses = [c.chat(c.url(0), key) for _ in range(14)]
    served = statuses.count(200)
    latency = (time.monotonic() - t0) / len(statuses)
    down_seen = any("atalaya_coordination_up 0" in c.metrics(0) for _ in range(30) if not time.sleep(0.1))
    c.start_redis()
    back = time.monotonic()
    up = False
    other = c.new_key("acme", "after", {"requests_per_minute": 600})["key"]
    while time.monotonic() - back < 10:
        for i in range(len(c.replicas)):
            c.chat(c.url(i), other)
        time.sleep(1.1)  # the metrics are refreshed every second
        if all("atalaya_coordination_up 1" in c.metrics(i) for i in range(len(c.replicas))):
            up = True
            break
    recovered = time.monotonic() - back
    # Shared again: a fresh key of 5/minute gets exactly 5 over the three replicas.
    fresh = c.new_key("acme", "fresh", {"requests_per_minute": 5})["key"]
    with cf.ThreadPoolExecutor(15) as ex:
        again = list(ex.map(lambda i: c.chat(c.url(i % 3), fresh), range(15)))
    ok = served == 10 and down_seen and up and again.count(200) == 5
    return ok, {"served_of_14_while_down": served, "mean_request_ms_while_down": round(latency * 1000, 1),
                "metric_down_seen": down_seen, "recovered_after_s": round(recovered, 1),
                "shared_again_ok_of_15": again.count(200)}


CHECKS = [
    ("exact_limits", check_exact_limits),
    ("tokens_budget", check_tokens_budget),
    ("revocation", check_revocation),
    ("audit", check_audit),
    ("replica_killed", check_replica_killed),
    ("rolling_restart", check_rolling_restart),
    ("redis_stopped", check_redis_stopped),
]


# --- benchmarks --------------------------------------------------------------------------
def cpu_seconds(pid):
    """User + system CPU time of a process, in seconds (0 when it is gone)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                fields = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def parts(c, n):
    """Process ids of each part, for CPU accounting."""
    nginx = [c.nginx.pid] + children(c.nginx.pid)
    postmaster = int(open(f"{c.pg_dir}/data/postmaster.pid").readline())
    return {
        "replicas": [r["proc"].pid for r in c.replicas[:n]],
        "nginx": nginx,
        "fake_upstream": [c.fake.pid],
        "postgres": [postmaster] + children(postmaster),
        "redis": [c.redis.pid],
    }


def set_nginx_replicas(c, n, only=None):
    conf = f"{c.root}/nginx/nginx.conf"
    text = open(conf).read()
    lines = [l for l in text.splitlines() if "max_fails=1" not in l]
    at = next(i for i, l in enumerate(lines) if l.strip() == "upstream atalaya {")
    chosen = [c.replicas[i] for i in only] if only is not None else c.replicas[:n]
    servers = [f"    server 127.0.0.1:{r['port']} max_fails=1 fail_timeout=2s;" for r in chosen]
    lines[at + 1:at + 1] = servers
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    c.nginx.send_signal(signal.SIGHUP)
    time.sleep(1.0)


def wrk(url, key, seconds, conns=64):
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "-s", "bench/lua/chat.lua",
                          "-H", f"Authorization: Bearer {key}", url],
                         capture_output=True, text=True, env={**os.environ, "BENCH_BODY": json.dumps(
                             {"model": "m", "messages": [{"role": "user", "content": "Hello, how are you?"}]})})
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCH ")), "")
    kv = dict(x.split("=", 1) for x in line.split()[1:])
    errors = sum(int(kv.get(k, 0)) for k in ("err_connect", "err_read", "err_write", "err_timeout", "err_status"))
    return float(kv.get("rps", 0)), int(kv.get("requests", 0)), int(kv.get("p99_us", 0)), errors


def bench(c, a):
    r = check_revocation(c, rounds=a.revocations)[1]
    print(json.dumps({"bench": "revocation propagation", **r}), flush=True)
    key = c.new_key("acme", "wrk", {"requests_per_minute": 1_000_000_000, "tokens_per_minute": 10**12})["key"]
    results = {n: [] for n in (1, 2, 3)}
    for rnd in range(a.rounds):
        order = [1, 2, 3] if rnd % 2 == 0 else [3, 2, 1]
        for n in order:
            set_nginx_replicas(c, n)
            wrk(f"{c.lb}/v1/chat/completions", key, 2)  # warm-up
            p = parts(c, n)
            before = {k: sum(cpu_seconds(x) for x in v) for k, v in p.items()}
            rps, requests, p99, errors = wrk(f"{c.lb}/v1/chat/completions", key, a.duration)
            after = {k: sum(cpu_seconds(x) for x in v) for k, v in parts(c, n).items()}
            cpu_us = {k: round((after[k] - before[k]) / max(requests, 1) * 1e6, 1) for k in before}
            results[n].append({"rps": rps, "p99_ms": p99 / 1000, "errors": errors, "cpu_us_per_request": cpu_us})
            print(json.dumps({"bench": "replicas behind nginx", "round": rnd + 1, "replicas": n, "rps": rps,
                              "p99_ms": p99 / 1000, "errors": errors, "cpu_us_per_request": cpu_us}), flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    summary = {}
    for n, rs in results.items():
        summary[n] = {"median_rps": med([x["rps"] for x in rs]),
                      "cpu_us_per_request": {k: med([x["cpu_us_per_request"][k] for x in rs]) for k in rs[0]["cpu_us_per_request"]}}
    base = summary[1]["median_rps"] or 1
    print(json.dumps({"bench": "replicas behind nginx, medians", "rounds": a.rounds, "duration_s": a.duration,
                      **{f"{n}_replicas": {**v, "vs_1": round(v["median_rps"] / base, 3)} for n, v in summary.items()}}),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory of the atalaya and atalaya-fake-upstream binaries")
    ap.add_argument("--models", required=True)
    ap.add_argument("--only", default="", help="comma-separated checks to run")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (logs)")
    ap.add_argument("--bench", action="store_true", help="measure instead of checking (bench/cluster.sh)")
    ap.add_argument("--revocations", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="atalaya-cluster.", dir="/tmp")
    c = Cluster(a.bin, a.models, root)
    failed = []
    try:
        c.start_postgres()
        c.start_redis()
        c.start_fake()
        c.write_config()
        c.start_replicas(3)
        c.start_nginx()
        s, t = c.admin("POST", "/admin/v1/tenants", {"id": "acme", "name": "Acme"})
        assert s == 201, (s, t)
        if a.bench:
            bench(c, a)
            return
        only = set(filter(None, a.only.split(",")))
        for name, check in CHECKS:
            if only and name not in only:
                continue
            t0 = time.monotonic()
            try:
                ok, detail = check(c)
            except Exception as e:  # noqa: BLE001 - a crashed check is a failed check
                ok, detail = False, {"error": repr(e)}
            print(json.dumps({"check": name, "ok": ok, "seconds": round(time.monotonic() - t0, 1), **detail}),
                  flush=True)
            if not ok:
                failed.append(name)
    finally:
        c.stop_all()
        if failed or a.keep:
            print(f"logs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if failed:
        print(f"cluster: failed: {', '.join(failed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
