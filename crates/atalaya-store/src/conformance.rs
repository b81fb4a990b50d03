//! The conformance suite of the platform store traits, generic over the backend: every
//! implementation of [`Store`] must pass it (the SQLite one does, in `tests/conformance.rs`;
//! a Postgres one will). Each case gets a fresh, empty store from `make`. A failed check is an
//! `Err` naming the case and what differed, so a backend's test reports every case.

use atalaya_conformance::{check, ok, run_cases, Outcome};
use std::future::Future;

use crate::{
    audit::{Verifier, GENESIS},
    AuditEvent, DataKey, Error, InferenceRecord, KeyRecord, KeyUpdate, Limits, Role, Store,
    SubjectKey, Tenant, UsageDelta,
};

/// Signs an anchor's link: (algorithm, key id, signature).
type Signer = Box<dyn FnOnce([u8; 32]) -> (String, String, Vec<u8>) + Send>;

/// Runs every case; returns the failures (empty: the backend conforms).
pub async fn run_all<S, F, Fut>(make: F) -> Vec<String>
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    run_cases!(make().await =>
        tenants_round_trip,
        deleted_tenant_ids_are_never_reused,
        keys_by_id_prefix_and_tenant,
        key_updates_and_rotation,
        usage_accumulates_per_day_key_and_model,
        audit_chain_is_continuous,
        anchors_chain_and_refuse_stale_seqs,
        inference_rows_page_and_erase_by_subject,
        data_keys_are_kept_and_rewrapped,
        subject_keys_are_one_per_subject_and_destroyed_by_erasure,
        deleting_a_tenant_removes_its_records,
    )
}

fn event(action: &str, tenant: Option<&str>, ts: i64) -> AuditEvent {
    AuditEvent {
        ts,
        actor: "operator:test".into(),
        action: action.into(),
        tenant_id: tenant.map(str::to_owned),
        target: tenant.map(str::to_owned),
        outcome: "success".into(),
        source_ip: None,
        details: serde_json::json!({"case": action}),
    }
}

fn tenant(id: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: format!("Tenant {id}"),
        models: vec!["chat".into()],
        limits: Limits {
            requests_per_minute: Some(60),
            cost_per_day: Some(1.5),
            ..Limits::default()
        },
        log_inference: true,
        retention_days: Some(30),
        guard_policy: Some("strict".into()),
        created_at: 1_000,
        updated_at: 1_000,
    }
}

/// Creates tenant `id`, audited.
async fn add_tenant(s: &impl Store, id: &str) -> Outcome {
    ok(
        "create tenant",
        s.create_tenant(tenant(id), event("tenant.create", Some(id), 1))
            .await,
    )
}

/// Creates key `id` of `tenant` with `prefix`, audited.
async fn add_key(s: &impl Store, id: &str, tenant: &str, prefix: &str) -> Outcome {
    ok(
        "create key",
        s.create_key(
            key(id, tenant, prefix),
            event("key.create", Some(tenant), 2),
        )
        .await,
    )
}

fn key(id: &str, tenant: &str, prefix: &str) -> KeyRecord {
    KeyRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        name: format!("key {id}"),
        role: Role::Member,
        prefix: prefix.into(),
        hash: [7; 32],
        limits: Limits::default(),
        created_at: 2_000,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        rotated_from: None,
    }
}

fn row(id: &str, tenant: &str, ts: i64, subject: Option<&[u8]>) -> InferenceRecord {
    InferenceRecord {
        id: id.into(),
        ts,
        tenant_id: tenant.into(),
        key_prefix: "atl_abcd1234".into(),
        subject_hash: subject.map(<[u8]>::to_vec),
        model: "chat".into(),
        target: Some("up/chat".into()),
        status: 200,
        latency_ms: 12,
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        cost_micros: Some(30),
        guard: None,
        data_key_id: "dk1".into(),
        subject_key_id: subject.map(|_| format!("sk-{tenant}")),
        nonce: vec![1; 12],
        payload: vec![9; 40],
    }
}

fn subject_key(id: &str, tenant: &str, subject: &[u8]) -> SubjectKey {
    SubjectKey {
        id: id.into(),
        tenant_id: tenant.into(),
        subject_hash: subject.to_vec(),
        data_key_id: "dk1".into(),
        wrapped: id.as_bytes().repeat(4),
        created_at: 7,
    }
}

async fn tenants_round_trip(s: &impl Store) -> Outcome {
    ok(
        "create",
        s.create_tenant(tenant("acme"), event("tenant.create", Some("acme"), 1))
            .await,
    )?;
    ok(
        "create",
        s.create_tenant(tenant("beta"), event("tenant.create", Some("beta"), 2))
            .await,
    )?;
    let got = ok("tenant", s.tenant("acme").await)?;
    check!(got == Some(tenant("acme")), "read back {got:?}");
    let dup = s
        .create_tenant(tenant("acme"), event("tenant.create", Some("acme"), 3))
        .await;
    check!(
        matches!(dup, Err(Error::Conflict(_))),
        "a duplicate id gave {dup:?}"
    );
    let mut changed = tenant("acme");
    changed.name = "Acme Ltd".into();
    changed.models.clear();
    changed.guard_policy = None;
    changed.updated_at = 5_000;
    ok(
        "update",
        s.update_tenant(changed.clone(), event("tenant.update", Some("acme"), 4))
            .await,
    )?;
    check!(
        ok("tenant", s.tenant("acme").await)? == Some(changed),
        "update not read back"
    );
    let missing = s
        .update_tenant(tenant("nope"), event("tenant.update", Some("nope"), 5))
        .await;
    check!(
        matches!(missing, Err(Error::NotFound(_))),
        "updating a missing tenant gave {missing:?}"
    );
    let ids: Vec<String> = ok("tenants", s.tenants().await)?
        .into_iter()
        .map(|t| t.id)
        .collect();
    check!(
        ids == ["acme", "beta"],
        "tenants listed as {ids:?} (expected by id)"
    );
    check!(
        ok("tenant", s.tenant("nope").await)?.is_none(),
        "a missing tenant was found"
    );
    Ok(())
}

async fn deleted_tenant_ids_are_never_reused(s: &impl Store) -> Outcome {
    ok(
        "create",
        s.create_tenant(tenant("gone"), event("tenant.create", Some("gone"), 1))
            .await,
    )?;
    ok(
        "delete",
        s.delete_tenant("gone", event("tenant.delete", Some("gone"), 2))
            .await,
    )?;
    check!(
        ok("tenant", s.tenant("gone").await)?.is_none(),
        "a deleted tenant is still readable"
    );
    let again = s
        .create_tenant(tenant("gone"), event("tenant.create", Some("gone"), 3))
        .await;
    check!(
        matches!(again, Err(Error::Conflict(_))),
        "re-creating a deleted id gave {again:?}"
    );
    let missing = s
        .delete_tenant("never", event("tenant.delete", Some("never"), 4))
        .await;
    check!(
        matches!(missing, Err(Error::NotFound(_))),
        "deleting a missing tenant gave {missing:?}"
    );
    // Refused changes leave no audit entry.
    let actions: Vec<String> = ok("audit", s.audit_entries(0, 100, None).await)?
        .into_iter()
        .map(|r| r.event.action)
        .collect();
    check!(
        actions == ["tenant.create", "tenant.delete"],
        "audit entries {actions:?}"
    );
    Ok(())
}

async fn keys_by_id_prefix_and_tenant(s: &impl Store) -> Outcome {
    for t in ["acme", "beta"] {
        add_tenant(s, t).await?;
    }
    add_key(s, "k1", "acme", "atl_k1").await?;
    add_key(s, "k2", "acme", "atl_k2").await?;
    add_key(s, "k3", "beta", "atl_k3").await?;
    let dup = s
        .create_key(
            key("k1", "acme", "atl_k1"),
            event("key.create", Some("acme"), 5),
        )
        .await;
    check!(
        matches!(dup, Err(Error::Conflict(_))),
        "a duplicate key id gave {dup:?}"
    );
    check!(
        ok("key", s.key("k1").await)? == Some(key("k1", "acme", "atl_k1")),
        "k1 not read back"
    );
    let by_prefix = ok("by prefix", s.keys_by_prefix("atl_k2").await)?;
    check!(
        by_prefix.len() == 1 && by_prefix[0].id == "k2",
        "by prefix: {by_prefix:?}"
    );
    let mut acme: Vec<String> = ok("keys", s.keys(Some("acme")).await)?
        .into_iter()
        .map(|k| k.id)
        .collect();
    acme.sort();
    check!(acme == ["k1", "k2"], "acme's keys: {acme:?}");
    check!(ok("keys", s.keys(None).await)?.len() == 3, "all keys");
    ok("touch", s.touch_keys(vec![("k1".into(), 9_000)]).await)?;
    let touched = ok("key", s.key("k1").await)?.map(|k| k.last_used_at);
    check!(touched == Some(Some(9_000)), "last use: {touched:?}");
    Ok(())
}

async fn key_updates_and_rotation(s: &impl Store) -> Outcome {
    add_tenant(s, "acme").await?;
    add_key(s, "k1", "acme", "atl_k1").await?;
    // The change counter is about other connections' commits (a cache's cue to reload):
    // a backend-neutral suite can only ask that it answers.
    ok("changes", s.change_counter().await)?;
    let update = KeyUpdate {
        name: Some("renamed".into()),
        limits: Some(Limits {
            tokens_per_day: Some(1_000),
            ..Limits::default()
        }),
        expires_at: Some(Some(50_000)),
        revoked_at: None,
    };
    ok(
        "update",
        s.update_key("k1", update, event("key.update", Some("acme"), 3))
            .await,
    )?;
    let k = ok("key", s.key("k1").await)?.ok_or("k1 vanished")?;
    check!(
        k.name == "renamed"
            && k.limits.tokens_per_day == Some(1_000)
            && k.expires_at == Some(50_000),
        "update not applied: {k:?}"
    );
    let missing = s
        .update_key("nope", KeyUpdate::default(), event("key.update", None, 4))
        .await;
    check!(
        matches!(missing, Err(Error::NotFound(_))),
        "updating a missing key gave {missing:?}"
    );
    let mut new = key("k2", "acme", "atl_k2");
    new.rotated_from = Some("k1".into());
    let retire = KeyUpdate {
        expires_at: Some(Some(60_000)),
        ..KeyUpdate::default()
    };
    ok(
        "rotate",
        s.rotate_key(
            new.clone(),
            "k1",
            retire,
            event("key.rotate", Some("acme"), 5),
        )
        .await,
    )?;
    check!(
        ok("key", s.key("k2").await)? == Some(new),
        "the new key not read back"
    );
    let old = ok("key", s.key("k1").await)?.ok_or("k1 vanished")?;
    check!(
        old.expires_at == Some(60_000),
        "the old key's expiry: {:?}",
        old.expires_at
    );
    // A rotation whose old key is missing changes nothing.
    let bad = s
        .rotate_key(
            key("k3", "acme", "atl_k3"),
            "nope",
            KeyUpdate::default(),
            event("key.rotate", Some("acme"), 6),
        )
        .await;
    check!(bad.is_err(), "rotating a missing key succeeded");
    check!(
        ok("key", s.key("k3").await)?.is_none(),
        "a failed rotation left its new key"
    );
    let revoke = KeyUpdate {
        revoked_at: Some(70_000),
        ..KeyUpdate::default()
    };
    ok(
        "revoke",
        s.update_key("k2", revoke, event("key.revoke", Some("acme"), 7))
            .await,
    )?;
    let k2 = ok("key", s.key("k2").await)?.ok_or("k2 vanished")?;
    check!(
        k2.revoked_at == Some(70_000),
        "revocation: {:?}",
        k2.revoked_at
    );
    Ok(())
}

async fn usage_accumulates_per_day_key_and_model(s: &impl Store) -> Outcome {
    let d = |tenant: &str, key: &str, model: &str, day: i64, n: u64| UsageDelta {
        tenant_id: tenant.into(),
        key_id: key.into(),
        model: model.into(),
        day,
        requests: n,
        prompt_tokens: 10 * n,
        completion_tokens: 5 * n,
        cost_micros: 100 * n,
    };
    ok(
        "add",
        s.add_usage(vec![
            d("acme", "k1", "chat", 10, 1),
            d("acme", "k1", "chat", 10, 2),
        ])
        .await,
    )?;
    ok(
        "add",
        s.add_usage(vec![
            d("acme", "k1", "embed", 10, 1),
            d("acme", "k1", "chat", 11, 4),
        ])
        .await,
    )?;
    ok(
        "add",
        s.add_usage(vec![d("beta", "k9", "chat", 11, 7)]).await,
    )?;
    let mut rows = ok("usage", s.usage_since(Some("acme"), 10).await)?;
    rows.sort_by(|a, b| (a.day, &a.model).cmp(&(b.day, &b.model)));
    check!(rows.len() == 3, "acme's rows: {rows:?}");
    check!(
        rows[0] == d("acme", "k1", "chat", 10, 3),
        "summed row: {:?}",
        rows[0]
    );
    check!(
        rows[2] == d("acme", "k1", "chat", 11, 4),
        "day 11: {:?}",
        rows[2]
    );
    let later = ok("usage", s.usage_since(Some("acme"), 11).await)?;
    check!(later.len() == 1, "rows from day 11: {later:?}");
    check!(
        ok("usage", s.usage_since(None, 0).await)?.len() == 4,
        "all tenants' rows"
    );
    Ok(())
}

async fn audit_chain_is_continuous(s: &impl Store) -> Outcome {
    check!(
        ok("head", s.audit_head().await)?.is_none(),
        "an empty store has a head"
    );
    let first = ok(
        "append",
        s.append_audit(vec![event("a", Some("acme"), 1), event("b", None, 2)])
            .await,
    )?;
    check!(
        first.len() == 2 && first[0].seq == 1 && first[1].seq == 2,
        "seqs {first:?}"
    );
    check!(
        first[0].prev_hash == GENESIS,
        "the first entry does not follow the genesis hash"
    );
    check!(
        first[1].prev_hash == first[0].hash,
        "entries are not chained"
    );
    // Entries written with a change join the same chain.
    ok(
        "create",
        s.create_tenant(tenant("acme"), event("tenant.create", Some("acme"), 3))
            .await,
    )?;
    let more = ok(
        "append",
        s.append_audit(vec![event("c", Some("beta"), 4)]).await,
    )?;
    check!(
        more[0].seq == 4,
        "seq after a change's entry: {}",
        more[0].seq
    );
    let head = ok("head", s.audit_head().await)?;
    check!(head == Some((4, more[0].hash)), "head {head:?}");
    let page = ok("entries", s.audit_entries(1, 2, None).await)?;
    check!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>() == [2, 3],
        "page after 1: {page:?}"
    );
    let acme: Vec<i64> = ok("entries", s.audit_entries(0, 10, Some("acme")).await)?
        .into_iter()
        .map(|r| r.seq)
        .collect();
    check!(acme == [1, 3], "acme's entries: {acme:?}");
    let mut verifier = Verifier::new();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    ok(
        "scan",
        s.scan_audit(Box::new(move |r| {
            if let Ok(mut v) = sink.lock() {
                v.push(r);
            }
            Ok(())
        }))
        .await,
    )?;
    let records = seen.lock().map(|v| v.clone()).unwrap_or_default();
    check!(records.len() == 4, "scan fed {} entries", records.len());
    for r in &records {
        verifier.push(r);
    }
    let report = verifier.finish(&[], &|_| true, None, &[]);
    check!(
        report.ok(),
        "the chain does not verify: {:?}",
        report.findings
    );
    Ok(())
}

async fn anchors_chain_and_refuse_stale_seqs(s: &impl Store) -> Outcome {
    let recs = ok(
        "append",
        s.append_audit(vec![event("a", None, 1), event("b", None, 2)])
            .await,
    )?;
    let sign = |sig: u8| -> Signer {
        Box::new(move |_link| ("hmac-sha256-chained".into(), "kid".into(), vec![sig; 32]))
    };
    let a1 = ok(
        "anchor",
        s.append_anchor(1, recs[0].hash, 10, sign(1)).await,
    )?
    .ok_or("no anchor at 1")?;
    check!(
        a1.prev == Some([0; 32]),
        "the first anchor's link: {:?}",
        a1.prev
    );
    let stale = ok(
        "anchor",
        s.append_anchor(1, recs[0].hash, 11, sign(2)).await,
    )?;
    check!(stale.is_none(), "an anchor at an anchored seq was written");
    let a2 = ok(
        "anchor",
        s.append_anchor(2, recs[1].hash, 12, sign(3)).await,
    )?
    .ok_or("no anchor at 2")?;
    check!(
        a2.prev == Some(crate::audit::anchor_link(&a1.signature)),
        "the second anchor is not linked to the first"
    );
    let all = ok("anchors", s.anchors().await)?;
    check!(all == [a1, a2], "anchors read back: {all:?}");
    Ok(())
}

/// Rows name the data key they are encrypted under: it must exist first.
async fn add_row_key(s: &impl Store) -> Outcome {
    let key = DataKey {
        id: "dk1".into(),
        wrapped: vec![3; 60],
        master_key_id: "m1".into(),
        created_at: 1,
        active: true,
        purpose: "inference".into(),
    };
    ok("add data key", s.add_data_key(key).await)
}

async fn inference_rows_page_and_erase_by_subject(s: &impl Store) -> Outcome {
    add_row_key(s).await?;
    let alice: &[u8] = b"alice-hash";
    ok(
        "insert",
        s.insert_inference(vec![
            row("r1", "acme", 100, Some(alice)),
            row("r2", "acme", 200, None),
            row("r3", "acme", 300, Some(alice)),
            row("r4", "beta", 400, Some(alice)),
        ])
        .await,
    )?;
    let newest: Vec<String> = ok("page", s.inference("acme", 2, None).await)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    check!(newest == ["r3", "r2"], "newest first, 2: {newest:?}");
    let older: Vec<String> = ok("page", s.inference("acme", 10, Some(200)).await)?
        .into_iter()
        .map(|r| r.id)
        .collect();
    check!(older == ["r1"], "before 200: {older:?}");
    let first = ok("page", s.inference("acme", 10, None).await)?;
    check!(
        first.last() == Some(&row("r1", "acme", 100, Some(alice))),
        "a row not read back as written"
    );
    let mine = ok(
        "by subject",
        s.inference_by_subject(Some("acme"), alice).await,
    )?;
    check!(
        mine.len() == 2,
        "acme's rows of the subject: {}",
        mine.len()
    );
    check!(
        ok("by subject", s.inference_by_subject(None, alice).await)?.len() == 3,
        "every tenant's rows of the subject"
    );
    let n = ok(
        "erase",
        s.erase_subject(Some("acme"), alice, event("subject.erase", Some("acme"), 5))
            .await,
    )?;
    check!(n == 2, "erased {n} rows in acme");
    check!(
        ok("by subject", s.inference_by_subject(None, alice).await)?.len() == 1,
        "beta's row went too, or acme's stayed"
    );
    let n = ok(
        "erase",
        s.erase_subject(None, alice, event("subject.erase", None, 6))
            .await,
    )?;
    check!(n == 1, "erased {n} rows across tenants");
    let erasures = ok("audit", s.audit_entries(0, 10, None).await)?
        .into_iter()
        .filter(|r| r.event.action == "subject.erase")
        .count();
    check!(erasures == 2, "{erasures} erasure audit entries");
    ok(
        "insert",
        s.insert_inference(vec![row("r5", "beta", 100, None)]).await,
    )?;
    let n = ok("expire", s.expire_inference("acme", 250).await)?;
    // Left in acme: r2 (ts 200). Expiry before 250 removes it; beta's row stays.
    check!(n == 1, "expired {n} rows of acme before 250");
    let beta = ok("page", s.inference("beta", 10, None).await)?;
    check!(beta.len() == 1, "expiry reached another tenant: {beta:?}");
    Ok(())
}

async fn data_keys_are_kept_and_rewrapped(s: &impl Store) -> Outcome {
    let dk = |id: &str, purpose: &str| DataKey {
        id: id.into(),
        wrapped: vec![3; 60],
        master_key_id: "m1".into(),
        created_at: 1,
        active: true,
        purpose: purpose.into(),
    };
    ok("add", s.add_data_key(dk("dk1", "inference")).await)?;
    ok("add", s.add_data_key(dk("dk2", "subject-index")).await)?;
    let mut keys = ok("keys", s.data_keys().await)?;
    keys.sort_by(|a, b| a.id.cmp(&b.id));
    check!(
        keys == [dk("dk1", "inference"), dk("dk2", "subject-index")],
        "read back {keys:?}"
    );
    let mut re = dk("dk1", "inference");
    re.wrapped = vec![4; 60];
    re.master_key_id = "m2".into();
    re.active = false;
    ok(
        "rewrap",
        s.rewrap_data_keys(vec![re.clone()], event("encryption.rotate", None, 2))
            .await,
    )?;
    let got = ok("keys", s.data_keys().await)?
        .into_iter()
        .find(|k| k.id == "dk1");
    check!(got == Some(re), "rewrapped key: {got:?}");
    let missing = s
        .rewrap_data_keys(
            vec![dk("nope", "inference")],
            event("encryption.rotate", None, 3),
        )
        .await;
    check!(
        matches!(missing, Err(Error::NotFound(_))),
        "rewrapping a missing key gave {missing:?}"
    );
    Ok(())
}

async fn subject_keys_are_one_per_subject_and_destroyed_by_erasure(s: &impl Store) -> Outcome {
    add_row_key(s).await?;
    let (alice, bob) = (&[1u8; 32][..], &[2u8; 32][..]);
    check!(
        ok("lookup", s.subject_key("acme", alice).await)?.is_none(),
        "a key before any was added"
    );
    let first = ok(
        "add",
        s.add_subject_key(subject_key("sk1", "acme", alice)).await,
    )?;
    check!(
        first == subject_key("sk1", "acme", alice),
        "read back {first:?}"
    );
    // A second process creating the subject's key gets the first one back.
    let again = ok(
        "add again",
        s.add_subject_key(subject_key("sk2", "acme", alice)).await,
    )?;
    check!(again.id == "sk1", "a subject got two keys: {again:?}");
    for (id, t, h) in [("sk3", "beta", alice), ("sk4", "acme", bob)] {
        ok("add", s.add_subject_key(subject_key(id, t, h)).await)?;
    }
    let found = ok("lookup", s.subject_key("acme", alice).await)?;
    check!(
        found.map(|k| k.id).as_deref() == Some("sk1"),
        "lookup by tenant and subject"
    );
    let mut by_id: Vec<String> = ok(
        "by id",
        s.subject_keys(vec!["sk1".into(), "sk2".into(), "sk4".into()])
            .await,
    )?
    .into_iter()
    .map(|k| k.id)
    .collect();
    by_id.sort();
    check!(by_id == ["sk1", "sk4"], "keys by id: {by_id:?}");
    ok(
        "erase",
        s.erase_subject(Some("acme"), alice, event("subject.erase", Some("acme"), 5))
            .await,
    )?;
    check!(
        ok("lookup", s.subject_key("acme", alice).await)?.is_none(),
        "the erased subject's key survived"
    );
    check!(
        ok("lookup", s.subject_key("beta", alice).await)?.is_some(),
        "erasure in acme destroyed the subject's key in beta"
    );
    check!(
        ok("lookup", s.subject_key("acme", bob).await)?.is_some(),
        "erasure destroyed another subject's key"
    );
    let audit = ok("audit", s.audit_entries(0, 10, None).await)?;
    let details = audit
        .iter()
        .rev()
        .find(|r| r.event.action == "subject.erase")
        .map(|r| r.event.details.clone());
    check!(
        details.as_ref().and_then(|d| d.get("subject_keys")) == Some(&serde_json::json!(1)),
        "the erasure's audit entry does not count the destroyed key: {details:?}"
    );
    ok(
        "erase everywhere",
        s.erase_subject(None, alice, event("subject.erase", None, 6))
            .await,
    )?;
    check!(
        ok("lookup", s.subject_key("beta", alice).await)?.is_none(),
        "erasure across tenants left a key"
    );
    // A subject erased can come back: it gets a new key.
    let fresh = ok(
        "add after erasure",
        s.add_subject_key(subject_key("sk5", "acme", alice)).await,
    )?;
    check!(fresh.id == "sk5", "after erasure: {fresh:?}");
    Ok(())
}

async fn deleting_a_tenant_removes_its_records(s: &impl Store) -> Outcome {
    for t in ["acme", "beta"] {
        add_tenant(s, t).await?;
        add_key(s, &format!("k-{t}"), t, &format!("atl_{t}")).await?;
    }
    let usage = |t: &str| UsageDelta {
        tenant_id: t.into(),
        key_id: format!("k-{t}"),
        model: "chat".into(),
        day: 1,
        requests: 1,
        ..UsageDelta::default()
    };
    ok(
        "usage",
        s.add_usage(vec![usage("acme"), usage("beta")]).await,
    )?;
    add_row_key(s).await?;
    ok(
        "rows",
        s.insert_inference(vec![row("r1", "acme", 1, None), row("r2", "beta", 1, None)])
            .await,
    )?;
    for t in ["acme", "beta"] {
        ok(
            "subject key",
            s.add_subject_key(subject_key(&format!("sk-{t}"), t, &[5; 32]))
                .await,
        )?;
    }
    ok(
        "delete",
        s.delete_tenant("acme", event("tenant.delete", Some("acme"), 3))
            .await,
    )?;
    check!(
        ok("subject key", s.subject_key("acme", &[5; 32]).await)?.is_none(),
        "acme's subject keys remain"
    );
    check!(
        ok("subject key", s.subject_key("beta", &[5; 32]).await)?.is_some(),
        "beta's subject key went too"
    );
    check!(
        ok("keys", s.keys(Some("acme")).await)?.is_empty(),
        "acme's keys remain"
    );
    check!(
        ok("usage", s.usage_since(Some("acme"), 0).await)?.is_empty(),
        "acme's usage remains"
    );
    check!(
        ok("rows", s.inference("acme", 10, None).await)?.is_empty(),
        "acme's inference rows remain"
    );
    check!(
        ok("keys", s.keys(Some("beta")).await)?.len() == 1,
        "beta's key went too"
    );
    check!(
        ok("usage", s.usage_since(Some("beta"), 0).await)?.len() == 1,
        "beta's usage went too"
    );
    check!(
        ok("rows", s.inference("beta", 10, None).await)?.len() == 1,
        "beta's row went too"
    );
    Ok(())
}
