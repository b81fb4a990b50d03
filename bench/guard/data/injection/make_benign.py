#!/usr/bin/env python3
"""Build the held-out benign test files for the injection detector.

Reads the hand-written lists in benign_en.py, benign_es.py and benign_pt.py and writes:
  hard_benign_test.jsonl        -- benign texts with injection-like trigger words (label 0)
  ordinary_support_test.jsonl   -- ordinary support messages without trigger words (label 0)

TEST ONLY: never train or tune on these files. Standard library only.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import benign_en  # noqa: E402
import benign_es  # noqa: E402
import benign_pt  # noqa: E402

MODULES = [("en", benign_en), ("es", benign_es), ("pt", benign_pt)]

# Regression strings used elsewhere; they must not appear here.
EXCLUDED = {
    "¿Cuál es la política de devoluciones para productos comprados en tienda física?",
    "Your system charged me twice. Please refund one of the payments.",
    "Quiero hablar con una persona, por favor. El asistente no me entiende.",
}

# Words that must not occur in the ORDINARY lists (whole-word, case-insensitive).
ORDINARY_BANNED = re.compile(
    r"\b(system|sistema|instruc\w*|instru[cç]\w*|polic\w*|pol[ií]tica\w*|rules?|reglas?|regras?|"
    r"develop\w*|desarroll\w*|desenvolv\w*|programador\w*|admin\w*|mode|modo|ignor\w*|forg[eo]t\w*|"
    r"olvid\w*|esque[cç]\w*|disregard\w*|desconsider\w*|assistant|asistente|assistente|bots?|"
    r"chatbot|rob[oô]|ai|ia|act as|pretend\w*|override|bypass|reset\w*|prompt|jailbreak\w*|root|"
    r"password|contrase[ñn]a|senha|palavra-passe|translat\w*|traduc\w*|traduz\w*|repeat\w*|repit\w*|repet\w*)\b",
    re.IGNORECASE,
)

MIN_HARD = 120
MIN_ORDINARY = 80


def main() -> int:
    hard_rows, ord_rows = [], []
    seen = set()
    errors = []

    def add(rows, text, lang, kind):
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{lang}: empty or non-string entry")
            return
        if text in EXCLUDED:
            errors.append(f"{lang}: excluded regression string present: {text!r}")
        key = " ".join(text.lower().split())
        if key in seen:
            errors.append(f"{lang}: duplicate text: {text!r}")
        seen.add(key)
        rows.append({"text": text, "lang": lang, "kind": kind, "label": 0})

    for lang, mod in MODULES:
        for t in mod.HARD:
            add(hard_rows, t, lang, "customer")
        for t in mod.HARD_ARTICLES:
            add(hard_rows, t, lang, "article")
        for t in mod.ORDINARY:
            m = ORDINARY_BANNED.search(t)
            if m:
                errors.append(f"{lang}: ORDINARY contains trigger word {m.group(0)!r}: {t!r}")
            add(ord_rows, t, lang, "customer")
        n_hard = len(mod.HARD) + len(mod.HARD_ARTICLES)
        if n_hard < MIN_HARD:
            errors.append(f"{lang}: only {n_hard} hard rows (< {MIN_HARD})")
        if len(mod.ORDINARY) < MIN_ORDINARY:
            errors.append(f"{lang}: only {len(mod.ORDINARY)} ordinary rows (< {MIN_ORDINARY})")

    if errors:
        for e in errors:
            print("ERROR:", e, file=sys.stderr)
        return 1

    for name, rows in (("hard_benign_test.jsonl", hard_rows),
                       ("ordinary_support_test.jsonl", ord_rows)):
        path = os.path.join(HERE, name)
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        # Re-read and verify every line parses.
        counts = {}
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                r = json.loads(line)
                assert set(r) == {"text", "lang", "kind", "label"}, (name, i)
                assert r["label"] == 0
                k = (r["lang"], r["kind"])
                counts[k] = counts.get(k, 0) + 1
        print(f"{name}: {len(rows)} rows")
        for lang, _ in MODULES:
            per = {kind: n for (l, kind), n in sorted(counts.items()) if l == lang}
            print(f"  {lang}: {sum(per.values())}  {per}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
