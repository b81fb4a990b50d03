//! End-to-end: the real binary serving local models (the tiny random-weight GGUF fixtures and
//! the ONNX embedding model prepared by `make models`), alone and mixed with a remote upstream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test code

use std::time::Duration;

use atalaya_testkit::FakeUpstream;
use base64::Engine as _;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

mod common;
use common::{models_dir, BIN};

const KEY: &str = "sk-local";

async fn serve(config: &str) -> (Child, String, tempfile::TempDir) {
    common::serve(config, KEY).await
}

fn config(upstream: &str) -> String {
    let m = models_dir();
    format!(
        r#"
[auth]
api_keys = ["env:KEY"]
[log]
level = "warn"

[upstreams.remote]
base_url = "{upstream}"

[local_models.tiny]
path = "{tiny}"
context_length = 256
parallel = 1
queue_size = 1
threads = 1
kv_cache_type = "f32"
sampling = {{ temperature = 0.0 }}

[local_models.minilm]
kind = "embedding"
path = "{minilm}"
threads = 1

[onnxruntime]
library = "{ort}"

# Local only: a full queue is the client's 429.
[models.tiny]
targets = [{{ upstream = "tiny" }}]
retry = {{ attempts = 1 }}

# Local first, the remote upstream when the local model is busy.
[models.assistant]
targets = [{{ upstream = "tiny", priority = 0 }}, {{ upstream = "remote", priority = 1 }}]
retry = {{ attempts = 1 }}

[models.embed]
targets = [{{ upstream = "minilm" }}]
"#,
        tiny = m.join("fixtures/tiny-llama-f32.gguf").display(),
        minilm = m.join("all-MiniLM-L6-v2/model.onnx").display(),
        ort = m.join("onnxruntime/libonnxruntime.so").display(),
    )
}

fn chat(model: &str, content: &str, max_tokens: u32, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "stream": stream,
        "stream_options": {"include_usage": true},
        "seed": 1,
    })
}

/// Reads an SSE response: the content deltas joined, and the parsed events.
async fn read_stream(r: reqwest::Response) -> (String, Vec<Value>) {
    let body = r.text().await.unwrap();
    let mut text = String::new();
    let mut events = Vec::new();
    for line in body.lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            events.push(json!("[DONE]"));
            continue;
        }
        let v: Value = serde_json::from_str(data).unwrap();
        if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
        events.push(v);
    }
    (text, events)
}

#[tokio::test]
async fn local_models_behind_the_gateway() {
    let fake = FakeUpstream::start().await.unwrap();
    let (_child, base, _dir) = serve(&config(&fake.base_url())).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };

    // /v1/models describes local models.
    let v: Value = http
        .get(format!("{base}/v1/models"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tiny = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "tiny")
        .unwrap();
    assert_eq!(tiny["atalaya"]["architecture"], "llama");
    assert_eq!(tiny["atalaya"]["context_length"], 256);
    let emb = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "embed")
        .unwrap();
    assert_eq!(emb["atalaya"]["dimensions"], 384);
    assert_eq!(emb["atalaya"]["engine"], "onnxruntime");

    // A completion, then the same request streamed: the same text, token by token.
    let r = post(
        "/v1/chat/completions",
        chat("tiny", "Where is my parcel?", 12, false),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let full = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let n = v["usage"]["completion_tokens"].as_u64().unwrap();
    // The random model may emit its end-of-turn token before max_tokens.
    let reason = v["choices"][0]["finish_reason"].as_str().unwrap();
    assert!(
        (n == 12 && reason == "length") || (n < 12 && reason == "stop"),
        "{v}"
    );
    let r = post(
        "/v1/chat/completions",
        chat("tiny", "Where is my parcel?", 12, true),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let (streamed, events) = read_stream(r).await;
    assert_eq!(streamed, full);
    assert!(events.len() > 6, "{} events", events.len());
    assert_eq!(events.last().unwrap(), &json!("[DONE]"));
    let usage = events
        .iter()
        .rev()
        .find(|e| e.get("usage").is_some_and(|u| !u.is_null()))
        .unwrap();
    // The repeated prompt came from the prefix cache.
    assert!(
        usage["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap()
            > 10
    );

    // Context overflow: a stable 400.
    let r = post(
        "/v1/chat/completions",
        chat("tiny", &"ticket ".repeat(300), 8, false),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "context_length_exceeded", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("256"),
        "{v}"
    );

    // Unsupported parameters are refused clearly.
    let mut body = chat("tiny", "hi", 4, false);
    body["n"] = json!(2);
    let r = post("/v1/chat/completions", body).await.unwrap();
    assert_eq!(r.status(), 400);

    // Saturate the single slot and the one-place queue. A tiny model can finish the long
    // answer before the queued request arrives (a loaded machine reorders them): then the
    // slot frees, nothing is refused, and the saturation starts again.
    let mut saturated = None;
    for _attempt in 0..5 {
        let running = post(
            "/v1/chat/completions",
            chat("tiny", "a long answer", 200, true),
        )
        .await
        .unwrap();
        let mut running = running.bytes_stream();
        let first = running.next().await.unwrap().unwrap();
        assert!(!first.is_empty());
        let queued = {
            let http = http.clone();
            let base = base.clone();
            tokio::spawn(async move {
                http.post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(KEY)
                    .json(&chat("tiny", "queued", 4, false))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        // Give the queued request time to reach the engine's queue.
        let mut refused = None;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let r = post("/v1/chat/completions", chat("tiny", "one more", 4, false))
                .await
                .unwrap();
            if r.status() == 429 {
                refused = Some(r);
                break;
            }
        }
        match refused {
            Some(r) => {
                saturated = Some((running, queued, r));
                break;
            }
            None => {
                drop(running);
                let _ = queued.await;
            }
        }
    }
    let (running, queued, r) = saturated.expect("a full queue must answer 429");
    assert!(r.headers().get("retry-after").is_some());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    // The mixed route falls back to the remote upstream while the local model is busy.
    let r = post("/v1/chat/completions", chat("assistant", "help", 4, false))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the fake upstream."
    );

    // Disconnecting the long stream frees the slot: the queued request completes.
    drop(running);
    let status = tokio::time::timeout(Duration::from_secs(30), queued)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);

    // Embeddings, as floats and as base64 (the OpenAI SDK's default).
    let r = post(
        "/v1/embeddings",
        json!({"model": "embed", "input": ["refund please", "reembolso por favor"]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let floats: Vec<f32> = v["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(floats.len(), 384);
    assert_eq!(v["data"][1]["index"], 1);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 4);
    let r = post("/v1/embeddings", json!({"model": "embed", "input": ["refund please", "reembolso por favor"], "encoding_format": "base64"})).await.unwrap();
    let v: Value = r.json().await.unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = raw
        .chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(decoded, floats);
    let r = post(
        "/v1/embeddings",
        json!({"model": "embed", "input": [1, 2, 3]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);

    // The engine's metrics.
    let m = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("atalaya_local_prompt_cached_tokens_total{local_model=\"tiny\"}"),
        "{m}"
    );
    assert!(m.contains("atalaya_local_generated_tokens_total{local_model=\"tiny\"}"));
    assert!(
        m.contains("atalaya_local_rejected_total{local_model=\"tiny\",reason=\"queue_full\"}"),
        "{m}"
    );
    assert!(
        m.contains("atalaya_local_rejected_total{local_model=\"tiny\",reason=\"context_length\"}")
    );
}

/// `serve --gguf PATH` must refuse to start: exit code 2, the reason on stderr, no panic.
async fn refused_gguf(path: &str) -> String {
    let out = Command::new(BIN)
        .args(["serve", "--gguf", path, "--listen", "127.0.0.1:0"])
        .env_clear()
        .env("ATALAYA_API_KEY", "k")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[tokio::test]
async fn a_bad_model_file_stops_start_up_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(models_dir().join("fixtures/tiny-llama-q8_0.gguf")).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let err = refused_gguf(cut.to_str().unwrap()).await;
    assert!(
        err.contains("local_models.cut") && err.contains("truncated"),
        "{err}"
    );

    let err = refused_gguf("/nonexistent.gguf").await;
    assert!(
        err.contains("local_models.nonexistent.path") && err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn models_cli_lists_and_inspects() {
    let m = models_dir();
    let out = Command::new(BIN)
        .args([
            "models",
            "inspect",
            m.join("fixtures/tiny-llama-q8_0.gguf").to_str().unwrap(),
            "--json",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["quantization"], "Q8_0");
    assert_eq!(v["layers"], 2);
    assert!(v["chat_template"].as_str().unwrap().contains("im_start"));
    assert!(v["memory_estimate"]["total"].as_u64().unwrap() > 0);

    // An ONNX embedding model is described by loading it with its tokenizer and runtime.
    let ort = m.join("onnxruntime/libonnxruntime.so");
    let out = Command::new(BIN)
        .args([
            "models",
            "inspect",
            m.join("all-MiniLM-L6-v2/model.onnx").to_str().unwrap(),
            "--onnxruntime",
            ort.to_str().unwrap(),
            "--json",
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["engine"], "onnxruntime");
    assert_eq!(v["dimensions"], 384);
    assert_eq!(v["max_seq_length"], 256);

    let out = Command::new(BIN)
        .args([
            "models",
            "list",
            "--dir",
            m.to_str().unwrap(),
            "--onnxruntime",
            ort.to_str().unwrap(),
        ])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bert") && text.contains("embedding"),
        "{text}"
    );
    assert!(text.contains("tiny-llama-q8_0.gguf"), "{text}");
    // NAME KIND ARCH PARAMS QUANT CTX PATH
    assert!(
        text.lines().any(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() == 7
                && cols[1] == "embedding"
                && cols[2] == "onnx"
                && cols[5] == "256"
                && cols[6].ends_with("all-MiniLM-L6-v2/model.onnx")
        }),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.gguf");
    std::fs::write(&text_file, "these are notes, not a model").unwrap();
    let out = Command::new(BIN)
        .args(["models", "inspect", text_file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a GGUF file"));
}
