//! What only a shared database promises: several processes (here, separate pools) appending
//! to one audit chain at once, and one process's changes visible to the others' caches.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // test code

use atalaya_store::{
    audit::Verifier, AuditEvent, AuditStore, KeyStore, Limits, PostgresStore, Tenant, TenantStore,
};

fn event(action: &str, tenant: &str, ts: i64) -> AuditEvent {
    AuditEvent {
        ts,
        actor: "operator:test".into(),
        action: action.into(),
        tenant_id: Some(tenant.into()),
        target: Some(tenant.into()),
        outcome: "success".into(),
        source_ip: None,
        details: serde_json::json!({"n": ts}),
    }
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        models: vec![],
        limits: Limits::default(),
        log_inference: false,
        retention_days: None,
        guard_policy: None,
        created_at: 1,
        updated_at: 1,
    }
}

async fn store(url: &str) -> PostgresStore {
    let pool = atalaya_postgres::testing::pool(url).await.unwrap();
    PostgresStore::open(pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_append_one_audit_chain_and_see_each_others_changes() {
    let cluster = atalaya_postgres::testing::Cluster::start().expect("test Postgres");
    let url = cluster.database().await.unwrap();
    let replicas = [store(&url).await, store(&url).await, store(&url).await];
    let before = replicas[1].change_counter().await.unwrap();

    // Each replica creates and updates its own tenants and appends plain events, all at once.
    let mut tasks = Vec::new();
    for (r, s) in replicas.iter().enumerate() {
        for i in 0..15 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let id = format!("t{r}-{i}");
                s.create_tenant(tenant(&id), event("tenant.create", &id, 1))
                    .await?;
                s.update_tenant(tenant(&id), event("tenant.update", &id, 2))
                    .await?;
                s.append_audit(vec![event("auth.failure", &id, 3), event("x", &id, 4)])
                    .await
                    .map(drop)
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    let mut verifier = Verifier::new();
    let mut n = 0u64;
    let records = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = records.clone();
    replicas[2]
        .scan_audit(Box::new(move |r| {
            sink.lock().unwrap().push(r);
            Ok(())
        }))
        .await
        .unwrap();
    for r in records.lock().unwrap().iter() {
        verifier.push(r);
        n += 1;
    }
    assert_eq!(n, 3 * 15 * 4, "every entry is in the chain");
    let report = verifier.finish(&[], &|_| true, None, &[]);
    assert!(report.ok(), "{:?}", report.findings);
    assert_eq!(report.last_seq, 180);

    // Another process's changes move this one's change counter (its cache's cue to reload).
    let after = replicas[1].change_counter().await.unwrap();
    assert!(after >= before + 90, "{before} -> {after}");
    assert_eq!(replicas[0].tenants().await.unwrap().len(), 45);
}
