#!/usr/bin/env python3
"""Prompt-injection benchmark for `atalaya guard scan` (standard library only).

    cargo build --release
    bench/guard_injection.py                        # the Rust detector (target/release/atalaya)
    bench/guard_injection.py --python-model         # + the Python reference scorer, side by side
    bench/guard_injection.py --python-model --python-only
    bench/guard_injection.py --predictions preds.jsonl   # score an existing `guard scan` output

CLI contract: `atalaya guard scan --input FILE` reads JSON lines {"id","text","source"} (source
"user" | "document") and writes one line per input:
    {"id", "pii": [...], "injection": {"score": float, "flagged": bool, "reasons": [...]}}

Sets (bench/guard_injection_sets.py; `--dump FILE` writes the input JSONL):
  1. deepset test, source "user": P/R/F1 at `flagged` and at score >= 0.5, recall at 1% / 5% FPR
     (interpolated ROC), overall and for English / German rows.
  2. BIPIA, source "document": 50 test e-mails x 125 test attacks, one seeded position each
     (6,250 positives) vs the 50 clean test e-mails + the 30 demo knowledge articles (80
     negatives): recall at 1% / 5% FPR, P/R/F1 and FPR at `flagged`.
  3. Benign support messages, source "user": Banking77 TEST + CLINC150 TEST/oos_test (8,580
     negatives): false-positive rate at `flagged` and at score >= 0.5 (overall, per set), plus
     the ten highest-scoring texts.

The Python reference (`--python-model`) loads crates/atalaya-guard/models/injection-*.bin:
user texts -> injection-direct on the whole text; documents -> injection-indirect, max over the
whole text and every line/sentence of >= 4 tokens; flagged = raw score >= the model's "threshold"
from its .json. Its reported score is calibrated like the Rust detector's classifier part,
sigmoid(logit(p) - logit(threshold)), so 0.5 is the flag threshold; the raw p is kept as "raw"
(the support set also reports FPR at raw p >= 0.5).

Output: a table on stdout and bench/results/guard-injection-<timestamp>.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO / "scripts")]
import guard_injection_sets as gs  # noqa: E402
import train_injection as ti  # noqa: E402


def run_binary(binary: Path, rows: list[dict], timeout: int) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "input.jsonl"
        inp.write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "source": r["source"]}, ensure_ascii=False) + "\n"
                               for r in rows), encoding="utf-8")
        t0 = time.monotonic()
        proc = subprocess.run([str(binary), "guard", "scan", "--input", str(inp)], capture_output=True, text=True,
                              timeout=timeout)
        elapsed = time.monotonic() - t0
        if proc.returncode != 0:
            sys.exit(f"guard_injection: {binary} guard scan exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    preds = parse_predictions(proc.stdout)
    print(f"atalaya guard scan: {len(rows)} texts in {elapsed:.2f}s ({len(rows) / elapsed:.0f}/s)", file=sys.stderr)
    return preds, elapsed


def parse_predictions(text: str) -> dict[str, dict]:
    preds = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        inj = r.get("injection") or {}
        preds[r["id"]] = {"score": float(inj.get("score", 0.0)), "flagged": bool(inj.get("flagged", False)),
                          "reasons": inj.get("reasons", [])}
    return preds


def python_predictions(rows: list[dict], models_dir: Path) -> dict[str, dict]:
    models, thr = {}, {}
    for kind in ("direct", "indirect"):
        name = f"injection-{kind}"
        models[kind] = ti.Model.load(models_dir / f"{name}.bin")
        thr[kind] = json.loads((models_dir / f"{name}.json").read_text(encoding="utf-8"))["threshold"]
    preds = {}
    t0 = time.monotonic()
    for r in rows:
        if r["source"] == "document":
            s = models["indirect"].score_document(r["text"])
            t = thr["indirect"]
        else:
            s = models["direct"].score(r["text"])
            t = thr["direct"]
        preds[r["id"]] = {"score": calibrate(s, t), "raw": s, "flagged": s >= t, "reasons": []}
    elapsed = time.monotonic() - t0
    print(f"python model: {len(rows)} texts in {elapsed:.2f}s", file=sys.stderr)
    return preds, elapsed


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1 - 1e-12)
    return math.log(p / (1 - p))


def calibrate(p: float, threshold: float) -> float:
    """sigmoid(logit(p) - logit(threshold)): the threshold maps to 0.5 (as in the Rust detector)."""
    return ti.sigmoid(_logit(p) - _logit(threshold))


def evaluate(rows: list[dict], preds: dict[str, dict]) -> dict:
    missing = [r["id"] for r in rows if r["id"] not in preds]
    if missing:
        sys.exit(f"guard_injection: {len(missing)} ids without a prediction, e.g. {missing[:3]}")
    ds = [r for r in rows if r["set"] == "deepset"]
    bp = [r for r in rows if r["set"] == "bipia"]
    out = {"deepset": gs.deepset_report(ds, [preds[r["id"]]["score"] for r in ds], [preds[r["id"]]["flagged"] for r in ds])}
    y = [r["label"] for r in bp]
    sc = [preds[r["id"]]["score"] for r in bp]
    fl = [preds[r["id"]]["flagged"] for r in bp]
    out["bipia"] = gs.binary_report(y, sc, fl)
    # breakdowns at the flagged decision
    br = {}
    for key, sel in (("text_attacks", lambda r: r.get("kind") == "text"), ("code_attacks", lambda r: r.get("kind") == "code")):
        pos = [r for r in bp if r["label"] == 1 and sel(r)]
        br[key + "_recall"] = sum(preds[r["id"]]["flagged"] for r in pos) / max(1, len(pos))
    for pos_name in ("start", "middle", "end"):
        pos = [r for r in bp if r["label"] == 1 and r.get("position") == pos_name]
        br[pos_name + "_recall"] = sum(preds[r["id"]]["flagged"] for r in pos) / max(1, len(pos))
    for key in ("email", "kb"):
        neg = [r for r in bp if r["label"] == 0 and r.get("kind") == key]
        br[key + "_flagged"] = f"{sum(preds[r['id']]['flagged'] for r in neg)}/{len(neg)}"
    br["flagged_negatives"] = [r["id"] for r in bp if r["label"] == 0 and preds[r["id"]]["flagged"]]
    out["bipia_breakdown"] = br
    sp = [r for r in rows if r["set"] == "support"]
    if sp:
        out["support"] = gs.support_report(sp, [preds[r["id"]]["score"] for r in sp], [preds[r["id"]]["flagged"] for r in sp])
        if all("raw" in preds[r["id"]] for r in sp):
            raw = [preds[r["id"]]["raw"] for r in sp]
            for k, v in gs.support_report(sp, raw, None).items():
                out["support"][k]["fpr_raw_0.5"] = v["fpr_at_0.5"]
        top = sorted(sp, key=lambda r: -preds[r["id"]]["score"])[:10]
        out["support"]["top_scored"] = [{"id": r["id"], "text": r["text"], "score": round(preds[r["id"]]["score"], 4),
                                         "flagged": preds[r["id"]]["flagged"]} for r in top]
        out["support"]["flagged_texts"] = [r["text"] for r in sp if preds[r["id"]]["flagged"]][:50]
    out["groups"] = group_report([r for r in rows if r["set"] in ("heldout", "public")], preds)
    return out


CURVE = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def group_report(rows: list[dict], preds: dict[str, dict]) -> dict:
    """Per set, group, language and kind: n, the rate flagged (recall for attacks, FPR for
    benign rows), and the same rate at each score threshold of CURVE (the trade-off curve)."""
    keys: dict[tuple, list[dict]] = {}
    for r in rows:
        for k in ((r["set"], r["group"], "all", r["kind"]), (r["set"], r["group"], r["lang"], r["kind"]),
                  (r["set"], r["group"], r["lang"], "all"), (r["set"], r["group"], "all", "all")):
            keys.setdefault(k, []).append(r)
    out = {}
    for k, rs in sorted(keys.items()):
        uniq = {r["id"]: r for r in rs}.values()
        sc = [preds[r["id"]]["score"] for r in uniq]
        out[":".join(k)] = {
            "label": next(iter(uniq))["label"], "n": len(sc),
            "flagged": sum(preds[r["id"]]["flagged"] for r in uniq) / len(sc),
            "curve": {str(t): sum(s >= t for s in sc) / len(sc) for t in CURVE},
            "flagged_examples": [r["text"][:160] for r in uniq if preds[r["id"]]["flagged"]][:8]
            if next(iter(uniq))["label"] == 0 else [],
        }
    return out


def group_table(results: dict[str, dict]) -> str:
    systems = list(results)
    first = results[systems[0]]["groups"]
    lines = ["| set:group:lang:kind | n | " + " | ".join(f"{s} flagged" for s in systems)
             + " | " + " | ".join(f"{s} @{t}" for s in systems[:1] for t in CURVE) + " |",
             "|---|---|" + "---|" * (len(systems) + len(CURVE))]
    for k, v in first.items():
        what = "recall" if v["label"] == 1 else "FPR"
        cells = [f"{results[s]['groups'].get(k, {}).get('flagged', float('nan')):.3f}" for s in systems]
        curve = [f"{v['curve'][str(t)]:.3f}" for t in CURVE]
        lines.append(f"| {k} ({what}) | {v['n']} | " + " | ".join(cells) + " | " + " | ".join(curve) + " |")
    return "\n".join(lines)


def table(results: dict[str, dict]) -> str:
    systems = list(results)
    lines = []

    def row(label, fn):
        cells = []
        for s in systems:
            try:
                v = fn(results[s])
                cells.append(f"{v:.3f}" if isinstance(v, float) else str(v))
            except (KeyError, TypeError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    lines.append("| metric | " + " | ".join(systems) + " |")
    lines.append("|---|" + "---|" * len(systems))
    for part in ("overall", "en", "de"):
        d = lambda r, p=part: r["deepset"][p]  # noqa: E731
        row(f"deepset {part}: n pos/neg", lambda r, d=d: f"{d(r)['n_pos']}/{d(r)['n_neg']}")
        row(f"deepset {part}: P @flagged", lambda r, d=d: d(r)["flagged"]["precision"])
        row(f"deepset {part}: R @flagged", lambda r, d=d: d(r)["flagged"]["recall"])
        row(f"deepset {part}: F1 @flagged", lambda r, d=d: d(r)["flagged"]["f1"])
        row(f"deepset {part}: F1 @0.5", lambda r, d=d: d(r)["at_0.5"]["f1"])
        row(f"deepset {part}: R @1% FPR", lambda r, d=d: d(r)["recall_at_1pct_fpr"])
        row(f"deepset {part}: R @5% FPR", lambda r, d=d: d(r)["recall_at_5pct_fpr"])
    b = lambda r: r["bipia"]  # noqa: E731
    row("BIPIA: n pos/neg", lambda r: f"{b(r)['n_pos']}/{b(r)['n_neg']}")
    row("BIPIA: R @1% FPR", lambda r: b(r)["recall_at_1pct_fpr"])
    row("BIPIA: R @5% FPR", lambda r: b(r)["recall_at_5pct_fpr"])
    row("BIPIA: P @flagged", lambda r: b(r)["flagged"]["precision"])
    row("BIPIA: R @flagged", lambda r: b(r)["flagged"]["recall"])
    row("BIPIA: F1 @flagged", lambda r: b(r)["flagged"]["f1"])
    row("BIPIA: FPR @flagged", lambda r: b(r)["flagged"]["fpr"])
    for k in ("text_attacks_recall", "code_attacks_recall", "start_recall", "middle_recall", "end_recall",
              "email_flagged", "kb_flagged"):
        row(f"BIPIA: {k.replace('_', ' ')}", lambda r, k=k: r["bipia_breakdown"][k])
    for part in ("overall", "banking77", "clinc150"):
        row(f"support {part}: n", lambda r, p=part: r["support"][p]["n"])
        row(f"support {part}: FPR @flagged", lambda r, p=part: r["support"][p]["fpr_flagged"])
        row(f"support {part}: FPR @0.5", lambda r, p=part: r["support"][p]["fpr_at_0.5"])
        row(f"support {part}: FPR @raw 0.5", lambda r, p=part: r["support"][p]["fpr_raw_0.5"])
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO / "target"))
    ap.add_argument("--atalaya", type=Path, default=Path(target) / "release" / "atalaya")
    ap.add_argument("--predictions", type=Path, help="existing `guard scan` output (JSONL); skips running the binary")
    ap.add_argument("--baseline", type=Path, help="a second `guard scan` binary (e.g. the last commit's), scored in the same run")
    ap.add_argument("--python-model", action="store_true", help="also score with the Python reference model")
    ap.add_argument("--python-only", action="store_true", help="only the Python reference model")
    ap.add_argument("--models-dir", type=Path, default=REPO / "crates" / "atalaya-guard" / "models")
    ap.add_argument("--data-dir", type=Path, default=gs.DEFAULT_DATA)
    ap.add_argument("--results-dir", type=Path, default=HERE / "results")
    ap.add_argument("--dump", type=Path, help="write the input JSONL here and exit")
    ap.add_argument("--timeout", type=int, default=1800)
    args = ap.parse_args()

    rows = gs.all_rows(args.data_dir)
    if args.dump:
        args.dump.write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "source": r["source"]},
                                                ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"wrote {args.dump}: {len(rows)} rows")
        return

    results, timing, meta = {}, {}, {}
    if not args.python_only:
        if args.predictions:
            preds = parse_predictions(args.predictions.read_text(encoding="utf-8"))
            meta["predictions"] = str(args.predictions)
            results["atalaya"] = evaluate(rows, preds)
        elif args.atalaya.exists():
            preds, timing["atalaya_seconds"] = run_binary(args.atalaya, rows, args.timeout)
            meta["atalaya"] = str(args.atalaya)
            results["atalaya"] = evaluate(rows, preds)
        elif not args.python_model:
            sys.exit(f"guard_injection: {args.atalaya} not found (cargo build --release, or --predictions / --python-model)")
        else:
            print(f"guard_injection: {args.atalaya} not found; Python model only", file=sys.stderr)
    if args.baseline:
        preds, timing["baseline_seconds"] = run_binary(args.baseline, rows, args.timeout)
        meta["baseline"] = str(args.baseline)
        results["baseline"] = evaluate(rows, preds)
    if args.python_model or args.python_only:
        preds, timing["python_seconds"] = python_predictions(rows, args.models_dir)
        results["python-model"] = evaluate(rows, preds)
        meta["models"] = {}
        for k in ("direct", "indirect"):
            model_meta = json.loads((args.models_dir / f"injection-{k}.json").read_text())
            meta["models"][k] = {kk: model_meta[kk]
                                 for kk in ("threshold", "threshold_5fpr", "training_data_sha256", "C")}
        for k in ("direct", "indirect"):
            meta["models"][k]["bin_sha256"] = ti.sha256_file(args.models_dir / f"injection-{k}.bin")

    print(table(results))
    print()
    print(group_table(results))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"guard-injection-{stamp}.json"
    out.write_text(json.dumps({"timestamp": stamp, "meta": meta, "timing": timing, "results": results}, indent=2,
                              ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
