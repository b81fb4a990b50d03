//! The guard's scan over a JSON Lines file, with the output of `atalaya guard scan` (one line
//! per input: `{"id", "pii": [{"type", "start", "end", "score"}], "injection": {...}}`, code
//! point offsets; `"source": "document"` on a line scans it as retrieved text), built from
//! this crate alone. The accuracy benchmarks use it to compare two
//! checkouts in one run without building the server twice:
//! `cargo run --release -p atalaya-guard --example guard_scan -- guard scan --input FILE`
//! (`bench/guard_pii.py --atalaya target/release/examples/guard_scan`).
#![allow(clippy::print_stdout)] // a benchmark tool: its report is its output

use std::io::{BufRead, Write};

use atalaya_guard::{Guard, Policy, Source};
use serde_json::{json, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let input = args
        .iter()
        .position(|a| a == "--input")
        .and_then(|i| args.get(i + 1))
        .ok_or("usage: guard_scan [guard scan] --input FILE.jsonl")?;
    let guard = Guard::new()?;
    let policy = Policy::default();
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    for line in std::io::BufReader::new(std::fs::File::open(input)?).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let item: Value = serde_json::from_str(&line)?;
        let text = item["text"].as_str().unwrap_or_default();
        let source = match item["source"].as_str() {
            Some("document") => Source::Document,
            _ => Source::User,
        };
        let report = guard.scan(text, source, &policy);
        let pii: Vec<Value> = report
            .char_spans(text)
            .into_iter()
            .map(|(f, s, e)| json!({"type": f.kind.as_str(), "start": s, "end": e, "score": f.score}))
            .collect();
        let injection = report
            .injection
            .as_ref()
            .map(|r| json!({"score": r.score, "flagged": r.flagged, "reasons": r.reasons}));
        writeln!(
            out,
            "{}",
            json!({"id": item["id"], "pii": pii, "injection": injection})
        )?;
    }
    Ok(())
}
