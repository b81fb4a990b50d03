//! Labelled examples: CSV with a header (a `text` column and a `label`, `intent` or
//! `category` column) or JSON Lines (`{"text": ..., "label": ...}`, same field names).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub text: String,
    pub label: String,
}

const LABEL_FIELDS: [&str; 3] = ["label", "intent", "category"];

/// Examples of a file and the SHA-256 of its bytes (recorded with a trained classifier).
pub fn load(path: &Path) -> Result<(Vec<Example>, String)> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let jsonl = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("jsonl") || e.eq_ignore_ascii_case("ndjson"));
    let name = path.display().to_string();
    let examples = if jsonl {
        parse_jsonl(&bytes, &name)?
    } else {
        parse_csv(&bytes, &name)?
    };
    if examples.is_empty() {
        return Err(Error::Data(format!("{name}: no examples")));
    }
    Ok((examples, sha))
}

pub fn parse_csv(bytes: &[u8], name: &str) -> Result<Vec<Example>> {
    let mut r = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = r
        .headers()
        .map_err(|e| Error::Data(format!("{name}: {e}")))?
        .clone();
    let col = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let text = col(&["text"]).ok_or_else(|| {
        Error::Data(format!(
            "{name}: no 'text' column in the header (found {:?})",
            headers.iter().collect::<Vec<_>>()
        ))
    })?;
    let label = col(&LABEL_FIELDS).ok_or_else(|| {
        Error::Data(format!(
            "{name}: no 'label', 'intent' or 'category' column in the header (found {:?})",
            headers.iter().collect::<Vec<_>>()
        ))
    })?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| Error::Data(format!("{name}: {e}")))?;
        // The record's first line (a quoted field may span several).
        let line = rec.position().map_or(0, |p| p.line());
        let (t, l) = (
            rec.get(text).unwrap_or("").trim(),
            rec.get(label).unwrap_or("").trim(),
        );
        if t.is_empty() || l.is_empty() {
            return Err(Error::Data(format!(
                "{name}: line {line}: empty text or label"
            )));
        }
        out.push(Example {
            text: t.to_owned(),
            label: l.to_owned(),
        });
    }
    Ok(out)
}

pub fn parse_jsonl(bytes: &[u8], name: &str) -> Result<Vec<Example>> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| Error::Data(format!("{name}: not UTF-8: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Data(format!("{name}: line {n}: malformed JSON: {e}")))?;
        let t = v.get("text").and_then(|t| t.as_str()).map(str::trim);
        let l = LABEL_FIELDS
            .iter()
            .find_map(|f| v.get(*f).and_then(|l| l.as_str()))
            .map(str::trim);
        match (t, l) {
            (Some(t), Some(l)) if !t.is_empty() && !l.is_empty() => out.push(Example {
                text: t.to_owned(),
                label: l.to_owned(),
            }),
            _ => {
                return Err(Error::Data(format!(
                    "{name}: line {n}: needs a non-empty string 'text' and 'label' (or 'intent', 'category')"
                )))
            }
        }
    }
    Ok(out)
}

/// A small deterministic generator (splitmix64): the same data and seed give the same split
/// and the same model.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

/// Splits off `fraction` of each label's examples (at least one of a label with two or more)
/// for validation: (train, validation), both in a seeded random order.
pub fn stratified_split(
    examples: &[Example],
    fraction: f64,
    seed: u64,
) -> (Vec<Example>, Vec<Example>) {
    let mut by_label: std::collections::BTreeMap<&str, Vec<&Example>> = Default::default();
    for e in examples {
        by_label.entry(&e.label).or_default().push(e);
    }
    let mut rng = Rng::new(seed);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (_, mut group) in by_label {
        rng.shuffle(&mut group);
        let n = group.len();
        let k = if n >= 2 && fraction > 0.0 {
            ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
        } else {
            0
        };
        val.extend(group[..k].iter().map(|e| (*e).clone()));
        train.extend(group[k..].iter().map(|e| (*e).clone()));
    }
    rng.shuffle(&mut train);
    rng.shuffle(&mut val);
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl_with_their_errors() {
        let ex = parse_csv(b"text,category\nhello there,greet\n\"a, b\",x\n", "t.csv").unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!(ex[1].text, "a, b");
        let e = parse_csv(b"body,label\nx,y\n", "t.csv").unwrap_err();
        assert!(e.to_string().contains("no 'text' column"), "{e}");
        let e = parse_csv(b"text,label\n,y\n", "t.csv").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let ex = parse_jsonl(b"{\"text\":\"hi\",\"intent\":\"greet\"}\n\n", "t.jsonl").unwrap();
        assert_eq!(ex[0].label, "greet");
        let e = parse_jsonl(b"{\"text\":\"hi\"}\n", "t.jsonl").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        let e = parse_jsonl(b"{\"text\":\n", "t.jsonl").unwrap_err();
        assert!(e.to_string().contains("malformed JSON"), "{e}");
    }

    #[test]
    fn split_is_stratified_and_deterministic() {
        let ex: Vec<Example> = (0..100)
            .map(|i| Example {
                text: format!("t{i}"),
                label: if i % 4 == 0 { "a" } else { "b" }.into(),
            })
            .collect();
        let (t, v) = stratified_split(&ex, 0.2, 7);
        assert_eq!(t.len() + v.len(), 100);
        assert_eq!(v.iter().filter(|e| e.label == "a").count(), 5);
        assert_eq!(v.iter().filter(|e| e.label == "b").count(), 15);
        assert_eq!(stratified_split(&ex, 0.2, 7), (t, v));
        // No validation asked for: none held out.
        assert_eq!(stratified_split(&ex, 0.0, 7).1.len(), 0);
    }
}
