#!/usr/bin/env python3
"""Synthetic support documents for the knowledge-base scale benchmark, written from the real
Banking77 and CLINC150 texts (../shared/data) with a fixed seed.
  make_docs.py DATA_DIR mixed OUT_DIR [--n 1000]      1,000 mixed documents: Markdown, HTML
      (with navigation and footer boilerplate), plain text, CSV and JSON Lines FAQs
  make_docs.py DATA_DIR faq OUT_DIR [--chunks 100000] CSV FAQs, one chunk per row
  make_docs.py DATA_DIR queries OUT.jsonl [--n 500]   queries ({"id","query"}) for latency"""
import argparse
import csv
import html
import json
import os
import random


def texts(data_dir: str) -> list[str]:
    out = []
    for name in ("train.csv", "test.csv"):
        with open(os.path.join(data_dir, "banking77", name), encoding="utf-8") as f:
            out += [row["text"].strip() for row in csv.DictReader(f)]
    clinc = json.load(open(os.path.join(data_dir, "clinc150", "data_full.json"), encoding="utf-8"))
    for part in clinc.values():
        out += [t.strip() for t, _ in part]
    out = sorted(set(t for t in out if t))
    random.Random(7).shuffle(out)
    return out


def sentence(t: str) -> str:
    t = t[0].upper() + t[1:]
    return t if t[-1] in ".?!" else t + "."


def mixed(pool: list[str], out: str, n: int) -> None:
    rnd = random.Random(11)
    os.makedirs(out, exist_ok=True)
    for i in range(n):
        kind = ["md", "html", "txt", "csv", "jsonl"][i % 5]
        title = f"Support article {i}: " + sentence(rnd.choice(pool)).rstrip(".?!")
        sections = []
        for s in range(rnd.randint(3, 6)):
            head = sentence(rnd.choice(pool)).rstrip(".?!")
            paras = [" ".join(sentence(rnd.choice(pool)) for _ in range(rnd.randint(3, 7)))
                     for _ in range(rnd.randint(1, 3))]
            sections.append((head, paras))
        path = os.path.join(out, f"doc-{i:04d}.{kind}")
        if kind == "md":
            body = f"# {title}\n\n" + "\n\n".join(
                f"## {h}\n\n" + "\n\n".join(p) for h, p in sections)
        elif kind == "html":
            body = ("<html><head><title>" + html.escape(title) + "</title></head><body>"
                    "<nav><a href='/'>Home</a> <a href='/help'>Help</a></nav><article><h1>"
                    + html.escape(title) + "</h1>"
                    + "".join(f"<h2>{html.escape(h)}</h2>" + "".join(f"<p>{html.escape(x)}</p>" for x in p)
                              for h, p in sections)
                    + "</article><footer>© Nimbo. Cookies. Privacy.</footer></body></html>")
        elif kind == "txt":
            body = title + "\n\n" + "\n\n".join(h + "\n" + "\n\n".join(p) for h, p in sections)
        else:
            rows = [(sentence(rnd.choice(pool)), " ".join(sentence(rnd.choice(pool)) for _ in range(rnd.randint(1, 3))))
                    for _ in range(rnd.randint(8, 20))]
            if kind == "csv":
                with open(path, "w", encoding="utf-8", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(["question", "answer"])
                    w.writerows(rows)
                continue
            body = "\n".join(json.dumps({"question": q, "answer": a}) for q, a in rows)
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)


def faq(pool: list[str], out: str, chunks: int) -> None:
    rnd = random.Random(13)
    os.makedirs(out, exist_ok=True)
    per = 1000
    for i in range((chunks + per - 1) // per):
        with open(os.path.join(out, f"faq-{i:03d}.csv"), "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["question", "answer"])
            for _ in range(min(per, chunks - i * per)):
                w.writerow([sentence(rnd.choice(pool)), " ".join(sentence(rnd.choice(pool)) for _ in range(2))])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("what", choices=["mixed", "faq", "queries"])
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--chunks", type=int, default=100_000)
    a = ap.parse_args()
    pool = texts(a.data_dir)
    if a.what == "mixed":
        mixed(pool, a.out, a.n or 1000)
    elif a.what == "faq":
        faq(pool, a.out, a.chunks)
    else:
        rnd = random.Random(17)
        with open(a.out, "w", encoding="utf-8") as f:
            for i, q in enumerate(rnd.sample(pool, a.n or 500)):
                f.write(json.dumps({"id": str(i), "query": q}) + "\n")


if __name__ == "__main__":
    main()
