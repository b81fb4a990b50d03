//! Shared by the end-to-end tests: the model files `make models` prepares, and the real
//! binary started on a configuration file.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use serde_json::{json, Value};

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
    let mut cmd = Command::new(BIN);
    cmd.args([
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
    .kill_on_drop(true);
    start(&mut cmd).await
}

/// Spawns a prepared `atalaya serve` command (stdout piped) and returns it with its base URL
/// once it listens; the rest of its output keeps being read.
pub async fn start(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
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

/// An API client with one key, for the end-to-end tests.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn with_key(base: &str, key: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    pub async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let r = r.bearer_auth(&self.key).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// Polls a task until it finishes.
    pub async fn wait(&self, id: i64) -> Value {
        for _ in 0..2400 {
            let (s, t) = self.get(&format!("/v1/tasks/{id}")).await;
            assert_eq!(s, 200, "{t}");
            if t["status"] == "succeeded" || t["status"] == "failed" {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("task {id} did not finish");
    }
}

/// The demo knowledge base (en/es/pt articles) as upload items, tagged by language.
pub fn demo_documents() -> Vec<Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/knowledge");
    let mut docs = Vec::new();
    for lang in ["en", "es", "pt"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(lang))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            docs.push(json!({
                "source": format!("{lang}/{}", f.file_name().unwrap().to_str().unwrap()),
                "content": std::fs::read_to_string(&f).unwrap(),
                "language": lang,
                "tags": [lang],
            }));
        }
    }
    docs
}

/// Runs the CLI with `args` and only `env` set; asserts it succeeded and returns its stdout
/// as JSON.
pub async fn cli_json(args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A member key of a new tenant (created with `extra` options), made with the CLI on the
/// data directory.
pub fn tenant_key(data: &std::path::Path, tenant: &str, extra: &[&str]) -> String {
    let run = |args: &[&str]| cli_data(data, args);
    let mut create = vec!["tenants", "create", tenant];
    create.extend_from_slice(extra);
    run(&create);
    let k = run(&["keys", "create", "--tenant", tenant, "--name", "app"]);
    k["key"].as_str().unwrap().to_owned()
}

/// Runs the CLI with `args` on the data directory `data` (blocking); asserts it succeeded
/// and returns its stdout as JSON.
pub fn cli_data(data: &std::path::Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(BIN)
        .args(args)
        .args(["--data-dir", data.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout).unwrap()
}

/// A pipeline that calls no model (language detection only): a ticket through it is a pure
/// durable write.
pub const TRIAGE_PIPELINE: &str =
    "name: triage\nsteps:\n  - id: language\n    kind: detect_language\n";

/// Writes pipeline `name` (YAML `spec`) under `dir/pipelines/` and returns the `[pipelines]`
/// section that loads it (and makes it the tickets pipeline when `tickets`).
pub fn pipelines_section(dir: &Path, name: &str, spec: &str, tickets: bool) -> String {
    let pipelines = dir.join("pipelines");
    std::fs::create_dir_all(&pipelines).unwrap();
    std::fs::write(pipelines.join(format!("{name}.yaml")), spec).unwrap();
    let mut s = format!("[pipelines]\npaths = [\"{}\"]\n", pipelines.display());
    if tickets {
        s.push_str(&format!("tickets_pipeline = \"{name}\"\n"));
    }
    s
}
