//! Fault injection against the real binary: `kill -9` in the middle of every kind of durable
//! write (ticket creation, admin changes with their audit entries, erasure), then a restart
//! that must find every acknowledged write and a valid audit chain; and a full disk (a small
//! tmpfs as the data directory) that gets a stable 507, corrupts nothing and recovers once
//! space is freed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::disallowed_methods,
    clippy::print_stderr
)] // test code

mod common;

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use common::Api;
use serde_json::{json, Value};

const KEY: &str = "atl_faults_test_key_0123456789abcdef";

/// A server with a ticket pipeline that calls no model (language detection only), so a
/// ticket is a pure durable write.
fn config(dir: &Path, data: &Path, knowledge: bool) -> String {
    let pipelines = common::pipelines_section(dir, "triage", common::TRIAGE_PIPELINE, true);
    let kb = if knowledge {
        common::minilm_config()
    } else {
        "[knowledge]\nenabled = false\n".into()
    };
    format!(
        r#"
[server]
data_dir = "{data}"
[auth]
api_keys = ["env:KEY"]
[log]
level = "error"
[upstreams.fake]
base_url = "http://127.0.0.1:9"
[models.chat]
targets = [{{ upstream = "fake" }}]
{pipelines}{kb}
"#,
        data = data.display(),
    )
}

/// A member key of tenant `acme` and a platform admin key, made with the CLI.
fn keys(data: &Path) -> (String, String) {
    let member = common::tenant_key(data, "acme", &[]);
    let admin = common::cli_data(
        data,
        &[
            "keys", "create", "--tenant", "platform", "--name", "ops", "--role", "admin",
        ],
    )["key"]
        .as_str()
        .unwrap()
        .to_owned();
    (member, admin)
}

/// Acknowledged writes, recorded by the load loops as their responses arrive.
#[derive(Default)]
struct Acked {
    tickets: Vec<String>,
    keys: Vec<String>,
    /// The tenant names set, in order: (sent, acknowledged).
    names: Vec<(String, bool)>,
    erased: Vec<String>,
}

async fn send(api: &Api, r: reqwest::RequestBuilder) -> Option<(u16, Value)> {
    let r = r.bearer_auth(&api.key).send().await.ok()?;
    let status = r.status().as_u16();
    let body = r.json().await.ok()?;
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_the_audit_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("atalaya.toml");
    std::fs::write(&cfg, config(dir.path(), &data, false)).unwrap();
    let (member, admin) = keys(&data);
    let (mut child, base) = common::serve_file(&cfg, KEY).await;
    let user = Api::with_key(&base, &member);
    let ops = Api::with_key(&base, &admin);
    // Subjects to erase during the run: each has a ticket first.
    for i in 0..40 {
        let (s, t) = user
            .send(
                user.http
                    .post(format!("{base}/v1/tickets"))
                    .header("x-atalaya-subject", format!("subj-{i}"))
                    .json(&json!({"body": format!("Hola, my parcel {i} never arrived")})),
            )
            .await;
        assert_eq!(s, 201, "{t}");
    }

    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut loops = Vec::new();
    // Tickets, from two clients.
    for c in 0..2 {
        let (api, acked) = (Api::with_key(&base, &member), acked.clone());
        loops.push(tokio::spawn(async move {
            for i in 0.. {
                let r = api.http.post(format!("{}/v1/tickets", api.base)).json(
                    &json!({"body": format!("Client {c} ticket {i}: the invoice is wrong, hola")}),
                );
                match send(&api, r).await {
                    Some((201, t)) => acked
                        .lock()
                        .unwrap()
                        .tickets
                        .push(t["id"].as_str().unwrap().to_owned()),
                    Some((s, t)) => panic!("ticket: {s} {t}"),
                    None => return,
                }
            }
        }));
    }
    // Admin changes: keys created (each with its audit entry) and the tenant renamed.
    {
        let (api, acked) = (Api::with_key(&base, &admin), acked.clone());
        loops.push(tokio::spawn(async move {
            for i in 0.. {
                let r = api
                    .http
                    .post(format!("{}/admin/v1/tenants/acme/keys", api.base))
                    .json(&json!({"name": format!("k{i}"), "role": "member"}));
                match send(&api, r).await {
                    Some((201, k)) => acked.lock().unwrap().keys.push(
                        k["id"]
                            .as_str()
                            .map_or_else(|| k["id"].to_string(), str::to_owned),
                    ),
                    Some((s, k)) => panic!("key: {s} {k}"),
                    None => return,
                }
                let name = format!("Acme {i}");
                acked.lock().unwrap().names.push((name.clone(), false));
                let r = api
                    .http
                    .patch(format!("{}/admin/v1/tenants/acme", api.base))
                    .json(&json!({"name": name}));
                match send(&api, r).await {
                    Some((200, _)) => acked.lock().unwrap().names.last_mut().unwrap().1 = true,
                    Some((s, t)) => panic!("rename: {s} {t}"),
                    None => return,
                }
            }
        }));
    }
    // Erasures.
    {
        let (api, acked) = (Api::with_key(&base, &admin), acked.clone());
        loops.push(tokio::spawn(async move {
            for i in 0..40 {
                let r = api.http.delete(format!(
                    "{}/admin/v1/subjects/subj-{i}?tenant=acme",
                    api.base
                ));
                match send(&api, r).await {
                    Some((200, _)) => acked.lock().unwrap().erased.push(format!("subj-{i}")),
                    Some((s, t)) => panic!("erase: {s} {t}"),
                    None => return,
                }
            }
        }));
    }
    // Let the writes run, then kill -9 while they are in flight.
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let a = acked.lock().unwrap();
        if a.tickets.len() >= 30 && a.keys.len() >= 5 && a.erased.len() >= 5 {
            break;
        }
    }
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    for l in loops {
        l.await.unwrap();
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    assert!(
        !acked.tickets.is_empty() && !acked.keys.is_empty() && !acked.erased.is_empty(),
        "the kill came before every kind of write was acknowledged"
    );

    let (mut child, base) = common::serve_file(&cfg, KEY).await;
    let user = Api::with_key(&base, &member);
    let ops = Api::with_key(&base, &ops.key);
    for id in &acked.tickets {
        let (s, t) = user.get(&format!("/v1/tickets/{id}")).await;
        assert_eq!(s, 200, "acknowledged ticket {id} is lost: {t}");
    }
    for id in &acked.keys {
        let (s, k) = ops.get(&format!("/admin/v1/keys/{id}")).await;
        assert_eq!(s, 200, "acknowledged key {id} is lost: {k}");
    }
    let (_, t) = ops.get("/admin/v1/tenants/acme").await;
    let name = t["name"].as_str().unwrap();
    let last_acked = acked.names.iter().rposition(|(_, ok)| *ok);
    let allowed: Vec<&str> = acked.names[last_acked.unwrap_or(0)..]
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(
        allowed.contains(&name),
        "the tenant's name {name} is not the last acknowledged one ({allowed:?})"
    );
    for s in &acked.erased {
        let (status, v) = ops
            .get(&format!("/admin/v1/subjects/{s}?tenant=acme"))
            .await;
        assert_eq!(status, 200, "{v}");
        assert!(
            v["tickets"].as_array().unwrap().is_empty(),
            "erased subject {s} came back: {v}"
        );
    }
    // Every acknowledged key creation is in the audit chain, and the chain verifies.
    let (s, log) = ops.get("/admin/v1/audit?tenant=acme&limit=1000").await;
    assert_eq!(s, 200, "{log}");
    let audited: Vec<String> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.create")
        .filter_map(|e| e["target"].as_str().map(str::to_owned))
        .collect();
    for id in &acked.keys {
        assert!(audited.contains(id), "key {id} has no audit entry");
    }
    let (s, v) = ops.get("/admin/v1/audit/verify").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    eprintln!(
        "acknowledged before the kill: {} tickets, {} keys, {} renames, {} erasures",
        acked.tickets.len(),
        acked.keys.len(),
        acked.names.iter().filter(|(_, ok)| *ok).count(),
        acked.erased.len()
    );
}

/// The `Retry-After` of a write refused for a full disk.
async fn e_status_retry(api: &Api, base: &str) -> Option<u64> {
    let r = api
        .http
        .post(format!("{base}/v1/tickets"))
        .bearer_auth(&api.key)
        .json(&json!({"body": "Hola, ".repeat(5000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 507);
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// A tmpfs of `mb` megabytes mounted at `at`, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` when this process may not mount (not root): the test says so and skips.
    fn mount(at: &Path, mb: u32) -> Option<Tmpfs> {
        let uid = std::process::Command::new("id").arg("-u").output().unwrap();
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("SKIPPED: mounting a tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(at)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount -t tmpfs failed");
        Some(Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system of `path` with a file there until no byte fits, then gives back
/// `slack` bytes.
fn fill(path: &Path, slack: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 64 * 1024];
    loop {
        if f.write_all(&block).is_err() {
            break;
        }
    }
    let small = [0u8; 512];
    while f.write_all(&small).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len.saturating_sub(slack)).unwrap();
    let _ = f.sync_all();
}

/// The data directory on a 24 MB tmpfs, filled: writes get 507 `insufficient_storage` with a
/// message saying what to do (never a 500, never a crash), reads go on, nothing stored is
/// corrupted, and once space is freed writes succeed again, with an upload accepted before
/// (if any) finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gets_507_corrupts_nothing_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_fs) = Tmpfs::mount(&data, 24) else {
        return;
    };
    let cfg = dir.path().join("atalaya.toml");
    std::fs::write(&cfg, config(dir.path(), &data, true)).unwrap();
    let (member, admin) = keys(&data);
    let (mut child, base) = common::serve_file(&cfg, KEY).await;
    let api = Api::with_key(&base, &member);
    let ops = Api::with_key(&base, &admin);
    let (s, t) = api.post("/v1/knowledge", json!({"name": "kb"})).await;
    assert_eq!(s, 201, "{t}");
    let doc = |i: usize| {
        json!({"documents": [{"source": format!("a{i}.md"),
            "content": format!("# Article {i}\n\nRoaming in Europe is included in plan {i}. {}", "Details follow. ".repeat(200))}]})
    };
    let (s, t) = api.post("/v1/knowledge/kb/documents", doc(0)).await;
    assert_eq!(s, 202, "{t}");
    assert_eq!(
        api.wait(t["id"].as_i64().unwrap()).await["status"],
        "succeeded"
    );

    // About a megabyte left: some writes succeed, then the disk is full mid-run (an upload
    // accepted may then fail to index and must wait, not fail).
    let filler = data.join("filler");
    fill(&filler, 1 << 20);
    // Tickets and uploads in turn until each is refused.
    let (mut uploads, mut acked) = (Vec::new(), Vec::new());
    let (mut uploads_full, mut full) = (false, None);
    let body = "Hola, the invoice is wrong. ".repeat(700);
    for i in 1..400 {
        if full.is_none() {
            let (s, t) = api
                .post("/v1/tickets", json!({"body": format!("{i} {body}")}))
                .await;
            match s {
                201 => acked.push(t["id"].as_str().unwrap().to_owned()),
                507 => full = Some(t),
                other => panic!("a write on a full disk: {other} {t}"),
            }
        }
        if !uploads_full {
            let (s, t) = api.post("/v1/knowledge/kb/documents", doc(i)).await;
            match s {
                202 => uploads.push(t["id"].as_i64().unwrap()),
                507 => {
                    assert_eq!(t["error"]["code"], "insufficient_storage", "{t}");
                    uploads_full = true;
                }
                other => panic!("an upload on a full disk: {other} {t}"),
            }
        }
        if full.is_some() && uploads_full {
            break;
        }
    }
    let e = full.expect("the disk never filled up");
    assert_eq!(e["error"]["code"], "insufficient_storage", "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("frees disk space"),
        "{e}"
    );
    assert_eq!(e_status_retry(&api, &base).await, Some(30));
    // Admin writes answer 507 too (or succeed, when SQLite still has room in its log).
    let (s, t) = ops
        .post(
            "/admin/v1/tenants/acme/keys",
            json!({"name": "late", "role": "member"}),
        )
        .await;
    assert!(s == 201 || s == 507, "{s} {t}");
    // The server is up; a read answers, or says the disk is full (SQLite may need a byte of
    // disk to start a read after a failed write), never a 500.
    let (s, _) = api.get("/healthz").await;
    assert_eq!(s, 200);
    let (s, t) = api.get("/v1/tickets?limit=5").await;
    assert!(s == 200 || s == 507, "{s} {t}");
    assert!(child.try_wait().unwrap().is_none(), "the server exited");

    // Space freed: writes succeed again, and an upload accepted while full completes.
    std::fs::remove_file(&filler).unwrap();
    let (s, t) = api
        .post("/v1/tickets", json!({"body": "after the disk was freed"}))
        .await;
    assert_eq!(s, 201, "{t}");
    acked.push(t["id"].as_str().unwrap().to_owned());
    for id in &uploads {
        let t = api.wait(*id).await;
        assert_eq!(t["status"], "succeeded", "{t}");
        assert_eq!(t["progress"]["failed"], 0, "an accepted upload failed: {t}");
    }
    let (s, t) = api.post("/v1/knowledge/kb/documents", doc(99)).await;
    assert_eq!(s, 202, "{t}");
    assert_eq!(
        api.wait(t["id"].as_i64().unwrap()).await["status"],
        "succeeded"
    );

    // Nothing was corrupted: after a restart every acknowledged ticket is there, the audit
    // chain verifies, and the store and indexes agree.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let (mut child, base) = common::serve_file(&cfg, KEY).await;
    let api = Api::with_key(&base, &member);
    let ops = Api::with_key(&base, &admin);
    for id in &acked {
        let (s, t) = api.get(&format!("/v1/tickets/{id}")).await;
        assert_eq!(s, 200, "acknowledged ticket {id} is lost: {t}");
    }
    let (s, v) = ops.get("/admin/v1/audit/verify").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let kb = atalaya_knowledge::service::KnowledgeBase::open(&data).unwrap();
    let c = kb.collection("acme", "kb").unwrap();
    assert!(kb.verify(&c).unwrap(), "indexes differ from the store");
    let (_, list) = {
        let (mut child, base) = common::serve_file(&cfg, KEY).await;
        let api = Api::with_key(&base, &member);
        let r = api.get("/v1/knowledge/kb/documents").await;
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        r
    };
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        uploads.len() + 2,
        "every accepted document is stored: {list}"
    );
    eprintln!(
        "before the disk was full: {} uploads and {} tickets acknowledged",
        uploads.len(),
        acked.len() - 1
    );
}
