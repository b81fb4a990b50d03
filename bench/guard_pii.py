#!/usr/bin/env python3
"""PII detection benchmark: Atalaya's guard vs Microsoft Presidio's pattern recognizers.

    python3 bench/guard_pii.py                          # both datasets, both systems
    python3 bench/guard_pii.py --systems presidio       # no Atalaya binary needed
    python3 bench/guard_pii.py --atalaya target/release/atalaya
    python3 bench/guard_pii.py --dataset multilingual --predictions preds.jsonl --systems atalaya
    python3 bench/guard_pii.py --dataset multilingual --show-errors PERSON --systems atalaya

Datasets
  presidio      ../shared/data/pii-presidio/synth_dataset_v2.json (Presidio's synthetic set,
                English). Gold types mapped EMAIL_ADDRESS->EMAIL, PHONE_NUMBER->PHONE, CREDIT_CARD,
                IBAN_CODE->IBAN, US_SSN, IP_ADDRESS, PERSON; every other gold type is ignored. Its
                gold is imperfect (e.g. 19-digit "card" numbers, numbers in addresses left unlabeled).
  multilingual  bench/guard/data/pii_multilingual.json (bench/guard/make_pii_multilingual.py):
                es / pt-BR / pt-PT / en, all 12 Atalaya types.

Systems
  atalaya   `atalaya guard scan --input FILE`: FILE has JSON lines {"id","text"}; stdout has one
            JSON line per input {"id","pii":[{"type","start","end","score"}],"injection":{...}}
            (code-point offsets, end exclusive). Timed as the whole CLI process. --predictions
            reads saved output instead (then no timing).
  presidio  presidio-analyzer (pinned) in a venv under ~/.cache/atalaya/venvs/, created on first
            use (PyPI only). No NLP engine / spaCy model is loaded: the predefined recognizers are
            instantiated directly and called with nlp_artifacts=None, so Presidio's context
            enhancement (which needs NLP artifacts) is off, and PERSON (NER-only) is n/a; it has
            no BR_CPF/BR_CNPJ/SECRET recognizer either. Results go through Presidio's own
            EntityRecognizer.remove_duplicates, like AnalyzerEngine. Timed: analyze calls only.

Scoring (per dataset, system, type): a prediction is a true positive when its type equals a gold
span's type and the character overlap is >= 50% of the longer of the two spans; matching is
one-to-one, greedy by overlap ratio. "strict" counts only exact (start, end) matches. Micro
averages: over the checksummed types (CREDIT_CARD IBAN ES_DNI ES_NIE BR_CPF BR_CNPJ US_SSN) and
over all types of the dataset ("all": a type without recognizer counts its gold as misses;
"supported": only the types the system can emit). Predictions of types absent from a dataset's
gold are not scored but counted on an "other predictions" line.

Output: Markdown on stdout, JSON in bench/results/guard-pii-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PRESIDIO_VERSION = "2.2.366"
CACHE = Path(os.environ.get("ATALAYA_CACHE", Path.home() / ".cache" / "atalaya"))
PRESIDIO_VENV = CACHE / "venvs" / f"presidio-{PRESIDIO_VERSION}"

DATASETS = {
    "presidio": Path(os.environ.get("PRESIDIO_SYNTH", str(Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "pii-presidio" / "synth_dataset_v2.json"))),
    "multilingual": HERE / "guard" / "data" / "pii_multilingual.json",
    "support": HERE / "guard" / "data" / "pii_support_heldout.json",
    "support-dev": HERE / "guard" / "data" / "pii_support_dev.json",
}
ALL_TYPES = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "ES_DNI", "ES_NIE", "BR_CPF", "BR_CNPJ", "US_SSN",
             "IP_ADDRESS", "PERSON", "SECRET"]
CHECKSUMMED = ["CREDIT_CARD", "IBAN", "ES_DNI", "ES_NIE", "BR_CPF", "BR_CNPJ", "US_SSN"]
PRESIDIO_GOLD_MAP = {"EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD",
                     "IBAN_CODE": "IBAN", "US_SSN": "US_SSN", "IP_ADDRESS": "IP_ADDRESS", "PERSON": "PERSON"}
DATASET_TYPES = {"presidio": ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS", "PERSON"],
                 "multilingual": ALL_TYPES, "support": ALL_TYPES, "support-dev": ALL_TYPES}

# Presidio recognizer class -> (Presidio entity, our type)
PRESIDIO_RECOGNIZERS = {
    "EmailRecognizer": ("EMAIL_ADDRESS", "EMAIL"),
    "PhoneRecognizer": ("PHONE_NUMBER", "PHONE"),
    "CreditCardRecognizer": ("CREDIT_CARD", "CREDIT_CARD"),
    "IbanRecognizer": ("IBAN_CODE", "IBAN"),
    "UsSsnRecognizer": ("US_SSN", "US_SSN"),
    "IpRecognizer": ("IP_ADDRESS", "IP_ADDRESS"),
    "EsNifRecognizer": ("ES_NIF", "ES_DNI"),
    "EsNieRecognizer": ("ES_NIE", "ES_NIE"),
}
# Presidio's default phone regions plus ES and PT, so that national Spanish/Portuguese numbers
# are not missed only for lack of a region (the default is US GB DE FR IL IN CA BR).
PRESIDIO_PHONE_REGIONS = "US,GB,DE,FR,IL,IN,CA,BR,ES,PT"


# =============================================================================================
# Presidio worker (runs inside the Presidio venv)
# =============================================================================================

def presidio_worker(inp: Path, out: Path, regions: str) -> None:
    import tldextract  # used by EmailRecognizer; never let it fetch the public-suffix list

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    from importlib.metadata import version

    import presidio_analyzer.predefined_recognizers as pr
    from presidio_analyzer import EntityRecognizer

    recs, missing = [], []
    for cls, (ent, ours) in PRESIDIO_RECOGNIZERS.items():
        if not hasattr(pr, cls):
            missing.append(cls)
            continue
        kw = {"supported_regions": tuple(regions.split(","))} if cls == "PhoneRecognizer" else {}
        recs.append((getattr(pr, cls)(**kw), ent, ours))
    # Any Brazilian recognizer in a newer version would be picked up here.
    extra = [n for n in dir(pr) if n.startswith("Br") and n.endswith("Recognizer")]
    emap = {ent: ours for _, ent, ours in recs}
    texts = [json.loads(line) for line in inp.read_text(encoding="utf-8").splitlines() if line.strip()]
    busy = 0.0
    with out.open("w", encoding="utf-8") as f:
        for row in texts:
            t0 = time.perf_counter()
            results = []
            for rec, ent, _ in recs:
                results += rec.analyze(row["text"], [ent], None) or []
            results = EntityRecognizer.remove_duplicates(results)
            busy += time.perf_counter() - t0
            pii = [{"type": emap.get(r.entity_type, r.entity_type), "start": r.start, "end": r.end,
                    "score": round(float(r.score), 4)} for r in results]
            f.write(json.dumps({"id": row["id"], "pii": pii}, ensure_ascii=False) + "\n")
    meta = {"seconds": busy, "version": version("presidio-analyzer"), "phonenumbers": version("phonenumbers"),
            "recognizers": [type(r).__name__ for r, _, _ in recs], "missing": missing,
            "brazil_recognizers": extra, "phone_regions": regions}
    Path(str(out) + ".meta.json").write_text(json.dumps(meta), encoding="utf-8")


def ensure_presidio_venv() -> Path:
    py = PRESIDIO_VENV / "bin" / "python"
    probe = f"import importlib.metadata as m,sys; sys.exit(m.version('presidio-analyzer')!='{PRESIDIO_VERSION}')"
    if py.exists() and subprocess.run([str(py), "-c", probe], capture_output=True).returncode == 0:
        return py
    print(f"# creating {PRESIDIO_VENV} (presidio-analyzer=={PRESIDIO_VERSION})", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(PRESIDIO_VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"presidio-analyzer=={PRESIDIO_VERSION}"], check=True)
    return py


# =============================================================================================
# Data
# =============================================================================================

def load_gold(name: str) -> list[dict]:
    data = json.loads(DATASETS[name].read_text(encoding="utf-8"))
    docs = []
    for i, d in enumerate(data):
        spans = []
        for s in d["spans"]:
            t = s["entity_type"]
            if name == "presidio":
                t = PRESIDIO_GOLD_MAP.get(t)
                if t is None:
                    continue
            spans.append((t, s["start_position"], s["end_position"]))
        origins = {}
        for t, a, b in spans:  # PERSON origin (common / rare) from the generator's metadata
            if t == "PERSON":
                val = fold(d["full_text"][a:b])
                for p in (d.get("metadata") or {}).get("persons", []):
                    if val in fold(p["value"]):
                        origins[(t, a, b)] = p["origin"].split(":")[0]
                        break
        docs.append({"id": str(i), "text": d["full_text"], "gold": spans, "lang": d.get("lang"), "origins": origins})
    return docs


def fold(s: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)).casefold()


def write_input(docs: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")


def read_predictions(path: Path, docs: list[dict]) -> dict[str, list[tuple]]:
    preds: dict[str, list[tuple]] = {d["id"]: [] for d in docs}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        rid = str(row["id"])
        if rid not in preds:
            raise SystemExit(f"{path}:{n}: unknown id {rid!r}")
        for p in row.get("pii") or []:
            preds[rid].append((p["type"], int(p["start"]), int(p["end"]), float(p.get("score", 1.0))))
    return preds


def run_atalaya(binary: Path, docs, workdir: Path):
    inp = workdir / "input.jsonl"
    write_input(docs, inp)
    out = workdir / "atalaya.jsonl"
    t0 = time.perf_counter()
    with out.open("w", encoding="utf-8") as f:
        proc = subprocess.run([str(binary), "guard", "scan", "--input", str(inp)], stdout=f, stderr=subprocess.PIPE)
    secs = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} guard scan exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return read_predictions(out, docs), secs, out


def run_presidio(docs, workdir: Path, regions: str):
    py = ensure_presidio_venv()
    inp = workdir / "input.jsonl"
    write_input(docs, inp)
    out = workdir / "presidio.jsonl"
    env = dict(os.environ, TLDEXTRACT_CACHE=str(workdir / "tld"))
    subprocess.run([str(py), str(Path(__file__).resolve()), "--presidio-worker", str(inp), str(out),
                    "--presidio-phone-regions", regions], check=True, env=env)
    meta = json.loads(Path(str(out) + ".meta.json").read_text(encoding="utf-8"))
    return read_predictions(out, docs), meta["seconds"], out, meta


# =============================================================================================
# Scoring
# =============================================================================================

def match(gold: list[tuple], pred: list[tuple]) -> tuple[list, list, list]:
    """One-to-one greedy match of same-type spans; overlap >= 50% of the longer span.
    Returns (pairs, unmatched_gold, unmatched_pred)."""
    cands = []
    for gi, (gt, gs, ge) in enumerate(gold):
        for pi, (pt, ps, pe, _) in enumerate(pred):
            if gt != pt:
                continue
            ov = min(ge, pe) - max(gs, ps)
            longer = max(ge - gs, pe - ps, 1)
            if ov > 0 and ov >= 0.5 * longer:
                cands.append((-ov / longer, gi, pi))
    cands.sort()
    ug, up, pairs = set(range(len(gold))), set(range(len(pred))), []
    for _, gi, pi in cands:
        if gi in ug and pi in up:
            ug.discard(gi)
            up.discard(pi)
            pairs.append((gi, pi))
    return pairs, sorted(ug), sorted(up)


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f = 2 * p * r / (p + r) if tp else (0.0 if fp + fn else None)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": p, "recall": r, "f1": f}


def evaluate(docs, preds, types: list[str], supported: set[str] | None):
    c = defaultdict(Counter)  # type -> tp fp fn stp sfp sfn
    other = Counter()
    errors = defaultdict(list)  # type -> [(kind, doc, span)]
    by_origin = defaultdict(Counter)  # PERSON gold origin -> tp / fn
    for d in docs:
        gold = [g for g in d["gold"] if g[0] in types]
        pred = []
        for p in preds.get(d["id"], []):
            (pred if p[0] in types else []).append(p)
            if p[0] not in types:
                other[p[0]] += 1
        pairs, ug, up = match(gold, pred)
        for gi, _ in pairs:
            c[gold[gi][0]]["tp"] += 1
            if gold[gi] in d["origins"]:
                by_origin[d["origins"][gold[gi]]]["tp"] += 1
        for gi in ug:
            c[gold[gi][0]]["fn"] += 1
            if gold[gi] in d["origins"]:
                by_origin[d["origins"][gold[gi]]]["fn"] += 1
            errors[gold[gi][0]].append(("FN", d, gold[gi]))
        for pi in up:
            c[pred[pi][0]]["fp"] += 1
            errors[pred[pi][0]].append(("FP", d, pred[pi]))
        gset = Counter(gold)
        pset = Counter((t, s, e) for t, s, e, _ in pred)
        for k in gset | pset:
            exact = min(gset[k], pset[k])
            c[k[0]]["stp"] += exact
            c[k[0]]["sfn"] += gset[k] - exact
            c[k[0]]["sfp"] += pset[k] - exact
    # Leaked spans: gold spans that no prediction (of any type: a mask hides it either way)
    # covers for at least half of its characters -- what would reach an upstream in clear.
    leaked = Counter()
    for d in docs:
        covered = set()
        for p in preds.get(d["id"], []):
            covered.update(range(p[1], p[2]))
        for g in d["gold"]:
            if g[0] not in types:
                continue
            n = g[2] - g[1]
            hit = sum(1 for k in range(g[1], g[2]) if k in covered)
            leaked["all"] += 1
            leaked[g[0] + ":all"] += 1
            if n and hit * 2 < n:
                leaked["leaked"] += 1
                leaked[g[0] + ":leaked"] += 1
                errors["LEAKED"].append(("FN", d, g))
    res = {"types": {}, "micro": {}, "other_predictions": dict(other),
           "leaked_spans": {"gold": leaked["all"], "leaked": leaked["leaked"],
                            "rate": leaked["leaked"] / leaked["all"] if leaked["all"] else None,
                            "by_type": {t: leaked[t + ":leaked"] for t in types if leaked[t + ":leaked"]}},
           "person_recall_by_origin": {o: {"gold": v["tp"] + v["fn"], "recall": v["tp"] / (v["tp"] + v["fn"])}
                                       for o, v in sorted(by_origin.items())} if supported is None or "PERSON" in supported else {}}
    for t in types:
        res["types"][t] = {"gold": c[t]["tp"] + c[t]["fn"], "supported": supported is None or t in supported,
                           "overlap": prf(c[t]["tp"], c[t]["fp"], c[t]["fn"]),
                           "strict": prf(c[t]["stp"], c[t]["sfp"], c[t]["sfn"])}
    groups = {"checksummed": [t for t in CHECKSUMMED if t in types], "all": types}
    if supported is not None:
        groups["checksummed (supported)"] = [t for t in groups["checksummed"] if t in supported]
        groups["all (supported)"] = [t for t in types if t in supported]
    for g, ts in groups.items():
        res["micro"][g] = {m: prf(*(sum(c[t][k] for t in ts) for k in keys))
                           for m, keys in (("overlap", ("tp", "fp", "fn")), ("strict", ("stp", "sfp", "sfn")))}
        res["micro"][g]["types"] = ts
    return res, errors


# =============================================================================================
# Reporting
# =============================================================================================

def fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def cell(m: dict, na: bool) -> str:
    if na:
        return "n/a | n/a | n/a | n/a"
    o, s = m["overlap"], m["strict"]
    return f"{fmt(o['precision'])} | {fmt(o['recall'])} | {fmt(o['f1'])} | {fmt(s['f1'])}"


def markdown(name: str, docs, results: dict, timings: dict) -> str:
    systems = list(results)
    chars = sum(len(d["text"]) for d in docs)
    head = "| type | gold | " + " | ".join(f"{s} P | {s} R | {s} F1 | {s} F1 strict" for s in systems) + " |"
    sep = "|---|---:|" + "---:|" * (4 * len(systems))
    lines = [f"### {name}: {len(docs)} texts, {chars} chars", "", head, sep]
    types = DATASET_TYPES[name]
    for t in types:
        gold = next(iter(results.values()))["types"][t]["gold"] if results else 0
        row = [cell(results[s]["types"][t], not results[s]["types"][t]["supported"]) for s in systems]
        lines.append(f"| {t} | {gold} | " + " | ".join(row) + " |")
    for g in next(iter(results.values()))["micro"] if results else []:
        if "supported" in g:
            continue
        ts = results[systems[0]]["micro"][g]["types"]
        gold = sum(results[systems[0]]["types"][t]["gold"] for t in ts)
        lines.append(f"| **micro {g}** | {gold} | " + " | ".join(cell(results[s]["micro"][g], False) for s in systems) + " |")
    for s in systems:
        if "all (supported)" in results[s]["micro"]:
            sup = results[s]["micro"]["all (supported)"]
            ck = results[s]["micro"]["checksummed (supported)"]
            lines.append("")
            lines.append(f"{s}, supported types only ({', '.join(sup['types'])}): micro all "
                         f"P {fmt(sup['overlap']['precision'])} R {fmt(sup['overlap']['recall'])} F1 {fmt(sup['overlap']['f1'])}; "
                         f"checksummed P {fmt(ck['overlap']['precision'])} R {fmt(ck['overlap']['recall'])} F1 {fmt(ck['overlap']['f1'])}")
    lines.append("")
    for s in systems:
        lk = results[s].get("leaked_spans")
        if lk and lk["gold"]:
            lines.append(f"- leaked spans ({s}: gold spans no prediction covers for half their characters): "
                         f"{lk['leaked']} of {lk['gold']} = {lk['rate']:.2%}"
                         + (" (" + ", ".join(f"{k} {v}" for k, v in lk["by_type"].items()) + ")" if lk["by_type"] else ""))
    for s in systems:
        bo = results[s].get("person_recall_by_origin")
        if bo:
            lines.append(f"- PERSON recall by name origin ({s}): "
                         + ", ".join(f"{o} {v['recall']:.3f} (n={v['gold']})" for o, v in bo.items()))
    for s in systems:
        o = results[s]["other_predictions"]
        lines.append(f"- other predictions ({s}, types without gold here, not scored): "
                     + (", ".join(f"{k}={v}" for k, v in sorted(o.items())) or "none"))
    for s, secs in timings.items():
        if secs is None:
            lines.append(f"- time ({s}): n/a (saved predictions)")
        else:
            lines.append(f"- time ({s}): {secs:.3f} s, {chars / secs:,.0f} chars/s"
                         + (" (whole CLI process)" if s == "atalaya" else " (analyze calls only)"))
    return "\n".join(lines) + "\n"


def show_errors(name, system, errors, etype, limit, ctx=40) -> str:
    items = errors.get(etype, [])
    out = [f"\n#### errors: {name} / {system} / {etype}: "
          f"{sum(1 for e in items if e[0] == 'FP')} FP, {sum(1 for e in items if e[0] == 'FN')} FN"]
    for kind, d, span in items[:limit]:
        s, e = span[1], span[2]
        t = d["text"]
        left = t[max(0, s - ctx):s].replace("\n", "⏎")
        mid = t[s:e].replace("\n", "⏎")
        right = t[e:e + ctx].replace("\n", "⏎")
        score = f" score={span[3]:.2f}" if len(span) > 3 else ""
        out.append(f"{kind} doc={d['id']}{' ' + d['lang'] if d.get('lang') else ''} [{s}:{e}]{score}: …{left}⟦{mid}⟧{right}…")
    if len(items) > limit:
        out.append(f"… {len(items) - limit} more (--max-errors)")
    return "\n".join(out)


# =============================================================================================

def parse_predictions_args(values: list[str], datasets: list[str]) -> dict[str, Path]:
    out = {}
    for v in values:
        if "=" in v and v.split("=", 1)[0] in DATASETS:
            k, p = v.split("=", 1)
            out[k] = Path(p)
        elif len(datasets) == 1:
            out[datasets[0]] = Path(v)
        else:
            raise SystemExit("--predictions FILE needs a single --dataset, or use DATASET=FILE")
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--presidio-worker":
        regions = sys.argv[sys.argv.index("--presidio-phone-regions") + 1] if "--presidio-phone-regions" in sys.argv else PRESIDIO_PHONE_REGIONS
        presidio_worker(Path(sys.argv[2]), Path(sys.argv[3]), regions)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["all", *DATASETS], default="all")
    ap.add_argument("--systems", default="atalaya,presidio", help="comma list of atalaya,presidio")
    ap.add_argument("--atalaya", type=Path,
                    default=Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "atalaya")
    ap.add_argument("--predictions", action="append", default=[], metavar="[DATASET=]FILE",
                    help="saved Atalaya output (JSON lines) instead of running the CLI")
    ap.add_argument("--presidio-phone-regions", default=PRESIDIO_PHONE_REGIONS)
    ap.add_argument("--show-errors", metavar="TYPE", action="append", default=[],
                    help="print false positives/negatives of TYPE with context (repeatable)")
    ap.add_argument("--max-errors", type=int, default=60)
    ap.add_argument("--keep", type=Path, help="keep inputs/raw predictions in this directory")
    ap.add_argument("--results-dir", type=Path, default=HERE / "results")
    ap.add_argument("--no-results", action="store_true", help="do not write the JSON results file")
    args = ap.parse_args()

    datasets = list(DATASETS) if args.dataset == "all" else [args.dataset]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    saved = parse_predictions_args(args.predictions, datasets)
    report = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "matching": "same type, overlap >= 50% of longer span, "
              "one-to-one greedy; strict = exact span", "datasets": {}, "systems": {}}
    out_md = ["## Guard PII benchmark", ""]
    err_out: list[str] = []
    tmp_ctx = tempfile.TemporaryDirectory(prefix="guard-pii-")
    base = args.keep or Path(tmp_ctx.name)
    base.mkdir(parents=True, exist_ok=True)
    try:
        for name in datasets:
            docs = load_gold(name)
            types = DATASET_TYPES[name]
            report["datasets"][name] = {"path": str(DATASETS[name]), "texts": len(docs),
                                        "chars": sum(len(d["text"]) for d in docs),
                                        "gold": dict(Counter(g[0] for d in docs for g in d["gold"]))}
            results, timings, errs = {}, {}, {}
            for system in systems:
                work = base / f"{name}-{system}"
                work.mkdir(parents=True, exist_ok=True)
                if system == "atalaya":
                    if name in saved:
                        preds, secs = read_predictions(saved[name], docs), None
                    elif args.atalaya.exists():
                        preds, secs, _ = run_atalaya(args.atalaya, docs, work)
                    else:
                        print(f"# atalaya: {args.atalaya} not found and no --predictions for {name}; skipped",
                              file=sys.stderr)
                        continue
                    supported = None
                    report["systems"]["atalaya"] = {"binary": str(args.atalaya) if name not in saved else None,
                                                    "predictions": {k: str(v) for k, v in saved.items()}}
                elif system == "presidio":
                    preds, secs, _, meta = run_presidio(docs, work, args.presidio_phone_regions)
                    supported = {PRESIDIO_RECOGNIZERS[r][1] for r in meta["recognizers"]}
                    report["systems"]["presidio"] = {**{k: v for k, v in meta.items() if k != "seconds"}, "context_enhancement": False,
                                                     "nlp_engine": None, "score_threshold": 0.0}
                else:
                    raise SystemExit(f"unknown system {system}")
                res, errors = evaluate(docs, preds, types, supported)
                res["seconds"] = secs
                res["chars_per_second"] = (report["datasets"][name]["chars"] / secs) if secs else None
                results[system], timings[system], errs[system] = res, secs, errors
            report["datasets"][name]["results"] = results
            out_md.append(markdown(name, docs, results, timings) if results else f"### {name}: no system ran\n")
            for etype in args.show_errors:
                for system in results:
                    err_out.append(show_errors(name, system, errs[system], etype, args.max_errors))
    finally:
        if not args.keep:
            tmp_ctx.cleanup()
    if "presidio" in report["systems"]:
        m = report["systems"]["presidio"]
        out_md.append(f"Presidio: presidio-analyzer {m['version']} (phonenumbers {m['phonenumbers']}), recognizers "
                      f"{', '.join(m['recognizers'])}; phone regions {m['phone_regions']}; no NLP engine, so no "
                      f"context enhancement and no PERSON; no BR_CPF/BR_CNPJ/SECRET recognizers"
                      f"{' (found: ' + ', '.join(m['brazil_recognizers']) + ')' if m['brazil_recognizers'] else ''}; "
                      "score threshold 0. n/a = no recognizer for the type.")
    print("\n".join(out_md))
    if err_out:
        print("\n".join(err_out))
    if not args.no_results:
        args.results_dir.mkdir(parents=True, exist_ok=True)
        path = args.results_dir / f"guard-pii-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nresults: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


if __name__ == "__main__":
    main()
