//! A missing ONNX Runtime library is a load error naming the file, not a crash. Its own test
//! binary: the process must never have loaded the real library.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use atalaya_core::config::{LocalModelConfig, LocalModelKind};
use atalaya_engine::embed::EmbedEngine;

#[test]
fn a_missing_onnx_runtime_library_is_a_clear_load_error() {
    let model =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2/model.onnx");
    let cfg = LocalModelConfig {
        kind: LocalModelKind::Embedding,
        path: model,
        ..LocalModelConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libonnxruntime.so");
    let e = EmbedEngine::load("minilm", &cfg, &missing, None).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("onnxruntime.library") && msg.contains("make models"),
        "{msg}"
    );
    assert!(msg.contains(&missing.display().to_string()), "{msg}");
    // Not a library at all: dlopen's reason is reported (failures are not cached, so this is
    // a fresh attempt).
    std::fs::write(&missing, b"not an ELF file").unwrap();
    let e = EmbedEngine::load("minilm", &cfg, &missing, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot load ONNX Runtime") && e.contains("failed to load from"),
        "{e}"
    );
    // The right library then loads: a corrected path can be retried in the same process.
    let good = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/onnxruntime/libonnxruntime.so");
    let e = EmbedEngine::load("minilm", &cfg, &good, None).unwrap();
    assert_eq!(e.dimensions(), 384);
}
