//! End-to-end on Postgres (`[storage] backend = "postgres"`): the real binary, a throwaway
//! Postgres server, the fake upstream. Two server processes (and the CLI as a third) share
//! one database: migrations by hand, keys and tenants made through one replica and used
//! through the other, revocation seen by every replica, one audit chain after concurrent
//! admin actions, and a restart after kill -9.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test code

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use atalaya_postgres::testing::Cluster;
use atalaya_testkit::FakeUpstream;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_atalaya");
const SIGN: &str = "0123456789abcdef0123456789abcdef-signing";

struct Deployment {
    config: PathBuf,
    db_url: String,
    admin_key: String,
    root: tempfile::TempDir,
}

impl Deployment {
    /// The binary with this deployment's environment and its own data directory `node`:
    /// nothing on a node's disk is shared.
    fn command(&self, node: &str) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.db_url)
            .env("ATALAYA_ADMIN_KEY", &self.admin_key)
            .env("SIGN", SIGN)
            .env("ATALAYA__LOG__LEVEL", "warn")
            .env("ATALAYA__SERVER__DATA_DIR", self.root.path().join(node))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .command("cli")
            .args(args)
            .args(["--config", self.config.to_str().unwrap()])
            .output()
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    async fn serve(&self, node: &str) -> (Child, String) {
        let mut child = self
            .command(node)
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&self.config)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = tokio::time::timeout(Duration::from_secs(30), async {
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
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (child, base)
    }
}

fn write_config(dir: &Path, upstream: &str, migrate: &str) -> PathBuf {
    let path = dir.join("atalaya.toml");
    std::fs::write(
        &path,
        format!(
            r#"[storage]
backend = "postgres"
url = "env:DATABASE_URL"
pool_size = 4
migrate = "{migrate}"

[auth]
bootstrap_admin_key = "env:ATALAYA_ADMIN_KEY"

[audit]
signing_key = "env:SIGN"
anchor_every = 5

[upstreams.a]
base_url = "{upstream}"

[models.m]
targets = [{{ upstream = "a" }}]
"#
        ),
    )
    .unwrap();
    path
}

async fn send(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn chat(http: &reqwest::Client, base: &str, key: &str) -> u16 {
    send(
        http.post(format!("{base}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_keys_revocation_and_one_audit_chain() {
    let cluster = Cluster::start().expect("test Postgres (run scripts/postgres.sh)");
    let db_url = cluster.database().await.unwrap();
    let fake = FakeUpstream::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let admin_key = {
        let out = std::process::Command::new(BIN)
            .args(["keys", "generate"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("key:"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let mut d = Deployment {
        config: write_config(root.path(), &fake.base_url(), "manual"),
        db_url,
        admin_key,
        root,
    };

    // Manual migrations: the server refuses to start while any are pending, naming the key.
    let out = d
        .command("a")
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&d.config)
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("storage.migrate") && err.contains("atalaya migrate up"),
        "{err}"
    );
    let (code, out, err) = d.cli(&["migrate", "status", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status[0]["component"], "platform");
    assert_eq!(status[0]["applied"], 0);
    assert!(
        !status[0]["pending"].as_array().unwrap().is_empty(),
        "{status}"
    );
    let (code, out, err) = d.cli(&["migrate", "up"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("platform: 0 -> "), "{out}");
    let (code, out, _) = d.cli(&["migrate", "up"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("nothing to migrate"), "{out}");
    d.config = write_config(d.root.path(), &fake.base_url(), "auto");

    let (mut a, base_a) = d.serve("a").await;
    let (b, base_b) = d.serve("b").await;
    let http = reqwest::Client::new();
    let admin = |r: reqwest::RequestBuilder| send(r.bearer_auth(&d.admin_key));

    // A tenant and a key made through replica A work through replica B.
    let (s, t) = admin(
        http.post(format!("{base_a}/admin/v1/tenants"))
            .json(&json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let (s, k) = admin(
        http.post(format!("{base_a}/admin/v1/tenants/acme/keys"))
            .json(&json!({"name": "app"})),
    )
    .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap().to_owned();
    let key_id = k["id"].as_str().unwrap().to_owned();
    assert_eq!(chat(&http, &base_b, &key).await, 200);
    assert_eq!(chat(&http, &base_a, &key).await, 200);

    // Concurrent admin actions through A, B and the CLI: one audit chain that verifies.
    let mut jobs = Vec::new();
    for (i, base) in [&base_a, &base_b, &base_a, &base_b].into_iter().enumerate() {
        for j in 0..4 {
            let (http, base, admin_key) = (http.clone(), base.clone(), d.admin_key.clone());
            jobs.push(tokio::spawn(async move {
                let id = format!("t{i}x{j}");
                let r = http
                    .post(format!("{base}/admin/v1/tenants"))
                    .bearer_auth(&admin_key)
                    .json(&json!({"id": id, "name": id}))
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            }));
        }
    }
    let cli_jobs = futures::future::join_all(
        (0..3).map(|i| d.cli_owned(vec!["tenants".into(), "create".into(), format!("cli{i}")])),
    );
    let cli_results = cli_jobs.await;
    for j in jobs {
        assert_eq!(j.await.unwrap(), 201);
    }
    for (code, out, err) in cli_results {
        assert_eq!(code, 0, "{out}{err}");
    }
    let (s, v) = admin(http.get(format!("{base_b}/admin/v1/audit/verify"))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    let (code, out, err) = d.cli(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (s, list) = admin(http.get(format!("{base_a}/admin/v1/tenants"))).await;
    assert_eq!(s, 200);
    // platform and default (made at start-up), acme, 16 through the API, 3 by the CLI.
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2 + 1 + 16 + 3,
        "{list}"
    );

    // Revoked through A: refused by B within a second.
    let (s, r) = admin(http.delete(format!("{base_a}/admin/v1/keys/{key_id}"))).await;
    assert_eq!(s, 200, "{r}");
    let revoked = Instant::now();
    loop {
        if chat(&http, &base_b, &key).await == 401 {
            break;
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still accepts the revoked key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("revocation reached replica B after {:?}", revoked.elapsed());
    assert_eq!(chat(&http, &base_a, &key).await, 401);

    // kill -9 of A, then a restart: everything is still there, nothing came from its disk.
    a.start_kill().unwrap();
    let _ = a.wait().await;
    // The platform records never touched the node's disk.
    assert!(!d.root.path().join("a/platform.db").exists());
    let _ = std::fs::remove_dir_all(d.root.path().join("a"));
    let (_a, base_a) = d.serve("a").await;
    assert_eq!(chat(&http, &base_a, &key).await, 401);
    let (s, t) = admin(http.get(format!("{base_a}/admin/v1/tenants/acme"))).await;
    assert_eq!(s, 200, "{t}");
    let (s, v) = admin(http.get(format!("{base_a}/admin/v1/audit/verify"))).await;
    assert_eq!((s, &v["ok"]), (200, &json!(true)), "{v}");
    drop(b);
}

impl Deployment {
    async fn cli_owned(&self, args: Vec<String>) -> (i32, String, String) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.cli(&args).await
    }
}
