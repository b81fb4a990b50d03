//! `atalaya guard scan|redact`: JSON Lines in, JSON Lines out, over the same service function
//! as `POST /v1/guard/scan`. A bad line gets an error line (with its line number) and the
//! others are still scanned; the exit status then says some lines failed.

use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Write},
    path::PathBuf,
};

use anyhow::Context;
use atalaya_api::guard::ScanItem;
use atalaya_guard::{Guard, Policy};
use atalaya_service::guard::scan_item;

/// Returns whether every line was scanned.
pub fn run(input: Option<PathBuf>, policy: Option<PathBuf>, redact: bool) -> anyhow::Result<bool> {
    let policy = match policy {
        None => Policy::default(),
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read policy file {}", p.display()))?;
            Policy::from_toml(&text).with_context(|| format!("policy file {}", p.display()))?
        }
    };
    let guard = Guard::new()?;
    let reader: Box<dyn BufRead> = match &input {
        None => Box::new(BufReader::new(std::io::stdin().lock())),
        Some(p) => Box::new(BufReader::new(
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut all_ok = true;
    for (n, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        // An error line carries the item's id when the line had one.
        let result = match serde_json::from_str::<ScanItem>(&line) {
            Err(e) => Err((
                serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("id").cloned()),
                format!("line {}: not a {{\"id\",\"text\"}} object: {e}", n + 1),
            )),
            Ok(item) => {
                let id = item.id.clone();
                scan_item(&guard, &policy, item, redact)
                    .map_err(|e| (id, format!("line {}: {}", n + 1, e.public_message())))
            }
        };
        match result {
            Ok(r) => serde_json::to_writer(&mut out, &r)?,
            Err((id, e)) => {
                all_ok = false;
                serde_json::to_writer(&mut out, &serde_json::json!({"id": id, "error": e}))?
            }
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(all_ok)
}
