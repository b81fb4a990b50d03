//! The tenancy service on a real SQLite store in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::{path::Path, sync::Arc, time::Duration};

use atalaya_store::{audit::Finding, Limits, Role, SqliteStore};
use atalaya_tenancy::{
    admin::{NewKeySpec, NewTenant, TenantPatch},
    config::{LimitsConfig, Price, Settings},
    service::now_millis,
    Capture, Error, Estimate, Outcome, Principal, Tenancy,
};

const SIGNING: &[u8] = b"0123456789abcdef0123456789abcdef";

fn settings() -> Settings {
    Settings {
        auth_enabled: true,
        audit_signing_key: Some(SIGNING.to_vec()),
        anchor_every: 1000,
        anchor_interval: Duration::from_secs(3600),
        master_key: Some([7; 32]),
        limits: LimitsConfig::default(),
        ..Settings::default()
    }
}

async fn open(dir: &Path, settings: Settings) -> Arc<Tenancy> {
    let store = SqliteStore::open_dir(dir).unwrap();
    Tenancy::open(Arc::new(store), settings).await.unwrap()
}

fn op() -> Principal {
    Principal::operator("test")
}

fn tenant(id: &str) -> NewTenant {
    NewTenant {
        id: id.into(),
        ..NewTenant::default()
    }
}

fn spec(role: Role, limits: Limits) -> NewKeySpec {
    NewKeySpec {
        name: "k".into(),
        role,
        limits,
        expires_at: None,
    }
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn chat(model: &str, prompt: u64, completion: u64) -> Estimate {
    Estimate {
        model: Some(model.into()),
        prompt_tokens: prompt,
        completion_tokens: completion,
    }
}

fn capture(subject: &str, text: &str) -> Capture {
    Capture {
        subject: Some(subject.into()),
        request: serde_json::json!({"messages": [{"role": "user", "content": text}]}),
    }
}

fn ok(prompt: u64, completion: u64) -> Outcome {
    Outcome {
        status: 200,
        prompt_tokens: Some(prompt),
        completion_tokens: Some(completion),
        ..Outcome::default()
    }
}

/// Creates a key and authenticates with it: (the created key, its principal).
async fn signed_in(
    t: &Tenancy,
    who: &Principal,
    tenant: &str,
    spec: NewKeySpec,
) -> (atalaya_tenancy::admin::CreatedKey, Principal) {
    let k = t.admin().create_key(who, tenant, spec).await.unwrap();
    let p = t
        .authn()
        .authenticate(Some(&bearer(&k.secret)), None)
        .await
        .unwrap();
    (k, p)
}

/// Every byte of the store's files (database and write-ahead log).
fn raw_files(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["platform.db", "platform.db-wal"] {
        if let Ok(b) = std::fs::read(dir.join(name)) {
            all.extend(b);
        }
    }
    all
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn revoked_and_expired_keys_are_refused_immediately() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    t.admin()
        .create_tenant(&op(), tenant("acme"))
        .await
        .unwrap();
    let (k, p) = signed_in(&t, &op(), "acme", spec(Role::Member, Limits::default())).await;
    assert_eq!((p.tenant.as_str(), p.role), ("acme", Role::Member));
    assert_eq!(p.display, k.record.prefix);

    // The same prefix with another secret is not the key.
    let forged = format!("{}{}", k.record.prefix, "A".repeat(43));
    assert!(matches!(
        t.authn()
            .authenticate(Some(&bearer(&forged)), Some("10.0.0.9"))
            .await,
        Err(Error::InvalidKey)
    ));

    t.admin().revoke_key(&op(), &k.record.id).await.unwrap();
    assert!(matches!(
        t.authn().authenticate(Some(&bearer(&k.secret)), None).await,
        Err(Error::KeyRevoked { .. })
    ));

    let mut short = spec(Role::Member, Limits::default());
    short.expires_at = Some(now_millis() + 150);
    let e = t.admin().create_key(&op(), "acme", short).await.unwrap();
    assert!(t
        .authn()
        .authenticate(Some(&bearer(&e.secret)), None)
        .await
        .is_ok());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(
        t.authn().authenticate(Some(&bearer(&e.secret)), None).await,
        Err(Error::KeyExpired { .. })
    ));

    // Failures are audited with the reason and the client address, never the key.
    let entries = t.admin().audit_entries(&op(), None, 0, 1000).await.unwrap();
    let failures: Vec<_> = entries
        .iter()
        .filter(|r| r.event.action == "auth.failure")
        .collect();
    assert_eq!(failures.len(), 3, "{entries:?}");
    assert!(failures
        .iter()
        .any(|f| f.event.source_ip.as_deref() == Some("10.0.0.9")));
    let text = format!("{entries:?}");
    assert!(!text.contains(&k.secret[12..]) && !text.contains(&forged[12..]));
}

#[tokio::test]
async fn another_process_changes_are_seen() {
    // The server and a CLI on one data directory.
    let dir = tempfile::tempdir().unwrap();
    let server = open(dir.path(), settings()).await;
    let cli = open(dir.path(), settings()).await;
    let k = cli
        .admin()
        .create_key(&op(), "default", spec(Role::Member, Limits::default()))
        .await
        .unwrap();
    // A key the server has never seen authenticates at once (looked up by its prefix).
    assert!(server
        .authn()
        .authenticate(Some(&bearer(&k.secret)), None)
        .await
        .is_ok());
    cli.admin().revoke_key(&op(), &k.record.id).await.unwrap();
    // Revoked by another process: refused after the next upkeep tick (one second).
    server.tick().await.unwrap();
    assert!(matches!(
        server
            .authn()
            .authenticate(Some(&bearer(&k.secret)), None)
            .await,
        Err(Error::KeyRevoked { .. })
    ));
}

#[tokio::test]
async fn rate_limits_concurrency_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    t.admin()
        .create_tenant(&op(), tenant("acme"))
        .await
        .unwrap();
    let limits = Limits {
        requests_per_minute: Some(2),
        max_concurrent: Some(5),
        ..Limits::default()
    };
    let (_, p) = signed_in(&t, &op(), "acme", spec(Role::Member, limits)).await;
    let a = t
        .admission()
        .admit(&p, chat("m", 10, 10), || unreachable!())
        .await
        .unwrap();
    let h: std::collections::HashMap<_, _> = a.headers().iter().cloned().collect();
    assert_eq!(h["x-ratelimit-limit-requests"], "2");
    assert_eq!(h["x-ratelimit-remaining-requests"], "1");
    let _b = t
        .admission()
        .admit(&p, chat("m", 10, 10), || unreachable!())
        .await
        .unwrap();
    match t
        .admission()
        .admit(&p, chat("m", 10, 10), || unreachable!())
        .await
    {
        Err(Error::RateLimited {
            retry_after,
            headers,
            ..
        }) => {
            assert!(retry_after > Duration::from_secs(20), "{retry_after:?}");
            assert!(headers
                .iter()
                .any(|(n, v)| *n == "x-ratelimit-remaining-requests" && v == "0"));
        }
        other => panic!("{other:?}"),
    }

    // The tenant's concurrency limit covers all its keys.
    t.admin()
        .update_tenant(
            &op(),
            "acme",
            TenantPatch {
                limits: Some(Limits {
                    max_concurrent: Some(1),
                    ..Limits::default()
                }),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap();
    let (_, p2) = signed_in(&t, &op(), "acme", spec(Role::Member, Limits::default())).await;
    drop((a, _b));
    let held = t
        .admission()
        .admit(&p2, chat("m", 1, 1), || unreachable!())
        .await
        .unwrap();
    assert!(matches!(
        t.admission()
            .admit(&p2, chat("m", 1, 1), || unreachable!())
            .await,
        Err(Error::RateLimited { .. })
    ));
    held.finish(ok(1, 1));
    assert!(t
        .admission()
        .admit(&p2, chat("m", 1, 1), || unreachable!())
        .await
        .is_ok());
}

#[tokio::test]
async fn token_budgets_are_exhausted_and_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings();
    s.pricing.insert(
        "priced".into(),
        Price {
            input_per_million: 1_000.0,
            output_per_million: 2_000.0,
        },
    );
    let t = open(dir.path(), s).await;
    let mut acme = tenant("acme");
    acme.limits.tokens_per_day = Some(100);
    t.admin().create_tenant(&op(), acme).await.unwrap();
    let (_, p) = signed_in(
        &t,
        &op(),
        "acme",
        spec(
            Role::Member,
            Limits {
                cost_per_month: Some(0.05),
                ..Limits::default()
            },
        ),
    )
    .await;
    // Estimated 60, used 70: the budget counts what was used.
    t.admission()
        .admit(&p, chat("m", 30, 30), || unreachable!())
        .await
        .unwrap()
        .finish(ok(50, 20));
    assert_eq!(t.admission().spent("tenant:acme").0, 70);
    // A refused or abandoned request costs nothing.
    drop(
        t.admission()
            .admit(&p, chat("m", 500, 500), || unreachable!())
            .await
            .unwrap(),
    );
    assert_eq!(t.admission().spent("tenant:acme").0, 70);
    t.admission()
        .admit(&p, chat("m", 10, 10), || unreachable!())
        .await
        .unwrap()
        .finish(ok(20, 20));
    match t
        .admission()
        .admit(&p, chat("m", 1, 1), || unreachable!())
        .await
    {
        Err(Error::BudgetExceeded {
            message,
            retry_after,
        }) => {
            assert!(
                message.contains("tenant") && message.contains("tokens per day"),
                "{message}"
            );
            assert!(retry_after <= Duration::from_secs(86_400));
        }
        other => panic!("{other:?}"),
    }

    // The key's cost budget: 20 prompt + 10 completion tokens of `priced` cost
    // 20·1000 + 10·2000 = 40,000 micro-units = 0.04; a second call crosses 0.05.
    let mut other = tenant("globex");
    other.limits = Limits::default();
    t.admin().create_tenant(&op(), other).await.unwrap();
    let (_, p2) = signed_in(
        &t,
        &op(),
        "globex",
        spec(
            Role::Member,
            Limits {
                cost_per_month: Some(0.05),
                ..Limits::default()
            },
        ),
    )
    .await;
    for _ in 0..2 {
        t.admission()
            .admit(&p2, chat("priced", 20, 10), || unreachable!())
            .await
            .unwrap()
            .finish(ok(20, 10));
    }
    assert!(matches!(
        t.admission()
            .admit(&p2, chat("priced", 1, 1), || unreachable!())
            .await,
        Err(Error::BudgetExceeded { .. })
    ));
    // Usage reports hold what was recorded.
    let rows = t.admin().usage(&op(), "globex", 0).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].requests, rows[0].prompt_tokens, rows[0].cost_micros),
        (2, 40, 80_000)
    );
}

#[tokio::test]
async fn models_outside_the_tenant_allow_list_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    let mut acme = tenant("acme");
    acme.models = vec!["small".into()];
    t.admin().create_tenant(&op(), acme).await.unwrap();
    let (_, p) = signed_in(&t, &op(), "acme", spec(Role::Member, Limits::default())).await;
    assert!(t
        .admission()
        .admit(&p, chat("small", 1, 1), || unreachable!())
        .await
        .is_ok());
    assert!(matches!(
        t.admission()
            .admit(&p, chat("large", 1, 1), || unreachable!())
            .await,
        Err(Error::ModelNotAllowed(_))
    ));
    // A viewer may not call models at all.
    let (_, pv) = signed_in(&t, &op(), "acme", spec(Role::Viewer, Limits::default())).await;
    assert!(matches!(
        t.admission()
            .admit(&pv, chat("small", 1, 1), || unreachable!())
            .await,
        Err(Error::Forbidden(_))
    ));
}

async fn logging_tenant(t: &Arc<Tenancy>) -> Principal {
    let mut acme = tenant("acme");
    acme.log_inference = true;
    t.admin().create_tenant(&op(), acme).await.unwrap();
    let k = t
        .admin()
        .create_key(&op(), "acme", spec(Role::Member, Limits::default()))
        .await
        .unwrap();
    t.authn()
        .authenticate(Some(&bearer(&k.secret)), None)
        .await
        .unwrap()
}

async fn served(t: &Arc<Tenancy>, p: &Principal, subject: &str, prompt: &str, answer: &str) {
    let mut lease = t
        .admission()
        .admit(p, chat("m", 5, 5), || capture(subject, prompt))
        .await
        .unwrap();
    assert!(lease.wants_answer());
    lease.set_answer(serde_json::json!({"choices": [{"message": {"content": answer}}]}));
    lease.finish(ok(5, 5));
}

#[tokio::test]
async fn the_inference_log_is_encrypted_and_erasure_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    let p = logging_tenant(&t).await;
    served(
        &t,
        &p,
        "alice@example.com",
        "PROMPT-OF-ALICE",
        "ANSWER-FOR-ALICE",
    )
    .await;
    served(&t, &p, "alice@example.com", "SECOND-OF-ALICE", "ANSWER-2").await;
    served(&t, &p, "bob", "PROMPT-OF-BOB", "ANSWER-FOR-BOB").await;
    t.flush().await.unwrap();

    // Readable through the service, not in the file.
    let rows = t
        .admin()
        .inference_log(&op(), "acme", 10, None)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .any(|r| r.content["request"]["messages"][0]["content"] == "PROMPT-OF-BOB"));
    let raw = raw_files(dir.path());
    for secret in [
        "PROMPT-OF-ALICE",
        "ANSWER-FOR-ALICE",
        "PROMPT-OF-BOB",
        "alice@example.com",
    ] {
        assert!(
            !contains(&raw, secret.as_bytes()),
            "{secret} is readable in the file"
        );
    }

    let export = t
        .admin()
        .export_subject(&op(), "alice@example.com", None)
        .await
        .unwrap();
    assert_eq!(export["inference_log"].as_array().unwrap().len(), 2);

    // The ciphertexts of alice's rows, to look for after erasure.
    let store = t.store().clone();
    let alice_hash = {
        let all = store.inference("acme", 10, None).await.unwrap();
        all.iter()
            .map(|r| r.subject_hash.clone().unwrap())
            .find(|h| {
                all.iter()
                    .filter(|r| r.subject_hash.as_ref() == Some(h))
                    .count()
                    == 2
            })
            .unwrap()
    };
    let alice_rows = store.inference_by_subject(None, &alice_hash).await.unwrap();
    assert_eq!(alice_rows.len(), 2);

    let n = t
        .admin()
        .erase_subject(&op(), "alice@example.com", None)
        .await
        .unwrap();
    assert_eq!(n, 2);
    let export = t
        .admin()
        .export_subject(&op(), "alice@example.com", None)
        .await
        .unwrap();
    assert!(export["inference_log"].as_array().unwrap().is_empty());
    assert_eq!(
        t.admin()
            .inference_log(&op(), "acme", 10, None)
            .await
            .unwrap()
            .len(),
        1
    );

    // Nothing of alice's rows is left in the files (secure_delete overwrites freed pages),
    // once the write-ahead log is checkpointed.
    drop(t);
    let conn = rusqlite::Connection::open(dir.path().join("platform.db")).unwrap();
    conn.pragma_update(None, "secure_delete", "ON").unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(conn);
    let raw = std::fs::read(dir.path().join("platform.db")).unwrap();
    for r in &alice_rows {
        assert!(
            !contains(&raw, &r.payload),
            "a ciphertext of alice survived"
        );
    }
    assert!(
        !contains(&raw, &alice_hash),
        "alice's subject hash survived"
    );
    // The erasure is audited by a short keyed hash, not the subject id.
    let t = open(dir.path(), settings()).await;
    let entries = t.admin().audit_entries(&op(), None, 0, 1000).await.unwrap();
    let erase = entries
        .iter()
        .find(|e| e.event.action == "subject.erase")
        .unwrap();
    assert_eq!(erase.event.details["inference_rows"], 2);
    assert!(!format!("{entries:?}").contains("alice"));
}

#[tokio::test]
async fn erasure_destroys_the_subject_key_so_restored_copies_stay_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    let p = logging_tenant(&t).await;
    served(&t, &p, "alice", "PROMPT-OF-ALICE", "ANSWER-FOR-ALICE").await;
    served(&t, &p, "bob", "PROMPT-OF-BOB", "ANSWER-FOR-BOB").await;
    let mut lease = t
        .admission()
        .admit(&p, chat("m", 5, 5), || Capture {
            subject: None,
            request: serde_json::json!({"messages": [{"role": "user", "content": "NO-SUBJECT"}]}),
        })
        .await
        .unwrap();
    lease.set_answer(serde_json::json!({"choices": []}));
    lease.finish(ok(5, 5));
    t.flush().await.unwrap();
    let store = t.store().clone();
    let rows = store.inference("acme", 10, None).await.unwrap();
    assert_eq!(rows.len(), 3);
    // Each subject's rows are sealed under its own key; a row without one is not.
    let sealed: Vec<_> = rows
        .iter()
        .filter_map(|r| r.subject_key_id.clone())
        .collect();
    assert_eq!(sealed.len(), 2, "{rows:?}");
    assert_ne!(sealed[0], sealed[1], "two subjects share a key");
    let export = t
        .admin()
        .export_subject(&op(), "alice", None)
        .await
        .unwrap();
    let alice_id = export["inference_log"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        export["inference_log"][0]["content"]["request"]["messages"][0]["content"],
        "PROMPT-OF-ALICE"
    );
    // A backup taken before the erasure: alice's row as stored.
    let backup: Vec<_> = rows.iter().filter(|r| r.id == alice_id).cloned().collect();
    let alice_key = backup[0].subject_key_id.clone().unwrap();
    assert_eq!(
        store
            .subject_keys(vec![alice_key.clone()])
            .await
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        t.admin().erase_subject(&op(), "alice", None).await.unwrap(),
        1
    );
    assert!(
        store
            .subject_keys(vec![alice_key])
            .await
            .unwrap()
            .is_empty(),
        "alice's key survived her erasure"
    );
    // The backup is restored: the row is back, and cannot be read, even by the process
    // that holds the master key.
    store.insert_inference(backup).await.unwrap();
    let back = t
        .admin()
        .inference_log(&op(), "acme", 10, None)
        .await
        .unwrap();
    assert_eq!(back.len(), 3);
    let restored = back.iter().find(|e| e.id == alice_id).unwrap();
    assert!(
        restored.content.get("erased").is_some(),
        "{:?}",
        restored.content
    );
    // Bob's row and the row without a subject read as before.
    let text = serde_json::to_string(&back.iter().map(|e| &e.content).collect::<Vec<_>>()).unwrap();
    assert!(!text.contains("PROMPT-OF-ALICE"));
    assert!(text.contains("PROMPT-OF-BOB") && text.contains("NO-SUBJECT"));
    let entries = t.admin().audit_entries(&op(), None, 0, 1000).await.unwrap();
    let erase = entries
        .iter()
        .find(|e| e.event.action == "subject.erase")
        .unwrap();
    assert_eq!(erase.event.details["subject_keys"], 1);
    // Alice comes back: she gets a new key, and her new rows read.
    served(&t, &p, "alice", "ALICE-AGAIN", "OK").await;
    t.flush().await.unwrap();
    let again = t
        .admin()
        .export_subject(&op(), "alice", None)
        .await
        .unwrap();
    let again = again["inference_log"].as_array().unwrap();
    // Her new row reads; the restored one is still found by her pseudonym, and unreadable.
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again
        .iter()
        .any(|e| e["content"]["request"]["messages"][0]["content"] == "ALICE-AGAIN"));
    assert!(again.iter().any(|e| e["content"].get("erased").is_some()));
}

#[tokio::test]
async fn restart_keeps_all_state_and_master_keys_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, prefix) = {
        let t = open(dir.path(), settings()).await;
        let p = logging_tenant(&t).await;
        let mut u = tenant("globex");
        u.limits.tokens_per_day = Some(1000);
        t.admin().create_tenant(&op(), u).await.unwrap();
        let (k, pg) = signed_in(&t, &op(), "globex", spec(Role::Admin, Limits::default())).await;
        t.admission()
            .admit(&pg, chat("m", 100, 100), || unreachable!())
            .await
            .unwrap()
            .finish(ok(300, 100));
        served(&t, &p, "carol", "PROMPT-OF-CAROL", "ANSWER").await;
        t.flush().await.unwrap();
        t.anchor(true).await.unwrap();
        (k.secret, k.record.prefix)
    };
    let entries_before;
    {
        let t = open(dir.path(), settings()).await;
        let p = t
            .authn()
            .authenticate(Some(&bearer(&secret)), None)
            .await
            .unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.role, p.display.as_str()),
            ("globex", Role::Admin, prefix.as_str())
        );
        assert_eq!(
            t.admin()
                .tenant(&op(), "globex")
                .await
                .unwrap()
                .limits
                .tokens_per_day,
            Some(1000)
        );
        // Budgets continue from what was spent.
        assert_eq!(t.admission().spent("tenant:globex").0, 400);
        let rows = t
            .admin()
            .inference_log(&op(), "acme", 10, None)
            .await
            .unwrap();
        assert_eq!(
            rows[0].content["request"]["messages"][0]["content"],
            "PROMPT-OF-CAROL"
        );
        let report = t.admin().audit_verify(&op(), &[]).await.unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert!(report.anchors >= 1);
        entries_before = report.entries;
        let keys = t.admin().keys(&op(), Some("globex")).await.unwrap();
        assert!(keys[0].last_used_at.is_some());
    }
    // Rotate the master key: the new one current, the old one previous.
    let mut rotated = settings();
    rotated.master_key = Some([9; 32]);
    rotated.previous_master_keys = vec![[7; 32]];
    {
        let t = open(dir.path(), rotated.clone()).await;
        let rows = t
            .admin()
            .inference_log(&op(), "acme", 10, None)
            .await
            .unwrap();
        assert_eq!(
            rows[0].content["request"]["messages"][0]["content"],
            "PROMPT-OF-CAROL"
        );
        let report = t.admin().audit_verify(&op(), &[]).await.unwrap();
        assert!(report.ok(), "{:?}", report.findings);
        assert!(report.entries > entries_before, "the re-wrap is audited");
    }
    // Re-wrapped: the old master key is no longer needed…
    let mut only_new = rotated.clone();
    only_new.previous_master_keys.clear();
    {
        let t = open(dir.path(), only_new).await;
        assert_eq!(
            t.admin()
                .inference_log(&op(), "acme", 10, None)
                .await
                .unwrap()
                .len(),
            1
        );
    }
    // …and the old one alone opens nothing.
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    match Tenancy::open(Arc::new(store), settings()).await {
        Err(Error::Crypto(m)) => assert!(m.contains("previous_master_keys"), "{m}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("opened with the old master key"),
    }
}

/// Runs SQL on the store file behind the service's back.
fn tamper(dir: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(dir.join("platform.db")).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[tokio::test]
async fn audit_verification_catches_modified_deleted_and_reordered_entries() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    for i in 0..8 {
        t.admin()
            .create_tenant(&op(), tenant(&format!("t{i}")))
            .await
            .unwrap();
    }
    t.anchor(true).await.unwrap();
    let report = t.admin().audit_verify(&op(), &[]).await.unwrap();
    assert!(report.ok(), "{:?}", report.findings);
    let n = report.last_seq;
    assert!(n >= 10);

    // Modified: an entry's content changed.
    tamper(
        dir.path(),
        "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 4",
    );
    let f = t.admin().audit_verify(&op(), &[]).await.unwrap().findings;
    assert_eq!(f, vec![Finding::Modified { seq: 4 }]);
    tamper(
        dir.path(),
        "UPDATE audit_log SET actor = 'cli:test' WHERE seq = 4",
    );
    assert!(t.admin().audit_verify(&op(), &[]).await.unwrap().ok());

    // Reordered: two entries swap positions.
    tamper(
        dir.path(),
        "UPDATE audit_log SET seq = -1 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = 7; UPDATE audit_log SET seq = 7 WHERE seq = -1;",
    );
    let f = t.admin().audit_verify(&op(), &[]).await.unwrap().findings;
    assert!(
        f.iter().any(|x| matches!(
            x,
            Finding::Reordered {
                seq: 6,
                follows_seq: 7
            }
        )),
        "{f:?}"
    );
    tamper(
        dir.path(),
        "UPDATE audit_log SET seq = -1 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = 7; UPDATE audit_log SET seq = 7 WHERE seq = -1;",
    );
    assert!(t.admin().audit_verify(&op(), &[]).await.unwrap().ok());

    // Deleted: one entry from the middle, then the end of the log.
    tamper(dir.path(), "DELETE FROM audit_log WHERE seq = 5");
    let f = t.admin().audit_verify(&op(), &[]).await.unwrap().findings;
    assert_eq!(
        f,
        vec![Finding::Deleted {
            from_seq: 5,
            to_seq: 5
        }]
    );
    tamper(
        dir.path(),
        &format!("DELETE FROM audit_log WHERE seq >= {}", n - 1),
    );
    let f = t.admin().audit_verify(&op(), &[]).await.unwrap().findings;
    assert!(
        f.contains(&Finding::Truncated {
            last_seq: n - 2,
            anchored_seq: n
        }),
        "{f:?}"
    );

    // A forged anchor (signed with another key) is reported.
    tamper(
        dir.path(),
        "UPDATE audit_anchors SET signature = zeroblob(32)",
    );
    let f = t.admin().audit_verify(&op(), &[]).await.unwrap().findings;
    assert!(f.contains(&Finding::BadSignature { seq: n }), "{f:?}");
}

#[tokio::test]
async fn retention_removes_old_rows_only() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    let p = logging_tenant(&t).await;
    t.admin()
        .update_tenant(
            &op(),
            "acme",
            TenantPatch {
                retention_days: Some(Some(2)),
                ..TenantPatch::default()
            },
        )
        .await
        .unwrap();
    served(&t, &p, "dave", "x", "y").await;
    t.flush().await.unwrap();
    assert_eq!(
        t.admin()
            .enforce_retention(now_millis() + 86_400_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        t.admin()
            .enforce_retention(now_millis() + 3 * 86_400_000)
            .await
            .unwrap(),
        1
    );
    assert!(t
        .admin()
        .inference_log(&op(), "acme", 10, None)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn bootstrap_admin_key_only_on_first_start() {
    let dir = tempfile::tempdir().unwrap();
    let admin = atalaya_tenancy::keys::generate().secret;
    let mut s = settings();
    s.bootstrap_admin_key = Some(admin.clone());
    let t = open(dir.path(), s.clone()).await;
    let p = t
        .authn()
        .authenticate(Some(&bearer(&admin)), None)
        .await
        .unwrap();
    assert!(p.is_platform_admin());
    // Revoked, it stays revoked across restarts, and another bootstrap key is not added.
    let keys = t.admin().keys(&p, Some("platform")).await.unwrap();
    t.admin().revoke_key(&p, &keys[0].id).await.unwrap();
    drop(t);
    let other = atalaya_tenancy::keys::generate().secret;
    s.bootstrap_admin_key = Some(other.clone());
    let t = open(dir.path(), s).await;
    assert!(matches!(
        t.authn().authenticate(Some(&bearer(&admin)), None).await,
        Err(Error::KeyRevoked { .. })
    ));
    assert!(matches!(
        t.authn().authenticate(Some(&bearer(&other)), None).await,
        Err(Error::InvalidKey)
    ));
}

#[tokio::test]
async fn a_deleted_tenant_id_is_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    let p = logging_tenant(&t).await;
    served(&t, &p, "erin", "PROMPT", "ANSWER").await;
    // The row is still queued when the tenant is deleted: it goes with the tenant.
    t.admin().delete_tenant(&op(), "acme").await.unwrap();
    assert!(matches!(
        t.admin().create_tenant(&op(), tenant("acme")).await,
        Err(Error::Store(atalaya_store::Error::Conflict(_)))
    ));
    t.flush().await.unwrap();
    assert!(t
        .store()
        .inference("acme", 10, None)
        .await
        .unwrap()
        .is_empty());
    // Built-in tenants cannot be deleted.
    assert!(matches!(
        t.admin().delete_tenant(&op(), "default").await,
        Err(Error::Conflict(_))
    ));
}

#[tokio::test]
async fn failed_authentications_are_audited_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    for i in 0..50 {
        let key = format!("atl_Zz{i:06}{}", "q".repeat(40));
        let _ = t
            .authn()
            .authenticate(Some(&bearer(&key)), Some("10.9.9.9"))
            .await;
    }
    let _ = t
        .authn()
        .authenticate(Some("bearer nope"), Some("10.1.1.1"))
        .await;
    let entries = t.admin().audit_entries(&op(), None, 0, 1000).await.unwrap();
    let from = |ip: &str, action: &str| {
        entries
            .iter()
            .filter(|e| e.event.source_ip.as_deref() == Some(ip) && e.event.action == action)
            .collect::<Vec<_>>()
    };
    // One address gets 10 itemised entries a second, the rest in one summary.
    assert_eq!(from("10.9.9.9", "auth.failure").len(), 10);
    let summary = from("10.9.9.9", "auth.failure.summary");
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].event.details["not_itemised"], 40);
    // Lower-case "bearer" is read too; the itemised entry shows the visible prefix only.
    assert_eq!(from("10.1.1.1", "auth.failure").len(), 1);
    assert!(from("10.9.9.9", "auth.failure")
        .iter()
        .all(|e| e.event.actor.len() == 12 && e.event.actor.starts_with("atl_Zz")));
}

/// A store with anchors after each of six admin changes, copied to a file sink; the interval
/// is zero, so every entry is due for an anchor at once.
async fn anchored_log(dir: &Path) -> (Arc<Tenancy>, std::path::PathBuf) {
    let sink = dir.join("anchors.jsonl");
    let t = open(
        dir,
        Settings {
            anchor_interval: Duration::ZERO,
            anchor_sink: atalaya_tenancy::config::AnchorSink::File(sink.clone()),
            ..settings()
        },
    )
    .await;
    for i in 0..6 {
        t.admin()
            .create_tenant(&op(), tenant(&format!("t{i}")))
            .await
            .unwrap();
        t.flush().await.unwrap();
        t.anchor(true).await.unwrap();
    }
    (t, sink)
}

fn exported(sink: &Path) -> Vec<atalaya_store::AuditAnchor> {
    std::fs::read_to_string(sink)
        .unwrap()
        .lines()
        .map(|l| atalaya_tenancy::service::parse_exported_anchor(l).unwrap())
        .collect()
}

/// The attacks on the audit log an attacker with write access to the database can make
/// without the signing key: each is reported.
#[tokio::test]
async fn audit_verification_catches_attacks_on_the_anchors() {
    // Intact: the anchors link up and match their exported copies.
    let dir = tempfile::tempdir().unwrap();
    let (t, sink) = anchored_log(dir.path()).await;
    let copies = exported(&sink);
    assert!(copies.len() >= 6, "{copies:?}");
    let r = t.admin().audit_verify(&op(), &copies).await.unwrap();
    assert!(r.ok(), "{:?}", r.findings);

    // One anchor removed from the middle: the next one's link breaks.
    let middle = copies[copies.len() / 2].seq;
    let after = copies[copies.len() / 2 + 1].seq;
    tamper(
        dir.path(),
        &format!("DELETE FROM audit_anchors WHERE seq = {middle}"),
    );
    let f = t.admin().audit_verify(&op(), &[]).await.unwrap().findings;
    assert_eq!(f, vec![Finding::AnchorChainBroken { seq: after }]);

    // The end cut together with the anchors above the cut: consistent in the database, but
    // the exported copies of those anchors are gone from it.
    let dir = tempfile::tempdir().unwrap();
    let (t, sink) = anchored_log(dir.path()).await;
    let copies = exported(&sink);
    let cut = copies[2].seq;
    tamper(
        dir.path(),
        &format!(
            "DELETE FROM audit_log WHERE seq > {cut}; DELETE FROM audit_anchors WHERE seq > {cut};"
        ),
    );
    assert!(t.admin().audit_verify(&op(), &[]).await.unwrap().ok());
    let f = t
        .admin()
        .audit_verify(&op(), &copies)
        .await
        .unwrap()
        .findings;
    assert!(
        f.contains(&Finding::ExportedAnchorMissing { seq: copies[3].seq }),
        "{f:?}"
    );

    // Every anchor deleted and the chain rewritten with consistent hashes: the entries are
    // past their anchoring deadline with nothing covering them.
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = anchored_log(dir.path()).await;
    let conn = rusqlite::Connection::open(dir.path().join("platform.db")).unwrap();
    conn.execute("UPDATE audit_log SET actor = 'intruder' WHERE seq = 2", [])
        .unwrap();
    let rows: Vec<(i64, atalaya_store::AuditEvent)> = {
        let mut s = conn
            .prepare("SELECT seq, ts, actor, action, tenant_id, target, outcome, source_ip, details FROM audit_log ORDER BY seq")
            .unwrap();
        s.query_map([], |r| {
            let details: String = r.get(8)?;
            Ok((
                r.get(0)?,
                atalaya_store::AuditEvent {
                    ts: r.get(1)?,
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    tenant_id: r.get(4)?,
                    target: r.get(5)?,
                    outcome: r.get(6)?,
                    source_ip: r.get(7)?,
                    details: serde_json::from_str(&details).unwrap(),
                },
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let mut prev = atalaya_store::audit::GENESIS;
    for (seq, event) in rows {
        let hash = atalaya_store::audit::chain_hash(&prev, &event);
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev.as_slice(), hash.as_slice(), seq],
        )
        .unwrap();
        prev = hash;
    }
    conn.execute("DELETE FROM audit_anchors", []).unwrap();
    let r = t.admin().audit_verify(&op(), &[]).await.unwrap();
    assert!(
        matches!(
            r.findings.as_slice(),
            [Finding::Unanchored { from_seq: 1, .. }]
        ),
        "{:?}",
        r.findings
    );
}

/// A flood of failed authentications from many addresses (IPv6 gives an attacker as many as
/// it wants) writes a bounded number of audit entries a second, and the excess is summarised;
/// addresses of one /64 count as one client.
#[tokio::test]
async fn failed_authentications_from_many_addresses_are_bounded_globally() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path(), settings()).await;
    for i in 0..3000u32 {
        let ip = format!("2001:db8:{:x}:{:x}::1", i / 7, i % 7 + 1);
        let _ = t.authn().authenticate(Some("Bearer nope"), Some(&ip)).await;
    }
    // One /64, many hosts: one client.
    for i in 0..50u32 {
        let ip = format!("2001:db8:ffff:1::{:x}", i + 1);
        let _ = t.authn().authenticate(Some("Bearer nope"), Some(&ip)).await;
    }
    t.flush().await.unwrap();
    let entries = t
        .admin()
        .audit_entries(&op(), None, 0, 10_000)
        .await
        .unwrap();
    let itemised = entries
        .iter()
        .filter(|e| e.event.action == "auth.failure")
        .count();
    let summaries: Vec<_> = entries
        .iter()
        .filter(|e| e.event.action == "auth.failure.summary")
        .collect();
    assert!(itemised <= 100, "{itemised} itemised entries");
    assert!(summaries.len() <= 21, "{} summaries", summaries.len());
    let counted: u64 = summaries
        .iter()
        .map(|e| e.event.details["not_itemised"].as_u64().unwrap())
        .sum();
    assert_eq!(
        itemised as u64 + counted,
        3050,
        "every failure is itemised or counted"
    );
    let global = summaries
        .iter()
        .find(|e| e.event.source_ip.is_none())
        .expect("a global summary");
    assert!(global.event.details["sources"].as_u64().unwrap() > 100);
}
