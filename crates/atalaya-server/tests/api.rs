//! The HTTP API through the real axum stack, on a loopback socket, against the fake upstream.
#![allow(clippy::disallowed_methods)] // tests spawn the server task directly
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use atalaya_config::{auth::hash_key, CliOverrides, Config};
use atalaya_server::{Server, Shutdown};
use atalaya_testkit::{FakeUpstream, Reply};
use serde_json::{json, Value};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

#[path = "api/admin.rs"]
mod admin;

const KEY: &str = "sk-test-key";

struct Harness {
    base: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    task: JoinHandle<Shutdown>,
}

/// Starts a gateway from TOML (`{up0}`, `{up1}` are replaced by the fakes' base URLs). The
/// auth section is added unless the TOML has one.
async fn start(toml: &str, fakes: &[&FakeUpstream]) -> Harness {
    let mut text = toml.to_owned();
    for (i, f) in fakes.iter().enumerate() {
        text = text.replace(&format!("{{up{i}}}"), &f.base_url());
    }
    if !text.contains("[auth]") {
        text = format!("[auth]\napi_keys = [\"{}\"]\n{text}", hash_key(KEY));
    }
    let dir = tempfile_dir();
    let path = dir.join("atalaya.toml");
    std::fs::write(&path, text).unwrap();
    let cli = CliOverrides {
        data_dir: Some(dir.join("data")),
        ..CliOverrides::default()
    };
    let config = Config::load(Some(&path), &[], &cli).unwrap();
    let shutdown = CancellationToken::new();
    let server = Server::build(&config, &|_| None, shutdown.clone())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { server.run(listener).await.unwrap() });
    Harness {
        base,
        http: reqwest::Client::new(),
        shutdown,
        task,
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("atalaya-test-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

const ONE: &str = r#"
[upstreams.a]
base_url = "{up0}"
[models.m]
targets = [{ upstream = "a", model = "upstream-m" }]
[models.m.retry]
backoff_base_ms = 10
backoff_max_ms = 20
"#;

fn chat_body(stream: bool) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

impl Harness {
    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn chat(&self, body: &Value) -> (u16, Value) {
        let r = self.post("/v1/chat/completions", body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// The `data:` payloads of an SSE body.
fn events(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

fn contents(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect()
}

fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(v["error"]["type"].is_string(), "{v}");
    assert!(v["error"].as_object().unwrap().contains_key("param"), "{v}");
}

#[tokio::test]
async fn non_streaming_passes_fields_through_and_rewrites_the_model() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    let body = json!({
        "model": "m",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "temperature": 0.3, "max_tokens": 5, "seed": 7, "tools": [{"type": "function", "function": {"name": "f"}}],
        "response_format": {"type": "json_object"}, "vendor_extension": {"keep": true}
    });
    let r = h.post("/v1/chat/completions", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-atalaya-target"], "a/upstream-m");
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the fake upstream."
    );
    assert_eq!(
        v["system_fingerprint"], "fake",
        "unknown response fields survive"
    );
    let seen = &fake.requests()[0];
    assert_eq!(seen.body["model"], "upstream-m");
    assert_eq!(seen.body["vendor_extension"]["keep"], true);
    assert_eq!(seen.body["seed"], 7);
    assert_eq!(seen.body["tools"][0]["function"]["name"], "f");
    assert!(
        seen.headers.get("authorization").is_none(),
        "no key configured upstream"
    );
    let m = h.metrics().await;
    assert!(
        m.contains(r#"atalaya_prompt_tokens_total{model="m"} 9"#),
        "{m}"
    );
    assert!(
        m.contains(r#"atalaya_completion_tokens_total{model="m"} 12"#),
        "{m}"
    );
    assert!(
        m.contains("atalaya_gateway_overhead_seconds_count 1"),
        "{m}"
    );
}

#[tokio::test]
async fn streaming_forwards_chunks_in_order_and_honours_include_usage() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    // Without include_usage: no usage chunk reaches the client, but tokens are counted.
    let r = h.post("/v1/chat/completions", &chat_body(true)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let ev = events(&r.text().await.unwrap());
    assert_eq!(contents(&ev), "t0 t1 t2 t3 t4 ");
    assert_eq!(ev.last().unwrap(), "[DONE]");
    assert!(ev.iter().all(|e| !e.contains("\"usage\":{")), "{ev:?}");
    assert_eq!(
        fake.requests()[0].body["stream_options"]["include_usage"],
        true,
        "gateway asks for usage"
    );
    // With include_usage: the usage chunk is forwarded before [DONE].
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let ev = events(
        &h.post("/v1/chat/completions", &body)
            .await
            .text()
            .await
            .unwrap(),
    );
    let usage: Value = serde_json::from_str(&ev[ev.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    assert_eq!(ev.last().unwrap(), "[DONE]");
    let m = h.metrics().await;
    assert!(
        m.contains(r#"atalaya_completion_tokens_total{model="m"} 10"#),
        "{m}"
    );
    assert!(
        m.contains("atalaya_time_to_first_token_seconds_count{model=\"m\"} 2"),
        "{m}"
    );
}

#[tokio::test]
async fn embeddings_and_models() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    let r = h
        .post(
            "/v1/embeddings",
            &json!({"model": "m", "input": ["a", "b"], "dimensions": 8}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(fake.requests()[0].body["dimensions"], 8);
    let (s, v) = {
        let r = h
            .post("/v1/embeddings", &json!({"model": "m", "input": []}))
            .await;
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    assert_eq!(s, 400);
    assert_eq!(v["error"]["param"], "input");
    let v: Value = h
        .http
        .get(format!("{}/v1/models", h.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "m");
    let r = h.get("/v1/models").await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn client_errors_have_stable_codes() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(&format!("[server]\nmax_body_bytes = 2048\n{ONE}"), &[&fake]).await;
    let url = format!("{}/v1/chat/completions", h.base);
    // 401: missing and bad keys.
    let r = h
        .http
        .post(&url)
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_error(&r.json().await.unwrap(), "missing_api_key");
    let r = h
        .http
        .post(&url)
        .bearer_auth("sk-wrong")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_error(&r.json().await.unwrap(), "invalid_api_key");
    // 400: malformed JSON, schema violations naming the field.
    let r = h
        .http
        .post(&url)
        .bearer_auth(KEY)
        .body("{\"model\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_error(&r.json().await.unwrap(), "invalid_request");
    let (s, v) = h
        .chat(&json!({"model": "m", "messages": [{"role": "user", "content": 1}]}))
        .await;
    assert_eq!(
        (s, v["error"]["param"].as_str()),
        (400, Some("messages[0].content"))
    );
    let (s, v) = h.chat(&json!({"messages": []})).await;
    assert_eq!((s, v["error"]["param"].as_str()), (400, Some("model")));
    let (s, v) = h.chat(&json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 9})).await;
    assert_eq!(
        (s, v["error"]["param"].as_str()),
        (400, Some("temperature"))
    );
    // 404: unknown model, unknown route; 405: wrong method.
    let (s, v) = h
        .chat(&json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(s, 404);
    assert_error(&v, "model_not_found");
    let r = h.get("/v2/whatever").await;
    assert_eq!(r.status(), 404);
    assert_error(&r.json().await.unwrap(), "not_found");
    let r = h.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_error(&r.json().await.unwrap(), "method_not_allowed");
    // 413: declared and streamed (chunked, no content-length) oversize bodies.
    let big = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    let r = h.post("/v1/chat/completions", &big).await;
    assert_eq!(r.status(), 413);
    assert_error(&r.json().await.unwrap(), "request_too_large");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b' '; 1500]), Ok(vec![b' '; 1500])];
    let r = h
        .http
        .post(&url)
        .bearer_auth(KEY)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        fake.request_count(),
        0,
        "no bad request reached the upstream"
    );
}

#[tokio::test]
async fn request_id_is_accepted_or_generated() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.base))
        .bearer_auth(KEY)
        .header("x-request-id", "req-123")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "req-123");
    assert_eq!(
        fake.requests()[0].headers["x-request-id"],
        "req-123",
        "propagated upstream"
    );
    let r = h
        .http
        .post(format!("{}/v1/chat/completions", h.base))
        .bearer_auth(KEY)
        .header("x-request-id", "bad id with spaces")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 32, "{id}");
}

#[tokio::test]
async fn upstream_failures_map_to_502_429_504() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = format!("{ONE}\n[models.m.circuit_breaker]\nfailure_threshold = 100\n");
    let h = start(&cfg, &[&fake]).await;
    // 5xx twice (2 attempts) → 502 naming the upstream.
    fake.push(Reply::status(500));
    fake.push(Reply::status(503));
    let (s, v) = h.chat(&chat_body(false)).await;
    assert_eq!(s, 502);
    assert_error(&v, "upstream_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a/upstream-m"),
        "{v}"
    );
    // Connection reset, then garbage → 502.
    fake.push(Reply::Reset);
    fake.push(Reply::Garbage);
    let (s, v) = h.chat(&chat_body(false)).await;
    assert_eq!(s, 502);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid response"),
        "{v}"
    );
    // 429 on every attempt → 429 with Retry-After.
    fake.push(Reply::status(429).retry_after(0));
    fake.push(Reply::status(429).retry_after(0));
    let r = h.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert_error(&r.json().await.unwrap(), "rate_limit_exceeded");
    // An upstream 400 is the client's fault: relayed as 400, not retried.
    let before = fake.request_count();
    fake.push(Reply::status(400));
    let (s, v) = h.chat(&chat_body(false)).await;
    assert_eq!(s, 400);
    assert_error(&v, "invalid_request");
    assert_eq!(fake.request_count(), before + 1);
}

#[tokio::test]
async fn timeouts_give_504_within_the_deadline() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
timeout_ms = 200
[models.m]
targets = [{ upstream = "a" }]
timeout_ms = 500
first_token_timeout_ms = 200
[models.m.retry]
attempts = 5
backoff_base_ms = 10
backoff_max_ms = 20
"#;
    let h = start(cfg, &[&fake]).await;
    for _ in 0..5 {
        fake.push(Reply::chat("late").delayed(Duration::from_secs(5)));
    }
    let t = std::time::Instant::now();
    let (s, v) = h.chat(&chat_body(false)).await;
    let took = t.elapsed();
    assert_eq!(s, 504);
    assert_error(&v, "upstream_timeout");
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[tokio::test]
async fn retry_honours_retry_after() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    fake.push(Reply::status(429).retry_after(1));
    let t = std::time::Instant::now();
    let r = h.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-atalaya-attempts"], "2");
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        t.elapsed()
    );
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_upstream_retries_total{target="a/upstream-m"} 1"#));
}

#[tokio::test]
async fn retry_stops_at_the_deadline() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
[models.m]
targets = [{ upstream = "a" }]
timeout_ms = 800
first_token_timeout_ms = 800
[models.m.retry]
attempts = 10
backoff_base_ms = 100
backoff_max_ms = 200
[models.m.circuit_breaker]
failure_threshold = 100
"#;
    let h = start(cfg, &[&fake]).await;
    for _ in 0..20 {
        fake.push(Reply::status(503));
    }
    let t = std::time::Instant::now();
    let (s, _) = h.chat(&chat_body(false)).await;
    let took = t.elapsed();
    assert!(s == 502 || s == 504, "{s}");
    assert!(took < Duration::from_millis(1200), "{took:?}");
    assert!(
        fake.request_count() < 10,
        "stopped by the deadline, not by attempts: {}",
        fake.request_count()
    );
}

const TWO: &str = r#"
[upstreams.a]
base_url = "{up0}"
[upstreams.b]
base_url = "{up1}"
[models.m]
targets = [{ upstream = "a", priority = 0 }, { upstream = "b", priority = 1 }]
first_token_timeout_ms = 300
[models.m.retry]
attempts = 2
backoff_base_ms = 10
backoff_max_ms = 20
[models.m.circuit_breaker]
failure_threshold = 2
cooldown_ms = 300
"#;

#[tokio::test]
async fn falls_back_to_the_second_target() {
    let a = FakeUpstream::start().await.unwrap();
    let b = FakeUpstream::start().await.unwrap();
    let h = start(TWO, &[&a, &b]).await;
    a.push(Reply::status(500));
    a.push(Reply::Reset);
    let r = h.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-atalaya-target"], "b/m");
    assert_eq!(r.headers()["x-atalaya-attempts"], "3");
    assert_eq!((a.request_count(), b.request_count()), (2, 1));
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_fallbacks_total{model="m"} 1"#));
}

#[tokio::test]
async fn slow_first_token_falls_back_for_streams() {
    let a = FakeUpstream::start().await.unwrap();
    let b = FakeUpstream::start().await.unwrap();
    let h = start(TWO, &[&a, &b]).await;
    a.push(Reply::stream(&["late"]).first_after(Duration::from_secs(3)));
    a.push(Reply::stream(&["late"]).first_after(Duration::from_secs(3)));
    let t = std::time::Instant::now();
    let r = h.post("/v1/chat/completions", &chat_body(true)).await;
    assert_eq!(r.headers()["x-atalaya-target"], "b/m");
    let ev = events(&r.text().await.unwrap());
    assert_eq!(contents(&ev), "t0 t1 t2 t3 t4 ");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[tokio::test]
async fn circuit_breaker_opens_and_recovers() {
    let a = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
[models.m]
targets = [{ upstream = "a" }]
[models.m.retry]
attempts = 1
[models.m.circuit_breaker]
failure_threshold = 2
cooldown_ms = 300
"#;
    let h = start(cfg, &[&a]).await;
    a.push(Reply::status(500));
    a.push(Reply::status(500));
    assert_eq!(h.chat(&chat_body(false)).await.0, 502);
    assert_eq!(h.chat(&chat_body(false)).await.0, 502);
    // Open: rejected without calling the upstream, readiness reports it.
    let r = h.post("/v1/chat/completions", &chat_body(false)).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_error(&r.json().await.unwrap(), "service_unavailable");
    assert_eq!(a.request_count(), 2);
    let ready = h.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_circuit_state{target="a/m"} 2"#));
    // After the cooldown one probe goes through; its success closes the circuit.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(h.chat(&chat_body(false)).await.0, 200);
    assert_eq!(h.chat(&chat_body(false)).await.0, 200);
    assert_eq!(h.get("/readyz").await.status(), 200);
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_circuit_state{target="a/m"} 0"#));
}

#[tokio::test]
async fn mid_stream_failure_ends_with_an_error_event() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    // Chunks are spaced so the first ones are delivered before the connection dies (a reset
    // can discard data the client has not read yet).
    let gap = Duration::from_millis(30);
    for reply in [
        Reply::stream(&["a", "b", "c", "d"]).every(gap).die_after(2),
        Reply::stream(&["a", "b", "c"])
            .every(gap)
            .error_event_after(2),
    ] {
        fake.push(reply);
        let r = h.post("/v1/chat/completions", &chat_body(true)).await;
        assert_eq!(r.status(), 200);
        let ev = events(&r.text().await.unwrap());
        assert_eq!(contents(&ev), "ab", "{ev:?}");
        let last: Value = serde_json::from_str(ev.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], "upstream_error", "{last}");
        assert!(
            !ev.contains(&"[DONE]".to_owned()),
            "a broken stream must not look complete"
        );
    }
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_stream_errors_total{model="m"} 2"#));
}

#[tokio::test]
async fn graceful_shutdown_lets_a_running_stream_finish() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    let pieces: Vec<String> = (0..10).map(|i| format!("p{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Reply::stream(&refs).every(Duration::from_millis(50)));
    let r = h.post("/v1/chat/completions", &chat_body(true)).await;
    assert_eq!(r.status(), 200);
    // The stream is running; ask the server to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.shutdown.cancel();
    let ready = h.http.get(format!("{}/readyz", h.base)).send().await;
    assert!(
        ready.is_err() || ready.unwrap().status() == 503,
        "no longer ready"
    );
    let ev = events(&r.text().await.unwrap());
    assert_eq!(contents(&ev), pieces.concat());
    assert_eq!(ev.last().unwrap(), "[DONE]");
    assert_eq!(h.task.await.unwrap(), Shutdown::Drained);
}

#[tokio::test]
async fn shutdown_grace_is_bounded() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(
        &format!("[server]\nshutdown_grace_ms = 200\n{ONE}"),
        &[&fake],
    )
    .await;
    fake.push(Reply::stream(&["a", "b"]).every(Duration::from_secs(30)));
    let r = h.post("/v1/chat/completions", &chat_body(true)).await;
    assert_eq!(r.status(), 200);
    h.shutdown.cancel();
    let t = std::time::Instant::now();
    assert_eq!(h.task.await.unwrap(), Shutdown::GraceExpired);
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn concurrency_limit_sheds_load_with_503() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(
        &format!("[server]\nmax_concurrent_requests = 1\n{ONE}"),
        &[&fake],
    )
    .await;
    fake.push(Reply::chat("slow").delayed(Duration::from_millis(400)));
    let body = chat_body(false);
    let slow = h.post("/v1/chat/completions", &body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.chat(&chat_body(false)).await
    };
    let (first, (s, v)) = tokio::join!(slow, second);
    assert_eq!(first.status(), 200);
    assert_eq!(s, 503);
    assert_error(&v, "service_unavailable");
}

#[tokio::test]
async fn upstream_key_and_headers_are_sent_and_never_leaked() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
api_key = "file:KEYFILE"
headers = { "X-Team" = "support" }
[models.m]
targets = [{ upstream = "a" }]
[models.m.retry]
attempts = 1
"#;
    let dir = tempfile_dir();
    let keyfile = dir.join("key");
    std::fs::write(&keyfile, "sk-upstream-secret\n").unwrap();
    let h = start(&cfg.replace("KEYFILE", keyfile.to_str().unwrap()), &[&fake]).await;
    assert_eq!(h.chat(&chat_body(false)).await.0, 200);
    let seen = &fake.requests()[0];
    assert_eq!(seen.headers["authorization"], "Bearer sk-upstream-secret");
    assert_eq!(seen.headers["x-team"], "support");
    fake.push(Reply::status(401));
    let (s, v) = h.chat(&chat_body(false)).await;
    assert_eq!(s, 502);
    assert!(!v.to_string().contains("sk-upstream-secret"));
    assert!(!h.metrics().await.contains("sk-upstream-secret"));
}

#[tokio::test]
async fn a_stream_may_outlast_the_first_token_and_attempt_timeouts() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
timeout_ms = 300
[models.m]
targets = [{ upstream = "a" }]
first_token_timeout_ms = 300
"#;
    let h = start(cfg, &[&fake]).await;
    let pieces: Vec<String> = (0..8).map(|i| format!("x{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Reply::stream(&refs).every(Duration::from_millis(100)));
    let r = h.post("/v1/chat/completions", &chat_body(true)).await;
    let ev = events(&r.text().await.unwrap());
    assert_eq!(contents(&ev), pieces.concat(), "{ev:?}");
    assert_eq!(ev.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn per_target_timeout_overrides_the_upstream() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
timeout_ms = 5000
[models.m]
targets = [{ upstream = "a", timeout_ms = 150 }]
[models.m.retry]
attempts = 1
"#;
    let h = start(cfg, &[&fake]).await;
    fake.push(Reply::chat("late").delayed(Duration::from_secs(2)));
    let t = std::time::Instant::now();
    let (s, v) = h.chat(&chat_body(false)).await;
    assert_eq!(s, 504, "{v}");
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn metrics_label_only_configured_models_and_disconnects_are_counted() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    for i in 0..3 {
        let (s, _) = h
            .chat(&json!({"model": format!("made-up-{i}"), "messages": [{"role": "user", "content": "x"}]}))
            .await;
        assert_eq!(s, 404);
    }
    // A client that gives up before the (slow) answer.
    fake.push(Reply::chat("slow").delayed(Duration::from_millis(500)));
    let gave_up = tokio::time::timeout(
        Duration::from_millis(100),
        h.post("/v1/chat/completions", &chat_body(false)),
    )
    .await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let m = h.metrics().await;
    assert!(!m.contains("made-up"), "{m}");
    assert!(m.contains(r#"atalaya_http_requests_total{route="/v1/chat/completions",model="unknown",status="404"} 3"#), "{m}");
    assert!(
        m.contains(
            r#"atalaya_http_requests_total{route="/v1/chat/completions",model="m",status="499"} 1"#
        ),
        "{m}"
    );
    assert!(
        m.contains("atalaya_requests_in_flight 1"),
        "only the /metrics request itself: {m}"
    );
    assert!(
        m.contains(r#"atalaya_circuit_state{target="a/upstream-m"} 0"#),
        "{m}"
    );
}

#[tokio::test]
async fn upstream_credential_errors_are_not_relayed() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(ONE, &[&fake]).await;
    fake.push(Reply::Status {
        status: 401,
        message: "Incorrect API key provided: sk-abc***************wxyz".into(),
        retry_after: None,
    });
    let (s, v) = h.chat(&chat_body(false)).await;
    assert_eq!(s, 502);
    let text = v.to_string();
    assert!(
        !text.contains("sk-abc") && text.contains("credentials"),
        "{text}"
    );
}

#[tokio::test]
async fn active_health_checks_drive_readiness() {
    let fake = FakeUpstream::start().await.unwrap();
    let cfg = r#"
[upstreams.a]
base_url = "{up0}"
health_check_interval_ms = 100
[models.m]
targets = [{ upstream = "a" }]
"#;
    let h = start(cfg, &[&fake]).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = h.get("/readyz").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["targets"][0]["upstream_up"], true, "{v}");
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_upstream_up{upstream="a"} 1"#));
    // The upstream goes away: the next probe marks it down and readiness follows.
    fake.stop().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = h.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["targets"][0]["upstream_up"], false, "{v}");
    assert!(h
        .metrics()
        .await
        .contains(r#"atalaya_upstream_up{upstream="a"} 0"#));
}

/// Reads from a raw connection until the server closes it or `wait` passes: what it sent.
async fn read_until_closed(sock: &mut tokio::net::TcpStream, wait: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut buf)).await {
            Err(_) => return None, // still open
            Ok(Ok(0) | Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Slow clients cannot hold the server: headers that never finish close the connection, a
/// body that stalls gets 408 `request_timeout`, and connections beyond
/// `server.max_connections` are closed at once while the others are served.
#[tokio::test]
async fn slow_and_surplus_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(
        &format!(
            "[server]\nheader_read_timeout_ms = 300\nbody_read_timeout_ms = 300\nmax_connections = 2\n{ONE}"
        ),
        &[&fake],
    )
    .await;
    let addr = h.base.trim_start_matches("http://").to_owned();

    // Headers sent halfway, then nothing: closed after the header timeout.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let t = std::time::Instant::now();
    assert!(read_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .is_some());
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

    // A body that stops after 10 of 100 bytes: 408 with a stable code.
    let mut stalled = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"model\":"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stalled, Duration::from_secs(5))
        .await
        .unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // Two idle connections take both slots; a third is closed at once.
    let mut a = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _b = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let _ = c
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert_eq!(
        read_until_closed(&mut c, Duration::from_secs(2))
            .await
            .as_deref(),
        Some(""),
        "the surplus connection is closed without an answer"
    );
    // The first is served (and its slot, freed on close, lets a new client in).
    a.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut a, Duration::from_secs(2))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        h.http
            .get(format!("{}/healthz", h.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// With `server.metrics_key`, `/metrics` answers only to that key, and `/readyz` shows its
/// per-target detail (models, upstreams, circuits) only to that key.
#[tokio::test]
async fn metrics_can_require_a_key() {
    let fake = FakeUpstream::start().await.unwrap();
    let h = start(
        &format!(
            "[server]\nmetrics_key = \"{}\"\n{ONE}",
            hash_key("scrape-secret")
        ),
        &[&fake],
    )
    .await;
    let get = |auth: Option<&str>| {
        let mut r = h.http.get(format!("{}/metrics", h.base));
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        r.send()
    };
    let r = get(None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_error(&r.json().await.unwrap(), "missing_api_key");
    let r = get(Some(KEY)).await.unwrap();
    assert_eq!(r.status(), 401, "an API key is not the metrics key");
    let r = get(Some("scrape-secret")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("atalaya_requests_in_flight"));
    let ready = |auth: Option<&str>| {
        let mut r = h.http.get(format!("{}/readyz", h.base));
        if let Some(a) = auth {
            r = r.bearer_auth(a);
        }
        r.send()
    };
    let v: serde_json::Value = ready(None).await.unwrap().json().await.unwrap();
    assert_eq!(v["status"], "ready", "{v}");
    assert!(v.get("targets").is_none(), "detail without the key: {v}");
    let v: serde_json::Value = ready(Some("scrape-secret"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        v["targets"].as_array().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
}
