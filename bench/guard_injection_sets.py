#!/usr/bin/env python3
"""Evaluation sets for the prompt-injection detector (standard library only).

    bench/guard_injection_sets.py [--data-dir DIR] [--out FILE]   # JSONL for `atalaya guard scan`

Each line is {"id", "text", "source"}; the id encodes set and label:
    deepset:<row>:<lang>:<label>                 source "user"     (deepset test, lang en|de)
    bipia:pos:<email>:<attack-kind>:<attack>:<position>  source "document" (test e-mail + test attack)
    bipia:neg:email:<email>                      source "document" (clean test e-mail)
    bipia:neg:kb:<lang>/<file>                   source "document" (demo knowledge article, whole file)
    support:<set>:<row>                          source "user"     (benign support message, label 0)

Sets:
  1. deepset test (116 rows, 60 injections); language by german_score() below.
  2. BIPIA: each of the 50 TEST e-mail contexts with each of the 125 TEST attacks (75 text + 50
     code) inserted at the start, in the middle (between lines) or at the end; the position is
     drawn per (e-mail, attack) pair from random.Random(20240601) -> 6,250 positives. Negatives:
     the 50 clean TEST contexts + the 30 demo knowledge articles (demo/knowledge/*/*.md).
  3. Benign support messages (all negatives, source "user"): Banking77 TEST (3,080) and CLINC150
     TEST + oos_test (4,500 + 1,000) -> 8,580 texts; the false-positive rate of ordinary customer
     messages. The trainer may only use the train splits of these sets.
  4. heldout:<group>:<lang>:<kind>:<row>: the repository's hand-written en/es/pt test sets
     (bench/guard/data/injection/README.md): hard benign, ordinary support, attacks.
  5. public:<set>:<lang>:<kind>:<row>: NotInject, WildGuard benign, XSTest safe, CyberSecEval
     false-refusal (es/pt) and prompt injections (en/es/pt), in-the-wild jailbreaks (held-out 20 %).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
BIPIA_SEED = 20240601

# --- language heuristic ----------------------------------------------------------------------
# German if the text has more German than English function words (counted on lower-cased \w+
# tokens). On a tie (typically both 0, keyword-style rows): German if it has ä ö ü ß, or a token of
# 7+ characters ending in -keit/-heit/-schaft/-ung/-lich or containing "sch" after its first
# character (Deutschland, Verkehrssicherheit). Words shared by both languages ("in", "was", "so",
# "man") are in neither list. "en" therefore means "not German" (a few Spanish/Polish rows land there).
DE_WORDS = frozenset("""
der die das und ist nicht ich du sie wir ihr ein eine einen einem einer eines zu mit auf für von
wie wer wo warum wann den dem des sich auch bitte vergiss vergessen alle alles jetzt nun mir mich
dich dir sind bist bin hat habe haben wird werden kann können soll sollst muss musst oder aber
noch schon sehr über nach bei aus vor gegen ohne uns unser euch kein keine nur wenn dass weil
gib sag sage schreibe zeige antworte deine dein meine mein welche welcher welches gibt es im am
zum zur vom beim ins
""".split())
EN_WORDS = frozenset("""
the and is are not you your i we they he she it a an to with on for of how who where why when
this that these those what which be been being have has had do does did can could should would
will shall must all now me my our us or but still very about after at from before against
without only if because give say tell write show answer their there here its
""".split())
_WORD = re.compile(r"\w+", re.UNICODE)


def german_score(text: str) -> tuple[int, int]:
    toks = _WORD.findall(text.lower())
    return sum(t in DE_WORDS for t in toks), sum(t in EN_WORDS for t in toks)


_DE_SHAPE = re.compile(r"^(?:\w+(?:keit|heit|schaft|ung|lich)|\w+sch\w*)$")


def lang_of(text: str) -> str:
    """'de' or 'en' (en = English or any other language)."""
    de, en = german_score(text)
    if de != en:
        return "de" if de > en else "en"
    low = text.lower()
    if re.search(r"[äöüß]", low):
        return "de"
    # keyword-style rows ("Recycling Plastik Deutschland"): German word shapes, tokens of 7+ letters
    return "de" if any(len(t) >= 7 and _DE_SHAPE.match(t) for t in _WORD.findall(low)) else "en"


# --- sets ------------------------------------------------------------------------------------


def deepset_rows(data: Path) -> list[dict]:
    rows = []
    path = Path(data) / "prompt-injection" / "deepset_test.jsonl"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        r = json.loads(line)
        lang = lang_of(r["text"])
        y = int(r["label"])
        rows.append({"id": f"deepset:{i}:{lang}:{y}", "text": r["text"], "source": "user", "label": y,
                     "lang": lang, "set": "deepset"})
    return rows


def insert_attack(context: str, attack: str, position: str) -> str:
    if position == "start":
        return attack + "\n" + context
    if position == "end":
        return context + "\n" + attack
    lines = context.split("\n")
    mid = len(lines) // 2
    return "\n".join(lines[:mid] + [attack] + lines[mid:])


def bipia_rows(data: Path, repo: Path = REPO) -> list[dict]:
    data = Path(data)
    emails = [json.loads(l)["context"] for l in (data / "bipia" / "email_test.jsonl").read_text(encoding="utf-8").splitlines() if l.strip()]
    attacks = []
    for kind in ("text", "code"):
        d = json.loads((data / "bipia" / f"{kind}_attack_test.json").read_text(encoding="utf-8"))
        for cat in d:
            for j, a in enumerate(d[cat]):
                attacks.append((kind, f"{cat}#{j}", a))
    rng = random.Random(BIPIA_SEED)
    rows = []
    for e, ctx in enumerate(emails):
        for kind, aid, a in attacks:
            pos = ("start", "middle", "end")[rng.randrange(3)]
            rows.append({"id": f"bipia:pos:{e}:{kind}:{aid}:{pos}", "text": insert_attack(ctx, a, pos),
                         "source": "document", "label": 1, "set": "bipia", "kind": kind, "position": pos})
    for e, ctx in enumerate(emails):
        rows.append({"id": f"bipia:neg:email:{e}", "text": ctx, "source": "document", "label": 0, "set": "bipia",
                     "kind": "email"})
    for p in sorted((Path(repo) / "demo" / "knowledge").glob("*/*.md")):
        rel = f"{p.parent.name}/{p.name}"
        rows.append({"id": f"bipia:neg:kb:{rel}", "text": p.read_text(encoding="utf-8"), "source": "document",
                     "label": 0, "set": "bipia", "kind": "kb"})
    return rows


def support_rows(data: Path) -> list[dict]:
    import csv

    data = Path(data)
    rows = []
    with open(data / "banking77" / "test.csv", encoding="utf-8", newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            rows.append({"id": f"support:banking77:{i}", "text": r["text"], "source": "user", "label": 0,
                         "set": "support", "kind": "banking77"})
    clinc = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    for part in ("test", "oos_test"):
        for i, (t, _) in enumerate(clinc[part]):
            rows.append({"id": f"support:clinc150_{part}:{i}", "text": t, "source": "user", "label": 0,
                         "set": "support", "kind": "clinc150"})
    return rows


def support_report(rows: list[dict], scores: list[float], flagged: list[bool] | None) -> dict:
    """False-positive rates of the benign support messages (every row is a negative)."""
    out = {}
    for name, keep in (("overall", lambda r: True), ("banking77", lambda r: r["kind"] == "banking77"),
                       ("clinc150", lambda r: r["kind"] == "clinc150")):
        sel = [i for i, r in enumerate(rows) if keep(r)]
        n = len(sel)
        o = {"n": n, "fpr_at_0.5": sum(scores[i] >= 0.5 for i in sel) / max(1, n)}
        if flagged is not None:
            o["fpr_flagged"] = sum(bool(flagged[i]) for i in sel) / max(1, n)
        out[name] = o
    return out


HELDOUT = REPO / "bench" / "guard" / "data" / "injection"


def heldout_rows(repo: Path = REPO) -> list[dict]:
    """The repository's hand-written held-out en/es/pt sets (bench/guard/data/injection/, never
    trained or tuned on): hard benign customer messages (user) and help-centre passages
    (document), ordinary support messages (user), direct (user) and indirect (document) attacks."""
    base = Path(repo) / "bench" / "guard" / "data" / "injection"
    rows = []
    for name, group in (("hard_benign_test", "hard_benign"), ("ordinary_support_test", "ordinary"),
                        ("attacks_test", "attacks")):
        for i, line in enumerate((base / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            r = json.loads(line)
            doc = r.get("source") == "indirect" or r.get("kind") == "article"
            kind = r.get("source") or r.get("kind")
            rows.append({"id": f"heldout:{group}:{r['lang']}:{kind}:{i}", "text": r["text"],
                         "source": "document" if doc else "user", "label": int(r["label"]),
                         "lang": r["lang"], "set": "heldout", "group": group, "kind": kind})
    return rows


def public_rows(data: Path) -> list[dict]:
    """Public over-defence and attack sets of ../shared/data (test parts only): NotInject
    (benign prompts built on trigger words), WildGuard benign prompts, XSTest safe prompts,
    CyberSecEval's false-refusal prompts in Spanish/Portuguese (benign), CyberSecEval prompt
    injections (English, Spanish, Portuguese; direct as user text, indirect as documents), and
    the held-out 20 % of the in-the-wild jailbreaks (the other 80 % train the direct model)."""
    import csv

    data = Path(data)
    rows = []

    def add(set_name, i, text, source, label, lang, kind):
        rows.append({"id": f"public:{set_name}:{lang}:{kind}:{i}", "text": text, "source": source, "label": label,
                     "lang": lang, "set": "public", "group": set_name, "kind": kind})

    for part in ("one", "two", "three"):
        for i, r in enumerate(json.loads((data / "notinject" / f"NotInject_{part}.json").read_text(encoding="utf-8"))):
            add("notinject", f"{part}{i}", r["prompt"], "user", 0, "mixed", r.get("category", "").replace(" ", "_"))
    for i, r in enumerate(json.loads((data / "notinject" / "wildguard.json").read_text(encoding="utf-8"))):
        add("wildguard_benign", i, r["prompt"], "user", 0, "en", "benign")
    with open(data / "xstest" / "xstest_prompts.csv", encoding="utf-8", newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            if r["label"] == "safe":
                add("xstest_safe", i, r["prompt"], "user", 0, "en", r["type"])
    langs = {"Spanish": "es", "Portuguese": "pt"}
    frr = json.loads((data / "cyberseceval-pi" / "frr_multilingual_machine_translated.json").read_text(encoding="utf-8"))
    for i, r in enumerate(frr):
        if r.get("speaking_language") in langs:
            add("cyberseceval_frr", i, r["mutated_prompt"], "user", 0, langs[r["speaking_language"]], "benign")
    pi = json.loads((data / "cyberseceval-pi" / "prompt_injection.json").read_text(encoding="utf-8"))
    pim = json.loads((data / "cyberseceval-pi" / "prompt_injection_multilingual_machine_translated.json")
                     .read_text(encoding="utf-8"))
    for i, r in enumerate(pi + pim):
        lang = "en" if i < len(pi) else langs.get(r.get("speaking_language"))
        if lang is None:
            continue
        direct = r.get("injection_type") == "direct"
        add("cyberseceval_pi", i, r["user_input"], "user" if direct else "document", 1, lang,
            "direct" if direct else "indirect")
    sys.path.insert(0, str(REPO / "scripts"))
    import train_injection as ti

    wild = json.loads((data / "jailbreak-wild" / "inthewild_jailbreak_llms.json").read_text(encoding="utf-8"))
    for i, t in enumerate(ti.jailbreak_wild_split(wild)[1]):
        add("jailbreak_wild_test", i, t, "user", 1, "en", "direct")
    return rows


def all_rows(data: Path, repo: Path = REPO) -> list[dict]:
    return deepset_rows(data) + bipia_rows(data, repo) + support_rows(data) + heldout_rows(repo) + public_rows(data)


# --- metrics ---------------------------------------------------------------------------------


def _metrics():
    sys.path.insert(0, str(REPO / "scripts"))
    import train_injection as ti

    return ti


def binary_report(y: list[int], scores: list[float], flagged: list[bool] | None) -> dict:
    ti = _metrics()
    out = {
        "n_pos": sum(y), "n_neg": len(y) - sum(y),
        "at_0.5": ti.metrics_at(y, scores, 0.5),
        "recall_at_1pct_fpr": ti.recall_at_fpr(y, scores, 0.01),
        "recall_at_5pct_fpr": ti.recall_at_fpr(y, scores, 0.05),
    }
    if flagged is not None:
        out["flagged"] = ti.prf(y, flagged)
    return out


def deepset_report(rows: list[dict], scores: list[float], flagged: list[bool] | None) -> dict:
    out = {}
    for name, keep in (("overall", lambda r: True), ("en", lambda r: r["lang"] == "en"), ("de", lambda r: r["lang"] == "de")):
        sel = [i for i, r in enumerate(rows) if keep(r)]
        out[name] = binary_report([rows[i]["label"] for i in sel], [scores[i] for i in sel],
                                  None if flagged is None else [flagged[i] for i in sel])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=None, help="JSONL output (default: stdout)")
    args = ap.parse_args()
    rows = all_rows(args.data_dir)
    lines = "".join(json.dumps({"id": r["id"], "text": r["text"], "source": r["source"]}, ensure_ascii=False) + "\n" for r in rows)
    if args.out:
        args.out.write_text(lines, encoding="utf-8")
        print(f"wrote {args.out}: {len(rows)} rows", file=sys.stderr)
    else:
        sys.stdout.write(lines)


if __name__ == "__main__":
    main()
