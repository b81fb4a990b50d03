//! End-to-end: the real `atalaya` binary, started on a random port, against the fake upstream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::{process::Stdio, time::Duration};

use atalaya_testkit::{FakeUpstream, Reply};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_atalaya");

fn atalaya() -> Command {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    // Each server gets its own platform store.
    let data = std::env::temp_dir().join(format!(
        "atalaya-e2e-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ATALAYA__SERVER__DATA_DIR", data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Starts `atalaya serve` and returns it with its base URL and the start-up banner.
async fn serve(mut cmd: Command) -> (Child, String, Vec<String>) {
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    let base = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("server exited before listening");
            banner.push(line.clone());
            if let Some(url) = line.strip_prefix("Atalaya listening on ") {
                return url.to_owned();
            }
        }
    })
    .await
    .expect("server did not start");
    // Read the rest of the banner (it is written at once).
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await
    {
        banner.push(line);
    }
    (child, base, banner)
}

fn sigterm(child: &Child) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn binary_serves_and_drains_a_stream_on_sigterm() {
    let fake = FakeUpstream::start().await.unwrap();
    let mut cmd = atalaya();
    cmd.args([
        "serve",
        "--upstream",
        &fake.base_url(),
        "--model",
        "m",
        "--listen",
        "127.0.0.1:0",
    ])
    .env("ATALAYA_API_KEY", "sk-e2e")
    .env("ATALAYA__LOG__LEVEL", "warn");
    let (mut child, base, banner) = serve(cmd).await;
    assert!(
        banner.iter().all(|l| !l.contains("atl_demo_")),
        "no demo key when ATALAYA_API_KEY is set"
    );
    let http = reqwest::Client::new();
    let chat = |stream: bool| {
        http.post(format!("{base}/v1/chat/completions"))
            .bearer_auth("sk-e2e")
            .json(&json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let v: Value = chat(false).await.unwrap().json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the fake upstream."
    );
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A slow stream is running when SIGTERM arrives: it must finish, then the process exits 0.
    let pieces: Vec<String> = (0..8).map(|i| format!("s{i} ")).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    fake.push(Reply::stream(&refs).every(Duration::from_millis(60)));
    let response = chat(true).await.unwrap();
    assert_eq!(response.status(), 200);
    sigterm(&child);
    let text = response.text().await.unwrap();
    let content: String = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, pieces.concat());
    assert!(text.ends_with("data: [DONE]\n\n"));
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn demo_key_is_printed_once_and_works() {
    let fake = FakeUpstream::start().await.unwrap();
    let mut cmd = atalaya();
    cmd.args([
        "serve",
        "--upstream",
        &fake.base_url(),
        "--model",
        "demo",
        "--listen",
        "127.0.0.1:0",
    ])
    .env("ATALAYA__LOG__LEVEL", "warn");
    let (child, base, banner) = serve(cmd).await;
    let key_line = banner
        .iter()
        .find(|l| l.contains("Demo API key"))
        .expect("demo key line");
    let key = key_line.split_whitespace().last().unwrap().to_owned();
    assert!(key.starts_with("atl_demo_") && key.len() == 9 + 64, "{key}");
    assert!(
        banner
            .iter()
            .any(|l| l.contains("curl ") && l.contains(&key)),
        "a curl example"
    );
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    drop(child);
}

#[tokio::test]
async fn config_check_names_the_key_and_masks_secrets() {
    let dir = std::env::temp_dir().join(format!("atalaya-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[auth]\napi_keys = [\"env:CLIENT\"]\n[upstreams.u]\nbase_url = \"ftp://x\"\n[models.m]\ntargets = [{ upstream = \"u\", weight = 0 }]\n",
    )
    .unwrap();
    let out = atalaya()
        .args(["config", "check", "--config", bad.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "upstreams.u.base_url",
        "models.m.targets[0].weight",
        "auth.api_keys[0]",
    ] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");

    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "[server]\nlisten_address = \"x\"\n").unwrap();
    let out = atalaya()
        .args(["config", "check", "--config", unknown.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_address"));

    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[auth]\napi_keys = [\"env:CLIENT\"]\n[upstreams.u]\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"env:UP\"\nheaders = { \"X-Api-Key\" = \"env:UP\" }\n[models.m]\ntargets = [{ upstream = \"u\" }]\n",
    )
    .unwrap();
    let out = atalaya()
        .args(["config", "check", "--config", good.to_str().unwrap()])
        .env("CLIENT", "c")
        .env("UP", "sk-secret-value")
        .env("ATALAYA__SERVER__MAX_BODY_BYTES", "4096")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("max_body_bytes = 4096"),
        "env override applied: {text}"
    );
    assert!(
        text.contains("env:UP") && !text.contains("sk-secret-value"),
        "{text}"
    );
}

#[tokio::test]
async fn serve_refuses_bad_setups_with_clear_errors() {
    // A referenced secret that is not set.
    let out = atalaya()
        .args([
            "serve",
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("ATALAYA__UPSTREAMS__default__API_KEY", "env:MISSING_KEY")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("upstreams.default.api_key") && err.contains("MISSING_KEY"),
        "{err}"
    );
    // A port already in use.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = holder.local_addr().unwrap().to_string();
    let out = atalaya()
        .args([
            "serve",
            "--upstream",
            "http://127.0.0.1:9/v1",
            "--model",
            "m",
            "--listen",
            &addr,
        ])
        .env("ATALAYA_API_KEY", "k")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot listen on") && !err.contains("panicked"),
        "{err}"
    );
    // --upstream without --model.
    let out = atalaya()
        .args(["serve", "--upstream", "http://x/v1"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model"));
}

#[tokio::test]
async fn keys_hash_matches_what_auth_accepts() {
    let mut child = atalaya()
        .args(["keys", "hash"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use tokio::io::AsyncWriteExt;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"sk-abc\n").await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // sha256("sk-abc") as printed by coreutils' sha256sum.
    assert_eq!(
        line,
        "sha256:1460db1b6902f8b1fc2a40d9381a24d0fd22c3bc1b2c6f999c521da73776fbe0"
    );
}

/// Runs a CLI command to completion: (exit code, stdout, stderr).
async fn run_cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = atalaya();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tenants_keys_and_the_audit_log_from_the_cli() {
    let fake = FakeUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("atalaya.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\nsigning_key = \"env:SIGN\"\nanchor_every = 1\n[upstreams.a]\nbase_url = \"{}\"\n[models.m]\ntargets = [{{ upstream = \"a\" }}]\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let env = [("SIGN", "0123456789abcdef0123456789abcdef-signing")];
    let store = [
        "--config",
        config.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let cli = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.extend(store.iter().map(|s| (*s).to_owned()));
        all
    };
    let (code, out, err) = run_cli(
        &cli(&["tenants", "create", "acme", "--requests-per-minute", "100"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(
        &cli(&["keys", "create", "--tenant", "acme", "--name", "app"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("atl_") && key.len() == 55, "{key}");

    let mut cmd = atalaya();
    cmd.args(["serve", "--listen", "127.0.0.1:0"])
        .args(store)
        .env("SIGN", env[0].1)
        .env("ATALAYA__LOG__LEVEL", "warn");
    let (child, base, _) = serve(cmd).await;
    let http = reqwest::Client::new();
    let chat = || {
        http.post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    let r = chat().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ratelimit-limit-requests"], "100");

    // Revoked from the CLI while the server runs: refused within the upkeep tick.
    let (code, out, err) = run_cli(
        &cli(&["keys", "revoke", &id])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let mut refused = false;
    for _ in 0..30 {
        if chat().await.unwrap().status() == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked key still works");
    sigterm(&child);
    let _ = child.wait_with_output().await;

    let verify: Vec<String> = cli(&["audit", "verify"]);
    let verify: Vec<&str> = verify.iter().map(String::as_str).collect();
    let (code, out, err) = run_cli(&verify, &env).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("OK: the chain is intact"), "{out}");

    let export: Vec<String> = cli(&["audit", "export"]);
    let export: Vec<&str> = export.iter().map(String::as_str).collect();
    let (code, out, err) = run_cli(&export, &env).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<&str> = lines
        .iter()
        .map(|l| l["event"]["action"].as_str().unwrap())
        .collect();
    for a in ["tenant.create", "key.create", "key.revoke"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
    assert!(lines[0]["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(
        !out.contains(&key[12..]),
        "the key leaked into the audit log"
    );

    // Tampering with an entry is found and named.
    let conn = rusqlite::Connection::open(data.join("platform.db")).unwrap();
    conn.execute("UPDATE audit_log SET outcome = 'failure' WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let (code, out, _) = run_cli(&verify, &env).await;
    assert_ne!(code, 0);
    assert!(out.contains("TAMPERED: entry 3 was modified"), "{out}");
}
