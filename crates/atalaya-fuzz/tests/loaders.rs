//! The model-file loaders (classifiers, HNSW graphs) on files made hostile from valid ones:
//! every truncation point of the header region and beyond, thousands of byte flips, and
//! lying size fields. Each must be refused or load into something that works; none may
//! crash. Deterministic, so it runs in CI; the coverage-guided runs in `fuzz/` go further.
//! `ATALAYA_WRITE_SEEDS=1` also writes the valid files as fuzz seeds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use atalaya_classify::{model::TrainOptions, Classifier, Example};
use atalaya_knowledge::ann::{Ann, AnnParams};

fn valid_classifier(dir: &Path) -> Vec<u8> {
    let mut examples = Vec::new();
    for i in 0..30 {
        examples.push(Example {
            text: format!("where is my order {i}, it has not arrived"),
            label: "shipping".into(),
        });
        examples.push(Example {
            text: format!("I was charged twice on invoice {i}, refund please"),
            label: "billing".into(),
        });
    }
    let c = Classifier::train(
        "seed",
        &examples,
        None,
        None,
        &TrainOptions::default(),
        Vec::new(),
        |_| {},
    )
    .unwrap();
    let p = dir.join("seed.atc");
    c.save(&p).unwrap();
    std::fs::read(&p).unwrap()
}

fn valid_graph(dir: &Path) -> Vec<u8> {
    let dims = atalaya_fuzz::ANN_DIMS;
    let vectors: Vec<(u64, Vec<f32>)> = (0..40u64)
        .map(|k| {
            let v: Vec<f32> = (0..dims)
                .map(|d| ((k * 7 + d as u64 * 3) % 11) as f32 - 5.0)
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
            (k + 100, v.into_iter().map(|x| x / n).collect())
        })
        .collect();
    let items: Vec<(u64, &[f32])> = vectors.iter().map(|(k, v)| (*k, v.as_slice())).collect();
    let ann = Ann::new(dims, AnnParams::default()).unwrap();
    ann.add(&items, 1).unwrap();
    let p = dir.join("seed.hnsw");
    let keys: Vec<u64> = vectors.iter().map(|(k, _)| *k).collect();
    ann.save(&p, &keys).unwrap();
    // The valid file loads.
    assert!(Ann::load(&p, dims, AnnParams::default()).is_some());
    std::fs::read(&p).unwrap()
}

/// Hostile variants of `valid`: truncations, byte flips, and every 8-byte field of the first
/// 64 bytes set to huge and to zero.
fn variants(valid: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let n = valid.len();
    for cut in (0..n.min(256)).chain((256..n).step_by((n / 64).max(1))) {
        out.push(valid[..cut].to_vec());
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut v = valid.to_vec();
        let at = (x as usize) % n;
        v[at] ^= 1 << ((x >> 32) % 8);
        out.push(v);
    }
    for at in 0..n.min(64).saturating_sub(8) {
        for value in [u64::MAX, 1 << 40, 0] {
            let mut v = valid.to_vec();
            v[at..at + 8].copy_from_slice(&value.to_le_bytes());
            out.push(v);
        }
    }
    out
}

fn write_seed(name: &str, bytes: &[u8]) {
    if std::env::var_os("ATALAYA_WRITE_SEEDS").is_some() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus")
            .join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("seed-valid"), bytes).unwrap();
    }
}

#[test]
fn hostile_classifier_files_are_refused_or_work() {
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_classifier(dir.path());
    write_seed("classifier", &valid);
    atalaya_fuzz::classifier(&valid);
    for v in variants(&valid) {
        atalaya_fuzz::classifier(&v);
    }
}

#[test]
fn hostile_hnsw_files_are_refused_or_work() {
    let dir = tempfile::tempdir().unwrap();
    let valid = valid_graph(dir.path());
    write_seed("ann", &valid);
    atalaya_fuzz::ann(&valid);
    for v in variants(&valid) {
        atalaya_fuzz::ann(&v);
    }
}
