#!/usr/bin/env python3
"""Mixed traffic against a running Atalaya for a fixed time, sampling the server's resident
memory and open file descriptors. Standard library only; talks to 127.0.0.1.

  drive.py --base http://127.0.0.1:PORT --key KEY --pid PID --seconds 1800 --out DIR

Traffic (each kind on its own threads, in closed loops with short pauses):
  chat     non-streamed chat completions on a guarded route, PII in every other message
  stream   streamed chat completions, read to [DONE]
  upload   batches of 3 documents from a pool of 150 sources (so documents are replaced, and
           the knowledge base stays the same size), and a deletion now and then
  query    hybrid knowledge queries
  ticket   tickets through a pipeline (language, guard, retrieval, generation)
Writes samples.csv (t, rss_kb, fds, data_kb) and summary.json into --out, prints the summary,
and exits 1 if a request failed with a 5xx or a transport error, or if memory or descriptors
kept growing (see `verdict`; memory is judged on runs of 5 minutes or more).
"""
import argparse, http.client, json, os, random, threading, time, urllib.parse

p = argparse.ArgumentParser()
p.add_argument("--base", required=True)
p.add_argument("--key", required=True)
p.add_argument("--pid", type=int, required=True)
p.add_argument("--seconds", type=int, default=1800)
p.add_argument("--data", default="")
p.add_argument("--out", required=True)
a = p.parse_args()
u = urllib.parse.urlparse(a.base)
HOST, PORT = u.hostname, u.port
stop = time.monotonic() + a.seconds
lock = threading.Lock()
counts, failures = {}, {}


def note(kind, status):
    with lock:
        counts.setdefault(kind, {}).setdefault(str(status), 0)
        counts[kind][str(status)] += 1
        if not isinstance(status, int) or status >= 500:
            failures[kind] = failures.get(kind, 0) + 1


def call(method, path, body=None, stream=False, timeout=60):
    c = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data, headers={
            "Authorization": "Bearer " + a.key, "Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        return r.status, raw
    finally:
        c.close()


NAMES = ["Itziar Goikoetxea", "João Pereira da Silva", "Mary O'Neill", "Lucía Fernández"]
TOPICS = ["roaming", "refunds", "invoices", "passwords", "deliveries", "plans"]


def doc(i, version):
    t = TOPICS[i % len(TOPICS)]
    return {"source": f"soak/{t}-{i:03d}.md", "language": "en",
            "content": f"# {t.title()} {i}\n\nVersion {version}. How {t} work for plan {i}: open the app, "
                       f"choose {t}, and confirm. It takes {i % 7 + 1} days.\n\n## Notes\n\n"
                       + f"Customers on plan {i} see a different menu for {t}. " * 8}


def worker(kind, pause):
    rnd = random.Random(hash(kind) ^ threading.get_ident())
    n = 0
    while time.monotonic() < stop:
        n += 1
        try:
            if kind == "chat":
                name = rnd.choice(NAMES)
                text = f"Hi, I'm {name}, phone +34 612 345 {n % 1000:03d}. Where is my order {n}?" if n % 2 else f"What is the refund policy? ({n})"
                s, _ = call("POST", "/v1/chat/completions", {"model": "mock-gpt", "messages": [{"role": "user", "content": text}]})
            elif kind == "stream":
                s, raw = call("POST", "/v1/chat/completions", {"model": "mock-gpt", "stream": True,
                              "messages": [{"role": "user", "content": f"Tell me about plans ({n})"}]})
                if s == 200 and not raw.rstrip().endswith(b"data: [DONE]"):
                    s = "incomplete_stream"
            elif kind == "upload":
                if n % 10 == 0:
                    st, raw = call("GET", "/v1/knowledge/soak/documents")
                    docs = json.loads(raw).get("data", []) if st == 200 else []
                    if docs:
                        victim = rnd.choice(docs)["id"]
                        s, _ = call("DELETE", f"/v1/knowledge/soak/documents/{victim}")
                    else:
                        s = st
                else:
                    batch = [doc(rnd.randrange(150), n) for _ in range(3)]
                    s, _ = call("POST", "/v1/knowledge/soak/documents", {"documents": batch})
            elif kind == "query":
                t = rnd.choice(TOPICS)
                s, _ = call("POST", "/v1/knowledge/soak/query", {"query": f"how do {t} work on plan {rnd.randrange(150)}", "k": 5})
            elif kind == "ticket":
                s, _ = call("POST", "/v1/tickets", {"body": f"Hola, soy {rnd.choice(NAMES)}. My {rnd.choice(TOPICS)} do not work since yesterday, order {n}. Gracias"})
        except Exception as e:  # a refused or broken connection is a failure
            s = "transport"
        note(kind, s)
        time.sleep(pause)


def sampler(rows):
    t0 = time.monotonic()
    while time.monotonic() < stop:
        try:
            rss = next(int(l.split()[1]) for l in open(f"/proc/{a.pid}/status") if l.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{a.pid}/fd"))
        except (OSError, StopIteration):
            rows.append((round(time.monotonic() - t0), -1, -1, -1))
            return
        size = 0
        if a.data:
            for root, _, files in os.walk(a.data):
                for f in files:
                    try:
                        size += os.path.getsize(os.path.join(root, f))
                    except OSError:
                        pass
        rows.append((round(time.monotonic() - t0), rss, fds, size // 1024))
        time.sleep(10)


s, raw = call("POST", "/v1/knowledge", {"name": "soak"})
assert s in (201, 409), raw
rows = []
threads = [threading.Thread(target=sampler, args=(rows,))]
for kind, k, pause in [("chat", 2, 0.02), ("stream", 2, 0.05), ("upload", 1, 1.0), ("query", 1, 0.1), ("ticket", 1, 0.2)]:
    threads += [threading.Thread(target=worker, args=(kind, pause)) for _ in range(k)]
for t in threads:
    t.start()
for t in threads:
    t.join()

os.makedirs(a.out, exist_ok=True)
with open(os.path.join(a.out, "samples.csv"), "w") as f:
    f.write("t_s,rss_kb,fds,data_kb\n")
    for r in rows:
        f.write(",".join(map(str, r)) + "\n")
alive = rows and rows[-1][1] >= 0
good = [r for r in rows if r[1] >= 0]


def at(frac):
    """The sample nearest to this fraction of the run."""
    return min(good, key=lambda r: abs(r[0] - frac * a.seconds))


warm, mid, end = at(1 / 6), at(1 / 2), good[-1]


def median_rss(lo, hi):
    """Median VmRSS of the samples between these fractions of the run (one sample is noise)."""
    xs = sorted(r[1] for r in good if lo * a.seconds <= r[0] <= hi * a.seconds) or [end[1]]
    return xs[len(xs) // 2]


# After warm-up (the first sixth), memory may settle but must not keep climbing: the last
# third's median is within 10% of the middle third's, and within 1.5x of the second sixth's.
# Runs shorter than 5 minutes are too short to judge memory (not failed on it).
m_warm, m_mid, m_end = median_rss(1 / 6, 1 / 3), median_rss(1 / 3, 2 / 3), median_rss(2 / 3, 1)
judged = a.seconds >= 300
verdict = {
    "server_alive": bool(alive),
    "no_failures": not failures,
    "rss_bounded": (m_end <= m_mid * 1.10 and m_end <= m_warm * 1.5) if judged else None,
    "fds_bounded": end[2] <= warm[2] + 32 and max(r[2] for r in good) <= warm[2] + 64,
}
summary = {
    "seconds": a.seconds,
    "requests": {k: sum(v.values()) for k, v in counts.items()},
    "statuses": counts,
    "failures": failures,
    "rss_mb": {"warm": round(warm[1] / 1024, 1), "mid": round(mid[1] / 1024, 1), "end": round(end[1] / 1024, 1),
               "max": round(max(r[1] for r in good) / 1024, 1),
               "median_second_sixth": round(m_warm / 1024, 1), "median_middle_third": round(m_mid / 1024, 1),
               "median_last_third": round(m_end / 1024, 1)},
    "fds": {"warm": warm[2], "mid": mid[2], "end": end[2], "max": max(r[2] for r in good)},
    "data_mb": {"warm": round(warm[3] / 1024, 1), "end": round(end[3] / 1024, 1)},
    "verdict": verdict,
}
with open(os.path.join(a.out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
print(json.dumps(summary, indent=2))
raise SystemExit(0 if all(v is not False for v in verdict.values()) else 1)
