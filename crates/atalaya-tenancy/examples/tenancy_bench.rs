//! In-process costs of tenancy (bench/tenancy.sh runs it in release mode):
//!   1. authentication + admission (rate limits, concurrency, budgets) + settlement of one
//!      request, per request: p50 / p99 / p99.9 over N requests, for a store key with key
//!      and tenant limits, and for a configured (static) key;
//!   2. audit append rate: one entry per transaction, and batches of 1,000;
//!   3. `audit verify` time for ENTRIES entries (default 1,000,000).
//!
//! Usage: tenancy_bench [N] [ENTRIES]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark binary

use std::{sync::Arc, time::Instant};

use atalaya_store::{AuditEvent, Limits, Role, SqliteStore};
use atalaya_tenancy::{
    admin::{NewKeySpec, NewTenant},
    config::Settings,
    Capture, Estimate, Outcome, Principal, Tenancy,
};

fn pct(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn report(name: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let mean = ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0;
    println!(
        "{name}: n={} p50={:.2}us p99={:.2}us p99.9={:.2}us mean={mean:.2}us",
        ns.len(),
        pct(&ns, 0.50),
        pct(&ns, 0.99),
        pct(&ns, 0.999)
    );
}

fn no_capture() -> Capture {
    Capture {
        subject: None,
        request: serde_json::Value::Null,
    }
}

/// One request: authenticate, admit with a chat-sized estimate, settle with usage.
async fn one(t: &Arc<Tenancy>, header: &str) {
    let p = t.authn().authenticate(Some(header), None).await.unwrap();
    let estimate = Estimate {
        model: Some("m".into()),
        prompt_tokens: 10,
        completion_tokens: 256,
    };
    let lease = t.admission().admit(&p, estimate, no_capture).await.unwrap();
    lease.finish(Outcome {
        status: 200,
        prompt_tokens: Some(9),
        completion_tokens: Some(12),
        ..Outcome::default()
    });
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let entries: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let static_key = "sk-static-bench-key";
    let settings = Settings {
        auth_enabled: true,
        static_keys: vec![atalaya_tenancy::keys::digest(static_key)],
        audit_signing_key: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
        anchor_every: 1000,
        anchor_interval: std::time::Duration::from_secs(60),
        ..Settings::default()
    };
    let store = SqliteStore::open_dir(dir.path()).unwrap();
    let t = Tenancy::open(Arc::new(store), settings).await.unwrap();
    let op = Principal::operator("bench");
    let big = Limits {
        requests_per_minute: Some(1_000_000_000),
        tokens_per_minute: Some(1_000_000_000_000),
        max_concurrent: Some(100_000),
        tokens_per_day: Some(u64::MAX / 4),
        cost_per_month: Some(1e12),
        ..Limits::default()
    };
    t.admin()
        .create_tenant(
            &op,
            NewTenant {
                id: "bench".into(),
                limits: big.clone(),
                ..NewTenant::default()
            },
        )
        .await
        .unwrap();
    let key = t
        .admin()
        .create_key(
            &op,
            "bench",
            NewKeySpec {
                name: "bench".into(),
                role: Role::Member,
                limits: big,
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let header = format!("Bearer {}", key.secret);
    let static_header = format!("Bearer {static_key}");

    for (name, h) in [
        ("store key, key+tenant limits", &header),
        ("static key, no limits", &static_header),
    ] {
        for _ in 0..n / 10 {
            one(&t, h).await;
        }
        let mut ns = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            one(&t, h).await;
            ns.push(start.elapsed().as_nanos() as u64);
        }
        report(&format!("auth+admit+settle ({name})"), ns);
        t.flush().await.unwrap();
    }

    // Audit appends.
    let store = t.store().clone();
    let event = |i: usize| AuditEvent {
        ts: 1_796_000_000_000 + i as i64,
        actor: "atl_benchkey".into(),
        action: "key.create".into(),
        tenant_id: Some("bench".into()),
        target: Some(format!("key-{i}")),
        outcome: "success".into(),
        source_ip: Some("127.0.0.1".into()),
        details: serde_json::json!({"prefix": "atl_benchkey", "role": "member"}),
    };
    let singles = 2_000;
    let start = Instant::now();
    for i in 0..singles {
        store.append_audit(vec![event(i)]).await.unwrap();
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "audit append, one entry per transaction: {singles} in {s:.2}s = {:.0} entries/s",
        singles as f64 / s
    );
    let start = Instant::now();
    let mut done = singles;
    while done < entries {
        let batch = (entries - done).min(1000);
        store
            .append_audit((done..done + batch).map(event).collect())
            .await
            .unwrap();
        done += batch;
    }
    let s = start.elapsed().as_secs_f64();
    println!(
        "audit append, batches of 1000: {} in {s:.2}s = {:.0} entries/s",
        done - singles,
        (done - singles) as f64 / s
    );
    t.anchor(true).await.unwrap();
    let start = Instant::now();
    let report = t.admin().audit_verify(&op, &[]).await.unwrap();
    let s = start.elapsed().as_secs_f64();
    assert!(report.ok(), "{:?}", report.findings);
    println!(
        "audit verify: {} entries in {s:.2}s = {:.0} entries/s",
        report.entries,
        report.entries as f64 / s
    );
    let size = std::fs::metadata(dir.path().join("platform.db"))
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(dir.path().join("platform.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!("store size: {:.1} MB", size as f64 / 1e6);
}
