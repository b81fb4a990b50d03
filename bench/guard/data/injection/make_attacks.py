#!/usr/bin/env python3
"""Build attacks_test.jsonl from the hand-written attacks_*.py files.

HELD-OUT TEST SET: measures recall of the prompt-injection detector on
attacks. Never use it for training, threshold tuning or rule writing.

Usage: python3 make_attacks.py   (standard library only; writes next to itself)
"""
import collections
import importlib
import json
import os
import sys

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

LANGS = ["en", "es", "pt", "mixed"]
OUT = os.path.join(HERE, "attacks_test.jsonl")


def build_rows():
    rows = []
    for lang in LANGS:
        mod = importlib.import_module("attacks_" + lang)
        for source, items in (("direct", mod.DIRECT), ("indirect", mod.INDIRECT)):
            for technique, text in items:
                assert isinstance(technique, str) and technique, (lang, text)
                assert isinstance(text, str) and text.strip(), (lang, technique)
                rows.append({
                    "text": text,
                    "lang": lang,
                    "source": source,
                    "technique": technique,
                    "label": 1,
                })
    return rows


def main():
    rows = build_rows()
    seen = {}
    for i, r in enumerate(rows):
        key = r["text"]
        if key in seen:
            raise SystemExit(f"duplicate text in rows {seen[key]} and {i}: {key[:80]!r}")
        seen[key] = i
    with open(OUT, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    # Re-read and validate every line.
    counts = collections.Counter()
    techs = collections.Counter()
    with open(OUT, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            r = json.loads(line)
            assert set(r) == {"text", "lang", "source", "technique", "label"}, n
            assert r["lang"] in LANGS and r["source"] in ("direct", "indirect"), n
            assert r["label"] == 1, n
            counts[(r["lang"], r["source"])] += 1
            techs[(r["source"], r["technique"])] += 1
    print(f"wrote {n} rows to {OUT}")
    for lang in LANGS:
        print(f"  {lang:6s} direct={counts[(lang, 'direct')]:3d} indirect={counts[(lang, 'indirect')]:3d}")
    print("techniques:")
    for (src, t), c in sorted(techs.items()):
        print(f"  {src:8s} {t:24s} {c}")


if __name__ == "__main__":
    main()
