//! Shared by the end-to-end tests: the model files `make models` prepares, and the real
//! binary started on a configuration file.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_atalaya");

pub fn models_dir() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    assert!(
        p.join("fixtures/tiny-llama-f32.gguf").is_file()
            && p.join("all-MiniLM-L6-v2.gguf").is_file()
            && p.join("all-MiniLM-L6-v2/model.onnx").is_file()
            && p.join("onnxruntime/libonnxruntime.so").exists(),
        "model files are missing: run `make models` (scripts/models.sh) first"
    );
    p
}

/// The config tables for the MiniLM embedding model (`minilm`) on ONNX Runtime, from the
/// installed models.
#[allow(dead_code)] // not every test binary embeds
pub fn minilm_config() -> String {
    let m = models_dir();
    format!(
        r#"
[local_models.minilm]
kind = "embedding"
path = "{}"
threads = 1

[onnxruntime]
library = "{}"
"#,
        m.join("all-MiniLM-L6-v2/model.onnx").display(),
        m.join("onnxruntime/libonnxruntime.so").display(),
    )
}

/// Starts `atalaya serve --config PATH` on a free port with a clean environment (plus
/// `KEY=key`) and returns the child and its base URL once it listens.
pub async fn serve_file(path: &std::path::Path, key: &str) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("KEY", key)
        // A relative data directory (the default ./data) lands beside the config.
        .current_dir(path.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("server exited before listening");
            if let Some(url) = line.strip_prefix("Atalaya listening on ") {
                return url.to_owned();
            }
        }
    })
    .await
    .expect("server did not start");
    // Keep reading: the banner continues after the address, and a closed pipe would fail it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// [`serve_file`] on `config`, written to a new temporary directory.
pub async fn serve(config: &str, key: &str) -> (Child, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("atalaya.toml");
    std::fs::write(&path, config).unwrap();
    let (child, base) = serve_file(&path, key).await;
    (child, base, dir)
}
