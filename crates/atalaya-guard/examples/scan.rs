//! `cargo run --release -p atalaya-guard --example scan < in.jsonl`: the detectors alone, in
//! the output format of `atalaya guard scan` (for quick iterations on the evaluation sets
//! without building the server).
#![allow(clippy::print_stdout)] // a benchmark tool: its report is its output

use std::io::{BufRead, Write};

use atalaya_guard::{Guard, Policy, Source};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let guard = Guard::new()?;
    let policy = Policy::default();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)?;
        let text = v["text"].as_str().unwrap_or_default();
        let source = match v["source"].as_str() {
            Some("document") => Source::Document,
            _ => Source::User,
        };
        let r = guard.scan(text, source, &policy);
        let pii: Vec<_> = r
            .char_spans(text)
            .into_iter()
            .map(|(f, s, e)| serde_json::json!({"type": f.kind.as_str(), "start": s, "end": e, "score": f.score, "rule": f.rule}))
            .collect();
        let inj = r.injection.map(
            |i| serde_json::json!({"score": i.score, "flagged": i.flagged, "reasons": i.reasons}),
        );
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"id": v["id"], "pii": pii, "injection": inj}),
        )?;
        out.write_all(b"\n")?;
    }
    Ok(())
}
