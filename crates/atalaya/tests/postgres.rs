//! End-to-end on Postgres (`[storage] backend = "postgres"`): the real binary, a throwaway
//! Postgres server, the fake upstream. Two server processes (and the CLI as a third) share
//! one database: migrations by hand, keys and tenants made through one replica and used
//! through the other, revocation seen by every replica, one audit chain after concurrent
//! admin actions, and a restart after kill -9. With Redis (`[coordination]`), limits are
//! exact across the replicas, and hold per replica while Redis is away.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods
)] // test code

mod common;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use atalaya_postgres::testing::Cluster;
use atalaya_testkit::FakeUpstream;
use serde_json::{json, Value};
use tokio::process::{Child, Command};

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
            // Each process's log in a file (a pipe nobody reads would block it when full).
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.root.path().join(format!("{node}.log")))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
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
        let mut cmd = self.command(node);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&self.config);
        serve_cmd(cmd).await
    }
}

fn write_config(dir: &Path, upstream: &str, migrate: &str) -> PathBuf {
    write_config_with(dir, upstream, migrate, "")
}

fn write_config_with(dir: &Path, upstream: &str, migrate: &str, extra: &str) -> PathBuf {
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
{extra}
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

fn generate_key() -> String {
    let out = std::process::Command::new(BIN)
        .args(["keys", "generate"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("key:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// The text columns of the one row `sql` returns for parameter `$1`.
async fn sql_texts(db_url: &str, sql: &str, arg: &str) -> Vec<String> {
    let (client, conn) =
        atalaya_postgres::tokio_postgres::connect(db_url, atalaya_postgres::tokio_postgres::NoTls)
            .await
            .unwrap();
    let query = async move {
        let row = client.query_one(sql, &[&arg]).await.unwrap();
        let texts = (0..row.len())
            .map(|i| row.get::<_, Option<String>>(i).unwrap_or_default())
            .collect();
        drop(client);
        texts
    };
    let (texts, _) = tokio::join!(query, conn);
    texts
}

/// The pid part of the worker that holds task `id`'s lease (`PID-NONCE`), if any.
async fn lease_holder(db_url: &str, id: i64) -> Option<u32> {
    let (client, conn) =
        atalaya_postgres::tokio_postgres::connect(db_url, atalaya_postgres::tokio_postgres::NoTls)
            .await
            .unwrap();
    let query = async move {
        let row = client
            .query_one("SELECT lease_owner FROM kb_tasks WHERE id = $1", &[&id])
            .await
            .unwrap();
        let owner: Option<String> = row.get(0);
        drop(client);
        owner
    };
    let (owner, _) = tokio::join!(query, conn);
    owner.and_then(|o| o.split('-').next().and_then(|p| p.parse().ok()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knowledge_is_shared_and_a_killed_replicas_upload_is_finished_by_the_other() {
    let cluster = Cluster::start().expect("test Postgres (run scripts/postgres.sh)");
    let db_url = cluster.database().await.unwrap();
    let fake = FakeUpstream::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let d = Deployment {
        config: write_config_with(
            root.path(),
            &fake.base_url(),
            "auto",
            &common::minilm_config(),
        ),
        db_url: db_url.clone(),
        admin_key: generate_key(),
        root,
    };
    let _logs = Logs(d.root.path());
    let start = |node: &'static str| {
        let mut c = d.command(node);
        // A short lease, so that the survivor resumes the dead replica's task quickly.
        c.env("ATALAYA__STORAGE__TASK_LEASE_MS", "2000")
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&d.config);
        c
    };
    let (mut a, base_a) = serve_cmd(start("a")).await;
    let (mut b, base_b) = serve_cmd(start("b")).await;
    let (pid_a, pid_b) = (a.id().unwrap(), b.id().unwrap());
    let http = reqwest::Client::new();
    let admin = |r: reqwest::RequestBuilder| send(r.bearer_auth(&d.admin_key));
    let (s, _) = admin(
        http.post(format!("{base_a}/admin/v1/tenants"))
            .json(&json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, k) = admin(
        http.post(format!("{base_a}/admin/v1/tenants/acme/keys"))
            .json(&json!({"name": "app"})),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();
    let api = |base: &str| common::Api::with_key(base, &key);

    let (s, c) = api(&base_a)
        .post("/v1/knowledge", json!({"name": "help"}))
        .await;
    assert_eq!(s, 201, "{c}");
    // The demo articles eight times over, under distinct names: enough work to kill a
    // replica in the middle of it.
    let mut docs = Vec::new();
    for copy in 0..8 {
        for mut doc in common::demo_documents() {
            let source = format!("copy{copy}/{}", doc["source"].as_str().unwrap());
            doc["source"] = json!(source);
            docs.push(doc);
        }
    }
    let total = docs.len() as i64;
    let (s, t) = api(&base_a)
        .post("/v1/knowledge/help/documents", json!({"documents": docs}))
        .await;
    assert_eq!(s, 202, "{t}");
    let id = t["id"].as_i64().unwrap();

    // Wait until some items are done, then kill -9 whichever replica holds the task.
    let deadline = Instant::now() + Duration::from_secs(120);
    let (holder, done_at_kill) = loop {
        assert!(Instant::now() < deadline, "the upload never started");
        let (_, t) = api(&base_b).get(&format!("/v1/tasks/{id}")).await;
        let done = t["progress"]["done"].as_i64().unwrap_or(0);
        if let Some(pid) = lease_holder(&db_url, id).await.filter(|_| done > 0) {
            break (pid, done);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        done_at_kill < total,
        "the task finished before the kill ({done_at_kill}/{total})"
    );
    let survivor = if holder == pid_a {
        a.start_kill().unwrap();
        let _ = a.wait().await;
        base_b.clone()
    } else {
        assert_eq!(holder, pid_b, "the lease names a worker of neither replica");
        b.start_kill().unwrap();
        let _ = b.wait().await;
        base_a.clone()
    };
    eprintln!("killed the replica holding the task after {done_at_kill}/{total} items");

    let t = api(&survivor).wait(id).await;
    assert_eq!(t["status"], "succeeded", "{t}");
    assert_eq!(t["progress"]["done"], total, "{t}");
    assert_eq!(t["progress"]["failed"], 0, "{t}");
    assert!(
        t["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "indexed"),
        "{t}"
    );
    let (_, list) = api(&survivor).get("/v1/knowledge/help/documents").await;
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len() as i64, total);
    assert!(
        list.iter().all(|d| d["version"] == 1),
        "each document was stored once"
    );

    // Found through the survivor, whichever replica stored it.
    let (s, q) = api(&survivor)
        .post(
            "/v1/knowledge/help/query",
            json!({"query": "How do I reset my password?", "k": 3}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert!(
        q["data"][0]["source"]
            .as_str()
            .unwrap()
            .ends_with("en/password-reset.md"),
        "{q}"
    );
    drop((a, b));
}

/// Prints the replicas' logs when the test fails.
struct Logs<'a>(&'a Path);

impl Drop for Logs<'_> {
    #[allow(clippy::print_stderr)] // a failing test's evidence
    fn drop(&mut self) {
        if std::thread::panicking() {
            for node in ["a", "b", "cli"] {
                if let Ok(log) = std::fs::read_to_string(self.0.join(format!("{node}.log"))) {
                    eprintln!("--- {node}.log\n{log}");
                }
            }
        }
    }
}

/// Starts a prepared `serve` command; returns it with its base URL.
async fn serve_cmd(mut cmd: Command) -> (Child, String) {
    common::start(&mut cmd).await
}

/// Tickets, feedback, answers, limits and erasure on Postgres: what one replica writes the
/// other reads, and a data subject's erasure through one leaves nothing for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_answers_limits_and_erasure_across_replicas() {
    let cluster = Cluster::start().expect("test Postgres (run scripts/postgres.sh)");
    let db_url = cluster.database().await.unwrap();
    let fake = FakeUpstream::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let master = root.path().join("master.key");
    std::fs::write(&master, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
    let extra = format!(
        "{}{}\n[encryption]\nmaster_key = \"file:{}\"\n",
        common::minilm_config(),
        common::pipelines_section(root.path(), "triage", common::TRIAGE_PIPELINE, true),
        master.display()
    );
    let d = Deployment {
        config: write_config_with(root.path(), &fake.base_url(), "auto", &extra),
        db_url: db_url.clone(),
        admin_key: generate_key(),
        root,
    };
    let _logs = Logs(d.root.path());
    let (_a, base_a) = d.serve("a").await;
    let (_b, base_b) = d.serve("b").await;
    let http = reqwest::Client::new();
    let admin = |r: reqwest::RequestBuilder| send(r.bearer_auth(&d.admin_key));
    let (s, t) = admin(
        http.post(format!("{base_a}/admin/v1/tenants"))
            .json(&json!({"id": "acme", "name": "Acme", "limits": {"requests_per_minute": 600}})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let (_, k) = admin(
        http.post(format!("{base_a}/admin/v1/tenants/acme/keys"))
            .json(&json!({"name": "app"})),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();
    let (_, k) = admin(
        http.post(format!("{base_a}/admin/v1/tenants/acme/keys"))
            .json(&json!({"name": "limited", "limits": {"requests_per_minute": 2}})),
    )
    .await;
    let limited = k["key"].as_str().unwrap().to_owned();
    let a = common::Api::with_key(&base_a, &key);
    let b = common::Api::with_key(&base_b, &key);

    // A ticket for data subject "subj-9" through A, read and answered through B.
    let (s, t) = a
        .send(
            a.http
                .post(format!("{base_a}/v1/tickets"))
                .header("x-atalaya-subject", "subj-9")
                .json(&json!({"customer_id": "cust-1", "body": "Mi paquete no llegó, hola"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    let (s, got) = b.get(&format!("/v1/tickets/{id}")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["body"], "Mi paquete no llegó, hola");
    let (s, f) = b
        .post(
            &format!("/v1/tickets/{id}/feedback"),
            json!({"verdict": "edited", "final_text": "Lo enviamos de nuevo hoy."}),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    let (_, got) = a.get(&format!("/v1/tickets/{id}")).await;
    assert_eq!(got["status"], "answered", "{got}");
    // As stored in Postgres: sealed under the subject's key, filed under a pseudonym.
    let raw = sql_texts(
        &db_url,
        "SELECT body, coalesce(customer_id, ''), (SELECT final_text FROM ticket_feedback WHERE ticket_id = $1 LIMIT 1) FROM tickets WHERE id = $1",
        &id,
    )
    .await;
    assert!(raw[0].starts_with("atalaya-sealed:v1:"), "{raw:?}");
    assert!(raw[1].starts_with("sh:"), "{raw:?}");
    assert!(raw[2].starts_with("atalaya-sealed:v1:"), "{raw:?}");
    assert!(!format!("{raw:?}").contains("paquete") && !format!("{raw:?}").contains("cust-1"));

    // A key limited to 2 requests a minute: its third request is refused (limits are still
    // counted per replica; the key's limit itself comes from the shared records).
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(chat(&http, &base_a, &limited).await);
    }
    assert_eq!(statuses, [200, 200, 429]);

    // An extractive answer through B from a collection filled through A.
    let (s, c) = b.post("/v1/knowledge", json!({"name": "kb"})).await;
    assert_eq!(s, 201, "{c}");
    let (s, t) = a
        .post(
            "/v1/knowledge/kb/documents",
            json!({"documents": [{"source": "roaming.md", "content": "# Roaming\n\nRoaming in Europe is included in every plan at no extra cost."}]}),
        )
        .await;
    assert_eq!(s, 202, "{t}");
    assert_eq!(
        a.wait(t["id"].as_i64().unwrap()).await["status"],
        "succeeded"
    );
    let (s, ans) = b
        .post(
            "/v1/knowledge/kb/answer",
            json!({"query": "Is roaming in Europe included?", "extractive": true}),
        )
        .await;
    assert_eq!(s, 200, "{ans}");
    assert!(
        ans["answer"]
            .as_str()
            .unwrap()
            .contains("Roaming in Europe"),
        "{ans}"
    );

    // The subject's erasure through B: the ticket is gone for A too.
    let (s, e) = admin(http.delete(format!("{base_b}/admin/v1/subjects/subj-9?tenant=acme"))).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["deleted"]["tickets"], 1, "{e}");
    let (s, _) = a.get(&format!("/v1/tickets/{id}")).await;
    assert_eq!(s, 404);
    // The subject's key is destroyed: a copy of the ticket's row elsewhere stays sealed.
    let key_id = raw[0].split(':').nth(2).unwrap().to_owned();
    let left = sql_texts(
        &db_url,
        "SELECT count(*)::TEXT FROM subject_keys WHERE id = $1",
        &key_id,
    )
    .await;
    assert_eq!(left, ["0"], "the erased subject's key is still stored");
    let (s, v) = admin(http.get(format!("{base_a}/admin/v1/audit/verify"))).await;
    assert_eq!((s, &v["ok"]), (200, &json!(true)), "{v}");

    // Deleting the tenant through the CLI (a third process) purges its knowledge too.
    let (code, out, err) = d.cli(&["tenants", "delete", "acme"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["purged"]["collections"], 1, "{v}");
    // Its keys stop working on every replica within a second.
    let deleted = Instant::now();
    while chat(&http, &base_b, &key).await != 401 {
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "B still accepts a deleted tenant's key after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `atalaya migrate copy`: a single-node installation (tenants, keys, an anchored audit chain,
/// a ticket, a knowledge collection, a classifier) copied into Postgres, twice (the second
/// run writes nothing), then served from Postgres with everything in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_installation_is_copied_into_postgres() {
    let cluster = Cluster::start().expect("test Postgres (run scripts/postgres.sh)");
    let db_url = cluster.database().await.unwrap();
    let fake = FakeUpstream::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    // The single node's data directory: Deployment::command("single") points
    // ATALAYA__SERVER__DATA_DIR there (the environment wins over the file).
    let data = root.path().join("single");
    let pipelines = common::pipelines_section(root.path(), "triage", common::TRIAGE_PIPELINE, true);
    let single = root.path().join("single.toml");
    std::fs::write(
        &single,
        format!(
            "[server]\ndata_dir = \"{}\"\n[auth]\nbootstrap_admin_key = \"env:ATALAYA_ADMIN_KEY\"\n[audit]\nsigning_key = \"env:SIGN\"\nanchor_every = 3\n[upstreams.a]\nbase_url = \"{}\"\n[models.m]\ntargets = [{{ upstream = \"a\" }}]\n{}{}",
            data.display(),
            fake.base_url(),
            common::minilm_config(),
            pipelines
        ),
    )
    .unwrap();
    let d = Deployment {
        config: write_config_with(
            root.path(),
            &fake.base_url(),
            "auto",
            &format!("{}{pipelines}", common::minilm_config()),
        ),
        db_url: db_url.clone(),
        admin_key: generate_key(),
        root,
    };
    let _logs = Logs(d.root.path());

    // The single node: a tenant and key, a ticket, a collection, a classifier.
    let mut node = d.command("single");
    node.args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&single);
    let (mut child, base) = serve_cmd(node).await;
    let http = reqwest::Client::new();
    let admin = |r: reqwest::RequestBuilder| send(r.bearer_auth(&d.admin_key));
    let (s, _) = admin(
        http.post(format!("{base}/admin/v1/tenants"))
            .json(&json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(s, 201);
    let (_, k) = admin(
        http.post(format!("{base}/admin/v1/tenants/acme/keys"))
            .json(&json!({"name": "app"})),
    )
    .await;
    let key = k["key"].as_str().unwrap().to_owned();
    let api = common::Api::with_key(&base, &key);
    let (s, t) = api
        .send(
            api.http
                .post(format!("{base}/v1/tickets"))
                .header("x-atalaya-subject", "subj-3")
                .json(&json!({"body": "Where is my parcel?"})),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    let ticket = t["id"].as_str().unwrap().to_owned();
    let (s, _) = api.post("/v1/knowledge", json!({"name": "help"})).await;
    assert_eq!(s, 201);
    let (s, t) = api
        .post("/v1/knowledge/help/documents", json!({"documents": [
            {"source": "refunds.md", "content": "# Refunds\n\nRefunds reach your card within five working days.", "language": "en"},
            {"source": "envios.md", "content": "# Envíos\n\nLos paquetes salen del almacén en dos días.", "language": "es"},
        ]}))
        .await;
    assert_eq!(s, 202, "{t}");
    assert_eq!(
        api.wait(t["id"].as_i64().unwrap()).await["status"],
        "succeeded"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let train = d.root.path().join("train.csv");
    let mut rows = String::from("text,intent\n");
    for i in 0..12 {
        rows.push_str(&format!(
            "\"where is my parcel {i}\",delivery\n\"I want my money back {i}\",refund\n"
        ));
    }
    std::fs::write(&train, rows).unwrap();
    let out = d
        .command("cli")
        .args([
            "classify",
            "train",
            "--tenant",
            "acme",
            "--name",
            "intents",
            "--no-embeddings",
            "--data",
        ])
        .arg(&train)
        .arg("--config")
        .arg(&single)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trained: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        trained["path"]
            .as_str()
            .unwrap()
            .starts_with(data.join("classifiers").to_str().unwrap()),
        "{trained}"
    );

    // The copy, twice.
    for run in 0..2 {
        let out = d
            .command("cli")
            .args(["migrate", "copy", "--from"])
            .arg(&data)
            .args(["--to", "env:DATABASE_URL", "--config"])
            .arg(&single)
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(r["complete"], true, "{r}");
        assert_eq!(r["audit"]["findings"], json!([]), "{r}");
        assert!(r["audit"]["anchors"].as_u64().unwrap() > 0, "{r}");
        let c = &r["copied"];
        assert_eq!(
            c["platform"]["source"]["audit"], c["platform"]["target"]["audit"],
            "{r}"
        );
        let written = (
            c["knowledge"][0]["written"].as_u64().unwrap(),
            c["tickets"]["written"].as_u64().unwrap(),
            c["classifiers"]["written"].as_u64().unwrap(),
        );
        if run == 0 {
            assert_eq!(written, (2, 1, 1), "{r}");
        } else {
            assert_eq!(written, (0, 0, 0), "a second run writes nothing: {r}");
        }
    }

    // Served from Postgres: the key, the ticket (and its subject tag), search, the classifier.
    let (_pg, base) = d.serve("pg").await;
    let api = common::Api::with_key(&base, &key);
    assert_eq!(chat(&http, &base, &key).await, 200);
    let (s, t) = api.get(&format!("/v1/tickets/{ticket}")).await;
    assert_eq!(s, 200, "{t}");
    let (s, q) = api
        .post(
            "/v1/knowledge/help/query",
            json!({"query": "¿cuándo salen los paquetes?", "k": 1}),
        )
        .await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["data"][0]["source"], "envios.md", "{q}");
    let (s, c) = api
        .post(
            "/v1/classify",
            json!({"classifier": "intents", "input": "where is my parcel?"}),
        )
        .await;
    assert_eq!(s, 200, "{c}");
    let (s, e) = admin(http.delete(format!("{base}/admin/v1/subjects/subj-3?tenant=acme"))).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(e["deleted"]["tickets"], 1, "{e}");
    let (s, v) = admin(http.get(format!("{base}/admin/v1/audit/verify"))).await;
    assert_eq!((s, &v["ok"]), (200, &json!(true)), "{v}");
}

/// Rate limits through Redis: a key limited to 10 requests a minute, hit by 40 concurrent
/// requests spread over two replicas, gets exactly 10. Redis stopped: each replica counts
/// its share (fail_open, 2 expected replicas: 5 each) and says so in its metrics; Redis back:
/// shared counting resumes on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_exact_across_replicas_through_redis() {
    let cluster = Cluster::start().expect("test Postgres (run scripts/postgres.sh)");
    let db_url = cluster.database().await.unwrap();
    let mut redis =
        atalaya_redis::testing::Server::start().expect("redis-server (run scripts/setup.sh)");
    let fake = FakeUpstream::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let extra = format!(
        "\n[coordination]\nredis_url = \"{}\"\nexpected_replicas = 2\ntimeout_ms = 200\n",
        redis.url()
    );
    let d = Deployment {
        config: write_config_with(root.path(), &fake.base_url(), "auto", &extra),
        db_url,
        admin_key: generate_key(),
        root,
    };
    let _logs = Logs(d.root.path());
    let (_a, base_a) = d.serve("a").await;
    let (_b, base_b) = d.serve("b").await;
    let http = reqwest::Client::new();
    let admin = |r: reqwest::RequestBuilder| send(r.bearer_auth(&d.admin_key));
    let (s, t) = admin(
        http.post(format!("{base_a}/admin/v1/tenants"))
            .json(&json!({"id": "acme", "name": "Acme"})),
    )
    .await;
    assert_eq!(s, 201, "{t}");
    let new_key = |name: &'static str| {
        let (http, base) = (http.clone(), base_a.clone());
        let admin_key = d.admin_key.clone();
        async move {
            let (s, k) = send(
                http.post(format!("{base}/admin/v1/tenants/acme/keys"))
                    .bearer_auth(admin_key)
                    .json(&json!({"name": name, "limits": {"requests_per_minute": 10}})),
            )
            .await;
            assert_eq!(s, 201, "{k}");
            k["key"].as_str().unwrap().to_owned()
        }
    };
    let key = new_key("ten").await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (http, key) = (http.clone(), key.clone());
        let base = if i % 2 == 0 {
            base_a.clone()
        } else {
            base_b.clone()
        };
        tasks.push(tokio::spawn(async move { chat(&http, &base, &key).await }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (10, 30), "{statuses:?}");

    // Redis goes away: each replica counts its share of a fresh key's 10 a minute.
    redis.stop();
    let other = new_key("other").await;
    let mut ok_a = 0;
    for _ in 0..8 {
        if chat(&http, &base_a, &other).await == 200 {
            ok_a += 1;
        }
    }
    assert_eq!(
        ok_a, 5,
        "fail_open: replica A's share of 10/min over 2 replicas"
    );
    let metrics = || async {
        reqwest::get(format!("{base_a}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let waited = Instant::now();
    while !metrics().await.contains("atalaya_coordination_up 0") {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "{}",
            metrics().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Redis returns: shared counting resumes on its own.
    redis.start_again().unwrap();
    let third = new_key("third").await;
    let waited = Instant::now();
    loop {
        let s = chat(&http, &base_b, &third).await;
        assert!(s == 200 || s == 429, "{s}");
        if metrics().await.contains("atalaya_coordination_up 1") {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(10), "no recovery");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
