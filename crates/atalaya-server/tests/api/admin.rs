//! Tenancy over HTTP: the admin API's authorization matrix, key revocation, rate limits and
//! budgets with concurrent clients, the encrypted inference log and subject erasure, and
//! the request hardening limits.

use std::collections::HashMap;

use atalaya_config::{CliOverrides, Config};
use atalaya_server::Server;
use atalaya_testkit::{FakeUpstream, Reply};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::tempfile_dir;

const MASTER: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

struct Admin {
    base: String,
    /// The server's data directory.
    data: std::path::PathBuf,
    http: reqwest::Client,
    root: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<atalaya_server::Shutdown>,
}

/// A gateway with a bootstrap platform admin key, the inference log's master key and
/// `extra` TOML, routing model `m` to the fake.
async fn start(fake: &FakeUpstream, extra: &str) -> Admin {
    let root = atalaya_tenancy::keys::generate().secret;
    let toml = format!(
        r#"
[auth]
bootstrap_admin_key = "env:ADMIN"
[encryption]
master_key = "env:MASTER"
[upstreams.a]
base_url = "{}"
[models.m]
targets = [{{ upstream = "a", model = "upstream-m" }}]
[models.other]
targets = [{{ upstream = "a", model = "upstream-o" }}]
{extra}
"#,
        fake.base_url()
    );
    let dir = tempfile_dir();
    let path = dir.join("atalaya.toml");
    std::fs::write(&path, toml).unwrap();
    let env = vec![
        ("ADMIN".to_owned(), root.clone()),
        ("MASTER".to_owned(), MASTER.to_owned()),
    ];
    let cli = CliOverrides {
        data_dir: Some(dir.join("data")),
        ..CliOverrides::default()
    };
    let config = Config::load(Some(&path), &env, &cli).unwrap();
    let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let shutdown = CancellationToken::new();
    let server = Server::build(&config, &lookup, shutdown.clone())
        .await
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { server.run(listener).await.unwrap() });
    Admin {
        base,
        data: dir.join("data"),
        http: reqwest::Client::new(),
        root,
        shutdown,
        task,
    }
}

impl Admin {
    async fn call(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn root(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (s, v) = self.call(&self.root.clone(), method, path, body).await;
        assert!((200..300).contains(&s), "{path}: {s} {v}");
        v
    }

    /// The tenant's inference-log rows once there are `n` (a row is written when its
    /// response has ended, so this polls briefly).
    async fn inference_rows(&self, key: &str, tenant: &str, n: usize) -> Vec<Value> {
        let mut rows = Vec::new();
        for _ in 0..50 {
            let (s, v) = self
                .call(
                    key,
                    Method::GET,
                    &format!("/admin/v1/tenants/{tenant}/inference-log"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{v}");
            rows = v["data"].as_array().unwrap().clone();
            if rows.len() == n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        rows
    }

    /// Creates a key and returns (id, secret).
    async fn key(&self, tenant: &str, role: &str, limits: Value) -> (String, String) {
        let v = self
            .root(
                Method::POST,
                &format!("/admin/v1/tenants/{tenant}/keys"),
                Some(json!({"name": format!("{role} key"), "role": role, "limits": limits})),
            )
            .await;
        (
            v["id"].as_str().unwrap().to_owned(),
            v["key"].as_str().unwrap().to_owned(),
        )
    }

    async fn chat(&self, key: &str, stream: bool) -> reqwest::Response {
        self.http
            .post(format!("{}/v1/chat/completions", self.base))
            .bearer_auth(key)
            .json(&json!({"model": "m", "stream": stream, "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}))
            .send()
            .await
            .unwrap()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Need {
    /// Tenant-scoped: viewer and admin.
    Read,
    /// Tenant-scoped: admin.
    Manage,
    /// Platform admins only, on a tenant (another tenant's answers 404 as usual).
    Platform,
    /// Platform admins only, platform-wide.
    Global,
}

#[tokio::test]
async fn authorization_matrix_of_the_admin_api() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "").await;
    for t in ["acme", "globex"] {
        a.root(Method::POST, "/admin/v1/tenants", Some(json!({"id": t})))
            .await;
    }
    let mut keys = HashMap::new();
    for role in ["admin", "member", "viewer"] {
        keys.insert(role, a.key("acme", role, json!({})).await.1);
    }
    let mut case = 0;
    for tenant_of_target in ["acme", "globex"] {
        let own = tenant_of_target == "acme";
        for role in ["admin", "member", "viewer"] {
            let key = keys[role].clone();
            // Destructive targets are made fresh for each case.
            case += 1;
            let (victim, _) = a.key(tenant_of_target, "member", json!({})).await;
            let (victim2, _) = a.key(tenant_of_target, "member", json!({})).await;
            let t = tenant_of_target;
            let endpoints: Vec<(Method, String, Option<Value>, Need)> = vec![
                (
                    Method::POST,
                    "/admin/v1/tenants".into(),
                    Some(json!({"id": format!("new{case}")})),
                    Need::Global,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/tenants/{t}"),
                    None,
                    Need::Read,
                ),
                (
                    Method::PATCH,
                    format!("/admin/v1/tenants/{t}"),
                    Some(json!({"name": "x"})),
                    Need::Platform,
                ),
                (
                    Method::DELETE,
                    format!("/admin/v1/tenants/{t}"),
                    None,
                    Need::Platform,
                ),
                (
                    Method::POST,
                    format!("/admin/v1/tenants/{t}/keys"),
                    Some(json!({"name": "n"})),
                    Need::Manage,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/tenants/{t}/keys"),
                    None,
                    Need::Read,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/tenants/{t}/usage"),
                    None,
                    Need::Read,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/tenants/{t}/inference-log"),
                    None,
                    Need::Read,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/keys/{victim}"),
                    None,
                    Need::Read,
                ),
                (
                    Method::PATCH,
                    format!("/admin/v1/keys/{victim}"),
                    Some(json!({"name": "renamed"})),
                    Need::Manage,
                ),
                (
                    Method::POST,
                    format!("/admin/v1/keys/{victim}/rotate"),
                    None,
                    Need::Manage,
                ),
                (
                    Method::DELETE,
                    format!("/admin/v1/keys/{victim2}"),
                    None,
                    Need::Manage,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/audit?tenant={t}"),
                    None,
                    Need::Read,
                ),
                (
                    Method::GET,
                    "/admin/v1/audit/verify".into(),
                    None,
                    Need::Global,
                ),
                (
                    Method::GET,
                    format!("/admin/v1/subjects/someone?tenant={t}"),
                    None,
                    Need::Manage,
                ),
                (
                    Method::DELETE,
                    format!("/admin/v1/subjects/someone?tenant={t}"),
                    None,
                    Need::Manage,
                ),
            ];
            for (method, path, body, need) in endpoints {
                let (status, v) = a.call(&key, method.clone(), &path, body).await;
                let allowed = match need {
                    Need::Read => own && (role == "viewer" || role == "admin"),
                    Need::Manage => own && role == "admin",
                    Need::Platform | Need::Global => false,
                };
                let expected = if allowed {
                    "2xx"
                } else if need == Need::Global || own {
                    "403"
                } else {
                    "404"
                };
                let got = match status {
                    200..=299 => "2xx",
                    403 => "403",
                    404 => "404",
                    _ => "other",
                };
                assert_eq!(
                    got, expected,
                    "{role} of acme: {method} {path} -> {status} {v}"
                );
                if status == 403 {
                    assert_eq!(v["error"]["code"], "permission_denied", "{v}");
                }
            }
        }
    }
    // Listing tenants: admins and viewers see their own tenant only; members nothing.
    let (_, v) = a
        .call(&keys["viewer"], Method::GET, "/admin/v1/tenants", None)
        .await;
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme"]);
    let (s, _) = a
        .call(&keys["member"], Method::GET, "/admin/v1/tenants", None)
        .await;
    assert_eq!(s, 403);
    // The platform admin does everything, on every tenant.
    let v = a.root(Method::GET, "/admin/v1/tenants", None).await;
    assert!(v["data"].as_array().unwrap().len() >= 4);
    a.root(
        Method::PATCH,
        "/admin/v1/tenants/globex",
        Some(json!({"models": ["m"]})),
    )
    .await;
    let v = a.root(Method::GET, "/admin/v1/audit/verify", None).await;
    assert_eq!(v["ok"], true, "{v}");
    a.root(Method::DELETE, "/admin/v1/tenants/globex", None)
        .await;
    // A member calls the API; a viewer may not.
    assert_eq!(a.chat(&keys["member"], false).await.status(), 200);
    let r = a.chat(&keys["viewer"], false).await;
    assert_eq!(r.status(), 403);
    a.stop().await;
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_rotation_hands_over() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "").await;
    let (id, secret) = a.key("default", "member", json!({})).await;
    assert_eq!(a.chat(&secret, false).await.status(), 200);
    // Rotation with a grace period: both work, then only the new one.
    let v = a
        .root(
            Method::POST,
            &format!("/admin/v1/keys/{id}/rotate"),
            Some(json!({"grace_seconds": 3600})),
        )
        .await;
    let new_secret = v["key"].as_str().unwrap().to_owned();
    let new_id = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["rotated_from"], id.as_str());
    assert_eq!(a.chat(&secret, false).await.status(), 200);
    assert_eq!(a.chat(&new_secret, false).await.status(), 200);
    a.root(Method::DELETE, &format!("/admin/v1/keys/{id}"), None)
        .await;
    let r = a.chat(&secret, false).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    assert_eq!(a.chat(&new_secret, false).await.status(), 200);
    // Listings show prefixes and last use, never the key.
    let v = a
        .root(Method::GET, "/admin/v1/tenants/default/keys", None)
        .await;
    let text = v.to_string();
    assert!(!text.contains(&new_secret[12..]));
    let listed = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == new_id.as_str())
        .unwrap();
    assert!(listed["last_used_at"].is_number(), "{listed}");
    assert!(listed.get("key").is_none());
    a.stop().await;
}

#[tokio::test]
async fn rate_limits_hold_under_concurrent_clients() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "").await;
    // 5 a minute, bursts of 5: of 20 concurrent requests, exactly 5 pass.
    let (_, secret) = a
        .key("default", "member", json!({"requests_per_minute": 5}))
        .await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (http, base, key) = (a.http.clone(), a.base.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
        }));
    }
    let mut ok = 0;
    let mut limited = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status().as_u16() {
            200 => {
                ok += 1;
                assert_eq!(r.headers()["x-ratelimit-limit-requests"], "5");
            }
            429 => {
                limited += 1;
                let retry: u64 = r.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=12).contains(&retry), "{retry}");
                assert_eq!(r.headers()["x-ratelimit-remaining-requests"], "0");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["error"]["code"], "rate_limit_exceeded");
            }
            s => panic!("unexpected {s}"),
        }
    }
    assert_eq!((ok, limited), (5, 15));
    assert_eq!(
        fake.request_count(),
        5,
        "refused requests never reach the upstream"
    );
    a.stop().await;
}

#[tokio::test]
async fn budgets_stop_a_tenant_and_usage_is_reported() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(
        &fake,
        "[pricing.m]\ninput_per_million = 1000.0\noutput_per_million = 2000.0\n",
    )
    .await;
    // The fake reports 9 prompt + 12 completion tokens per call: the third call crosses 50.
    a.root(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "models": ["m"], "limits": {"tokens_per_day": 50}})),
    )
    .await;
    let (_, secret) = a.key("acme", "member", json!({})).await;
    for _ in 0..3 {
        assert_eq!(a.chat(&secret, false).await.status(), 200);
    }
    let r = a.chat(&secret, false).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "budget_exceeded", "{v}");
    assert_eq!(v["error"]["type"], "insufficient_quota");
    // Another model is outside the tenant's list, and /v1/models shows only its own.
    let r = a
        .http
        .post(format!("{}/v1/chat/completions", a.base))
        .bearer_auth(&secret)
        .json(&json!({"model": "other", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let (_, models) = a.call(&secret, Method::GET, "/v1/models", None).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m"]);
    let v = a
        .root(Method::GET, "/admin/v1/tenants/acme/usage", None)
        .await;
    assert_eq!(v["total_requests"], 3, "{v}");
    assert_eq!(v["total_tokens"], 63);
    // 3 × (9 × 1000 + 12 × 2000) micro-units = 0.099.
    assert!(
        (v["total_cost"].as_f64().unwrap() - 0.099).abs() < 1e-9,
        "{v}"
    );
    a.stop().await;
}

#[tokio::test]
async fn pipeline_answers_are_logged_streamed_or_not() {
    let fake = FakeUpstream::start().await.unwrap();
    let dir = tempfile_dir();
    let file = dir.join("reply.yaml");
    std::fs::write(
        &file,
        "name: reply\nsteps:\n  - id: ask\n    kind: prompt\n    user: \"{{ input.text }}\"\n  - id: answer\n    kind: generate\n    model: m\n    prompt: ask\n",
    )
    .unwrap();
    let a = start(
        &fake,
        &format!("[pipelines]\npaths = [\"{}\"]\n", file.display()),
    )
    .await;
    a.root(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "log_inference": true})),
    )
    .await;
    let (_, secret) = a.key("acme", "member", json!({})).await;
    let (_, viewer) = a.key("acme", "viewer", json!({})).await;
    fake.push(Reply::chat("plain pipeline answer"));
    fake.push(Reply::stream(&["stre", "amed"]));
    for stream in [false, true] {
        let r = a
            .http
            .post(format!("{}/v1/chat/completions", a.base))
            .bearer_auth(&secret)
            .header("x-atalaya-subject", "customer-9")
            .json(&json!({"model": "pipeline:reply", "stream": stream, "messages": [{"role": "user", "content": "a question"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.text().await.unwrap();
    }
    let rows = a.inference_rows(&viewer, "acme", 2).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let all = serde_json::to_string(&rows).unwrap();
    assert!(all.contains("plain pipeline answer"), "{all}");
    // Tagged with the subject, so its erasure finds them.
    assert!(
        rows.iter().all(|r| r["content"]["subject"] == "customer-9"),
        "{all}"
    );
    assert!(
        rows.iter()
            .any(|r| r["content"]["response"]["choices"]["0"] == "streamed"),
        "{all}"
    );
    a.stop().await;
}

#[tokio::test]
async fn inference_log_records_streams_and_subjects_can_be_erased() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "").await;
    a.root(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "log_inference": true, "retention_days": 30})),
    )
    .await;
    let (_, secret) = a.key("acme", "member", json!({})).await;
    let (_, viewer) = a.key("acme", "viewer", json!({})).await;
    fake.push(Reply::stream(&["Hel", "lo ", "there"]));
    let r = a
        .http
        .post(format!("{}/v1/chat/completions", a.base))
        .bearer_auth(&secret)
        .header("x-atalaya-subject", "customer-42")
        .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "my question"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    fake.push(Reply::chat("plain answer"));
    let r = a
        .http
        .post(format!("{}/v1/chat/completions", a.base))
        .bearer_auth(&secret)
        .json(&json!({"model": "m", "user": "customer-7", "messages": [{"role": "user", "content": "other question"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    let rows = a.inference_rows(&viewer, "acme", 2).await;
    let streamed = rows
        .iter()
        .find(|r| r["content"]["subject"] == "customer-42")
        .unwrap();
    assert_eq!(
        streamed["content"]["response"]["choices"]["0"],
        "Hello there"
    );
    assert_eq!(
        streamed["content"]["request"]["messages"][0]["content"],
        "my question"
    );
    assert_eq!(streamed["status"], 200);
    let plain = rows
        .iter()
        .find(|r| r["content"]["subject"] == "customer-7")
        .unwrap();
    assert_eq!(
        plain["content"]["response"]["choices"][0]["message"]["content"],
        "plain answer"
    );

    let v = a
        .root(Method::GET, "/admin/v1/subjects/customer-42", None)
        .await;
    assert_eq!(v["inference_log"].as_array().unwrap().len(), 1);
    let v = a
        .root(Method::DELETE, "/admin/v1/subjects/customer-42", None)
        .await;
    assert_eq!(v["deleted"]["inference_log"], 1);
    let v = a
        .root(Method::GET, "/admin/v1/subjects/customer-42", None)
        .await;
    assert!(v["inference_log"].as_array().unwrap().is_empty());
    let (_, v) = a
        .call(
            &viewer,
            Method::GET,
            "/admin/v1/tenants/acme/inference-log",
            None,
        )
        .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    a.stop().await;
}

#[tokio::test]
async fn hardening_limits_and_cors() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(
        &fake,
        "[server]\ncors_allowed_origins = [\"https://app.example.com\"]\nmax_json_depth = 8\n",
    )
    .await;
    let (_, secret) = a.key("default", "member", json!({})).await;
    // Too deep.
    let deep = format!("{}{}", "[".repeat(20), "]".repeat(20));
    let r = a
        .http
        .post(format!("{}/v1/chat/completions", a.base))
        .bearer_auth(&secret)
        .header("content-type", "application/json")
        .body(format!(r#"{{"model":"m","messages":[],"x":{deep}}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_json_depth"),
        "{v}"
    );
    // Oversized headers.
    let r = a
        .http
        .get(format!("{}/v1/models", a.base))
        .bearer_auth(&secret)
        .header("x-filler", "a".repeat(40_000))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // CORS: the configured origin is answered, another is not.
    for (origin, allowed) in [
        ("https://app.example.com", true),
        ("https://evil.example.com", false),
    ] {
        let r = a
            .http
            .request(Method::OPTIONS, format!("{}/v1/chat/completions", a.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .unwrap();
        let got = r
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(got.as_deref() == Some(origin), allowed, "{origin}: {got:?}");
    }
    // An unauthenticated caller is refused and audited with its address.
    let r = a
        .http
        .get(format!("{}/admin/v1/tenants", a.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v = a.root(Method::GET, "/admin/v1/audit", None).await;
    let failures: Vec<&Value> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.failure")
        .collect();
    assert!(!failures.is_empty(), "{v}");
    assert_eq!(failures[0]["source_ip"], "127.0.0.1");
    a.stop().await;
}

#[tokio::test]
async fn without_cors_configured_no_cors_headers() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "").await;
    let r = a
        .http
        .request(Method::OPTIONS, format!("{}/v1/chat/completions", a.base))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    a.stop().await;
}

#[tokio::test]
async fn a_tenant_guard_policy_applies_on_every_route() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "[guard.policies.strict.pii]\naction = \"block\"\n").await;
    let root = a.root.clone();
    let (s, v) = a
        .call(
            &root,
            Method::POST,
            "/admin/v1/tenants",
            Some(json!({"id": "x", "guard_policy": "nope"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["param"], "guard_policy");
    a.root(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"id": "acme", "guard_policy": "strict"})),
    )
    .await;
    a.root(
        Method::POST,
        "/admin/v1/tenants",
        Some(json!({"id": "globex"})),
    )
    .await;
    let (_, acme) = a.key("acme", "member", json!({})).await;
    let (_, globex) = a.key("globex", "member", json!({})).await;
    let chat = |key: String| {
        let (http, base) = (a.http.clone(), a.base.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&json!({"model": "m", "messages": [{"role": "user", "content": "Write to jane.doe@example.com please"}]}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // Route `m` has no policy: only acme's own policy blocks the e-mail address.
    let (s, v) = chat(acme.clone()).await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "guardrail_violation");
    assert!(!v.to_string().contains("jane.doe"), "{v}");
    let (s, v) = chat(globex.clone()).await;
    assert_eq!(s, 200, "{v}");
    // The tenant's policy also drives /v1/guard/redact: it blocks where the default
    // pseudonymizes.
    let body = Some(json!({"text": "jane.doe@example.com"}));
    let (s, v) = a
        .call(&acme, Method::POST, "/v1/guard/redact", body.clone())
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("guardrail_violation")),
        "{v}"
    );
    let (s, v) = a
        .call(&globex, Method::POST, "/v1/guard/redact", body)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["redacted"], "[EMAIL_1]", "{v}");
    // Back to each route's own policy.
    let v = a
        .root(
            Method::PATCH,
            "/admin/v1/tenants/acme",
            Some(json!({"guard_policy": null})),
        )
        .await;
    assert!(v["guard_policy"].is_null(), "{v}");
    let (s, v) = chat(acme).await;
    assert_eq!(s, 200, "{v}");
    a.stop().await;
}

#[tokio::test]
async fn audit_names_the_client_behind_a_trusted_proxy() {
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "[server]\ntrusted_proxies = [\"127.0.0.1\"]\n").await;
    let r = a
        .http
        .get(format!("{}/v1/models", a.base))
        .bearer_auth("not-a-key")
        .header("x-forwarded-for", "198.51.100.4, 203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v = a.root(Method::GET, "/admin/v1/audit", None).await;
    let failure = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auth.failure")
        .cloned()
        .unwrap();
    // The right-most address the proxy saw, not the (forgeable) left-most one.
    assert_eq!(failure["source_ip"], "203.0.113.9", "{failure}");
    a.stop().await;
}

/// `POST /v1/classify`: a tenant's classifier answers that tenant only.
#[tokio::test]
async fn classifiers_serve_their_own_tenant() {
    use atalaya_classify::{data::Example, model::TrainOptions, Classifier};
    let fake = FakeUpstream::start().await.unwrap();
    let a = start(&fake, "").await;
    for id in ["acme", "globex"] {
        a.root(Method::POST, "/admin/v1/tenants", Some(json!({ "id": id })))
            .await;
    }
    let (_, acme) = a.key("acme", "member", json!({})).await;
    let (_, viewer) = a.key("acme", "viewer", json!({})).await;
    let (_, globex) = a.key("globex", "member", json!({})).await;
    // A small n-gram classifier, as `atalaya classify train --no-embeddings` writes it.
    let mut examples = Vec::new();
    for (label, texts) in [
        (
            "card_lost",
            ["I lost my card", "my card was stolen", "perdí mi tarjeta"],
        ),
        (
            "refund",
            [
                "I want a refund",
                "give me my money back",
                "quiero un reembolso",
            ],
        ),
    ] {
        for t in texts {
            for s in ["", " please", " today", " now"] {
                examples.push(Example {
                    text: format!("{t}{s}"),
                    label: label.into(),
                });
            }
        }
    }
    let c = Classifier::train(
        "intents",
        &examples,
        None,
        None,
        &TrainOptions::default(),
        vec![],
        |_| {},
    )
    .unwrap();
    c.save(&a.data.join("classifiers/acme/intents.atc"))
        .unwrap();

    let body = json!({"classifier": "intents", "input": ["someone stole my card", "I want my money back"]});
    let (s, v) = a
        .call(&acme, Method::POST, "/v1/classify", Some(body.clone()))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["best"], "card_lost", "{v}");
    assert_eq!(v["data"][1]["best"], "refund", "{v}");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["top"].as_array().unwrap().len(), 2);
    let (s, v) = a
        .call(
            &acme,
            Method::POST,
            "/v1/classify",
            Some(json!({"classifier": "intents", "input": "perdí la tarjeta"})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    // Another tenant does not see it; a viewer may not call the API.
    let (s, v) = a
        .call(&globex, Method::POST, "/v1/classify", Some(body.clone()))
        .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    let (s, _) = a
        .call(&viewer, Method::POST, "/v1/classify", Some(body))
        .await;
    assert_eq!(s, 403);
    // Bad requests name the field.
    for (bad, param) in [
        (json!({"classifier": "../x", "input": "a"}), "classifier"),
        (json!({"classifier": "intents", "input": []}), "input"),
        (json!({"classifier": "intents", "input": 5}), "input"),
    ] {
        let (s, v) = a.call(&acme, Method::POST, "/v1/classify", Some(bad)).await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(v["error"]["param"], param, "{v}");
    }
    a.stop().await;
}
