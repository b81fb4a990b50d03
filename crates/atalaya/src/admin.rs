//! `atalaya tenants|keys|audit|subjects|encryption`: the admin service functions of
//! `atalaya-tenancy`, called on the store in the data directory as the local operator (a
//! platform admin: whoever can read the data directory and its secrets). Output is JSON.

use std::{io::Write, path::PathBuf, sync::Arc};

use anyhow::Context;
use atalaya_service::{
    subjects::{self, DataStores},
    wire::{key_to_wire, parse_role, tenant_to_wire},
};
use atalaya_store::Limits;
use atalaya_tenancy::{
    admin::{NewKeySpec, NewTenant, TenantPatch},
    Principal, Tenancy,
};

use crate::cli::{
    AuditCommand, EncryptionCommand, KeysCommand, LimitArgs, MigrateCommand, StoreArgs,
    SubjectsCommand, TenantsCommand,
};

fn limits(a: &LimitArgs) -> Limits {
    Limits {
        requests_per_minute: a.requests_per_minute,
        burst_requests: a.burst_requests,
        tokens_per_minute: a.tokens_per_minute,
        max_concurrent: a.max_concurrent,
        tokens_per_day: a.tokens_per_day,
        tokens_per_month: a.tokens_per_month,
        cost_per_day: a.cost_per_day,
        cost_per_month: a.cost_per_month,
    }
}

fn operator() -> Principal {
    let user = std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "operator".into());
    Principal::operator(&user)
}

async fn open(store: &StoreArgs) -> anyhow::Result<Arc<Tenancy>> {
    let mut config = crate::tool_config(store.config.as_deref(), store.data_dir.clone())?;
    // The CLI authenticates no requests: the client keys' secrets need not be set here.
    config.auth.api_keys.clear();
    let lookup = |k: &str| std::env::var(k).ok();
    let mut settings = config.tenancy_settings(&lookup)?;
    // The command's standard output is its result: anchors it writes go to a file sink only.
    if settings.anchor_sink == atalaya_tenancy::config::AnchorSink::Stdout {
        settings.anchor_sink = atalaya_tenancy::config::AnchorSink::None;
    }
    let s = atalaya_service::storage::platform_store(&config, &lookup)
        .await
        .with_context(|| "opening the platform store ([storage], server.data_dir / --data-dir)")?;
    Ok(Tenancy::open(s, settings).await?)
}

fn print(v: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(v)?)?;
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// The stores of the configured data directory outside the platform store.
async fn data_stores(store: &StoreArgs) -> anyhow::Result<DataStores<'static>> {
    let config = crate::tool_config(store.config.as_deref(), store.data_dir.clone())?;
    let lookup = |k: &str| std::env::var(k).ok();
    let storage = atalaya_service::storage::Storage::open(&config, &lookup).await?;
    Ok(DataStores::open(storage))
}

/// Signs the audit chain's head if an anchor is due, after a change.
async fn settle(t: &Tenancy) -> anyhow::Result<()> {
    t.flush().await?;
    t.anchor(false).await?;
    Ok(())
}

fn days_from_now(days: u32) -> i64 {
    atalaya_tenancy::service::now_millis() + i64::from(days) * 86_400_000
}

pub fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let who = operator();
        match cmd {
            KeysCommand::Create {
                tenant,
                name,
                role,
                expires_in_days,
                limits: l,
                store,
            } => {
                let t = open(&store).await?;
                let spec = NewKeySpec {
                    name,
                    role: parse_role(Some(&role))?,
                    limits: limits(&l),
                    expires_at: expires_in_days.map(days_from_now),
                };
                let k = t.admin().create_key(&who, &tenant, spec).await?;
                settle(&t).await?;
                print(&key_to_wire(k.record, Some(k.secret)))
            }
            KeysCommand::List { tenant, store } => {
                let t = open(&store).await?;
                let keys = t.admin().keys(&who, tenant.as_deref()).await?;
                print(
                    &keys
                        .into_iter()
                        .map(|k| key_to_wire(k, None))
                        .collect::<Vec<_>>(),
                )
            }
            KeysCommand::Revoke { id, store } => {
                let t = open(&store).await?;
                let k = t.admin().revoke_key(&who, &id).await?;
                settle(&t).await?;
                print(&key_to_wire(k, None))
            }
            KeysCommand::Rotate {
                id,
                grace_seconds,
                store,
            } => {
                let t = open(&store).await?;
                let k = t.admin().rotate_key(&who, &id, grace_seconds).await?;
                settle(&t).await?;
                print(&key_to_wire(k.record, Some(k.secret)))
            }
            KeysCommand::Hash | KeysCommand::Generate => {
                anyhow::bail!("handled by the caller")
            }
        }
    })
}

pub fn tenants(cmd: TenantsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let who = operator();
        match cmd {
            TenantsCommand::Create {
                id,
                name,
                models,
                log_inference,
                retention_days,
                guard_policy,
                limits: l,
                store,
            } => {
                let t = open(&store).await?;
                let created = t
                    .admin()
                    .create_tenant(
                        &who,
                        NewTenant {
                            id,
                            name,
                            models,
                            limits: limits(&l),
                            log_inference,
                            retention_days,
                            guard_policy,
                        },
                    )
                    .await?;
                settle(&t).await?;
                print(&tenant_to_wire(created))
            }
            TenantsCommand::List { store } => {
                let t = open(&store).await?;
                let all = t.admin().tenants(&who).await?;
                print(&all.into_iter().map(tenant_to_wire).collect::<Vec<_>>())
            }
            TenantsCommand::Show { id, store } => {
                let t = open(&store).await?;
                let tenant = t.admin().tenant(&who, &id).await?;
                let mut v = serde_json::to_value(tenant_to_wire(tenant))?;
                let (day_tokens, day_cost, month_tokens, month_cost) =
                    t.admission().spent(&format!("tenant:{id}"));
                v["spent"] = serde_json::json!({
                    "today": {"tokens": day_tokens, "cost": day_cost as f64 / 1e6},
                    "this_month": {"tokens": month_tokens, "cost": month_cost as f64 / 1e6},
                });
                print(&v)
            }
            TenantsCommand::Update {
                id,
                name,
                models,
                log_inference,
                retention_days,
                guard_policy,
                limits: l,
                store,
            } => {
                let t = open(&store).await?;
                let new_limits = limits(&l);
                let patch = TenantPatch {
                    name,
                    models,
                    limits: (new_limits != Limits::default()).then_some(new_limits),
                    log_inference,
                    retention_days: retention_days.map(Some),
                    guard_policy: guard_policy.map(|g| (g != "route").then_some(g)),
                };
                let updated = t.admin().update_tenant(&who, &id, patch).await?;
                settle(&t).await?;
                print(&tenant_to_wire(updated))
            }
            TenantsCommand::Delete { id, store } => {
                let t = open(&store).await?;
                let purged =
                    subjects::delete_tenant(&t, &data_stores(&store).await?, &who, &id).await;
                // The deletion's audit entry is anchored even when a purge fails.
                settle(&t).await?;
                let purged = purged?;
                print(&serde_json::json!({"id": id, "deleted": true, "purged": purged}))
            }
        }
    })
}

/// Returns whether the log verified.
pub fn audit(cmd: AuditCommand) -> anyhow::Result<bool> {
    runtime()?.block_on(async move {
        let who = operator();
        match cmd {
            AuditCommand::Verify {
                json,
                anchors,
                store,
            } => {
                let t = open(&store).await?;
                let exported = match &anchors {
                    Some(path) => {
                        let text = std::fs::read_to_string(path).with_context(|| {
                            format!("cannot read the exported anchors {}", path.display())
                        })?;
                        text.lines()
                            .filter(|l| !l.trim().is_empty())
                            .enumerate()
                            .map(|(i, l)| {
                                atalaya_tenancy::service::parse_exported_anchor(l).with_context(
                                    || {
                                        format!(
                                            "{} line {}: not an exported anchor",
                                            path.display(),
                                            i + 1
                                        )
                                    },
                                )
                            })
                            .collect::<anyhow::Result<Vec<_>>>()?
                    }
                    None => Vec::new(),
                };
                let report = t.admin().audit_verify(&who, &exported).await?;
                let mut out = std::io::stdout().lock();
                if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
                } else {
                    writeln!(
                        out,
                        "{} entries, {} anchors, last entry {}, {} after the last anchor",
                        report.entries, report.anchors, report.last_seq, report.unanchored
                    )?;
                    if t.settings().audit_signing_key.is_none() {
                        writeln!(
                            out,
                            "warning: audit.signing_key is not set: anchors cannot be checked"
                        )?;
                    }
                    for f in &report.findings {
                        writeln!(out, "TAMPERED: {f}")?;
                    }
                    if report.ok() {
                        writeln!(out, "OK: the chain is intact")?;
                    }
                }
                Ok(report.ok())
            }
            AuditCommand::Export { output, store } => {
                let t = open(&store).await?;
                let sink: Box<dyn Write + Send> = match &output {
                    Some(p) => Box::new(std::io::BufWriter::new(
                        std::fs::File::create(p)
                            .with_context(|| format!("creating {}", p.display()))?,
                    )),
                    None => Box::new(std::io::BufWriter::new(std::io::stdout())),
                };
                let n = t.admin().audit_export(&who, sink).await?;
                if output.is_some() {
                    writeln!(std::io::stderr(), "{n} entries exported")?;
                }
                Ok(true)
            }
        }
    })
}

pub fn subjects(cmd: SubjectsCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let who = operator();
        match cmd {
            SubjectsCommand::Erase { id, tenant, store } => {
                let t = open(&store).await?;
                let stores = data_stores(&store).await?;
                let deleted =
                    subjects::erase_subject(&t, &stores, &who, &id, tenant.as_deref()).await?;
                settle(&t).await?;
                print(&serde_json::json!({ "deleted": deleted }))
            }
            SubjectsCommand::Export { id, tenant, store } => {
                let t = open(&store).await?;
                let stores = data_stores(&store).await?;
                let v = subjects::export_subject(&t, &stores, &who, &id, tenant.as_deref()).await?;
                settle(&t).await?;
                print(&v)
            }
        }
    })
}

pub fn encryption(cmd: EncryptionCommand) -> anyhow::Result<()> {
    runtime()?.block_on(async move {
        let who = operator();
        match cmd {
            EncryptionCommand::Rotate { store } => {
                let t = open(&store).await?;
                let (rewrapped, new_key) = t.admin().rotate_encryption(&who).await?;
                settle(&t).await?;
                print(
                    &serde_json::json!({"rewrapped_data_keys": rewrapped, "new_data_key": new_key}),
                )
            }
        }
    })
}

/// `atalaya migrate copy`: the copy, its counts, and the copied audit chain verified.
fn migrate_copy(from: PathBuf, to: Option<String>, store: StoreArgs) -> anyhow::Result<()> {
    let mut config = crate::tool_config(store.config.as_deref(), store.data_dir.clone())?;
    if let Some(to) = to {
        config.storage.backend = atalaya_config::storage::Backend::Postgres;
        config.storage.url = Some(to);
    }
    config.storage.migrate = atalaya_config::storage::MigrateMode::Auto;
    let lookup = |k: &str| std::env::var(k).ok();
    if let Some((key, problem)) = config.storage.check(&lookup).into_iter().next() {
        anyhow::bail!("{key}: {problem}");
    }
    runtime()?.block_on(async {
        let storage = atalaya_service::storage::Storage::open(&config, &lookup).await?;
        let report = atalaya_service::storage::copy_directory(&from, &storage).await?;
        // The copied chain, verified as `audit verify` would (signatures too, with the key).
        config.auth.api_keys.clear();
        let mut settings = config.tenancy_settings(&lookup)?;
        settings.anchor_sink = atalaya_tenancy::config::AnchorSink::None;
        settings.bootstrap_admin_key = None;
        let t = Tenancy::open(storage.platform().await?, settings).await?;
        let verified = t.admin().audit_verify(&operator(), &[]).await?;
        let complete = report.complete();
        print(&serde_json::json!({
            "copied": report,
            "complete": complete,
            "audit": verified,
        }))?;
        if !complete {
            anyhow::bail!("the target holds fewer records than the source (see above)");
        }
        if !verified.ok() {
            anyhow::bail!("the copied audit chain does not verify (see above)");
        }
        Ok(())
    })
}

/// `atalaya migrate status|up|copy`.
pub fn migrate(cmd: MigrateCommand) -> anyhow::Result<()> {
    let (store, up, json) = match cmd {
        MigrateCommand::Status { store, json } => (store, false, json),
        MigrateCommand::Up { store } => (store, true, false),
        MigrateCommand::Copy { from, to, store } => return migrate_copy(from, to, store),
    };
    let config = crate::tool_config(store.config.as_deref(), store.data_dir.clone())?;
    let lookup = |k: &str| std::env::var(k).ok();
    runtime()?.block_on(async {
        let Some(pool) = atalaya_service::storage::postgres_pool(&config, &lookup).await? else {
            anyhow::bail!(
                "storage.backend is \"sqlite\": its schema is migrated when a store opens; `atalaya migrate` is for backend = \"postgres\""
            );
        };
        let mut out = std::io::stdout().lock();
        if up {
            let applied = atalaya_service::storage::migrate_up(&pool).await?;
            if applied.is_empty() {
                writeln!(out, "nothing to migrate: every schema is up to date")?;
            }
            for s in applied {
                writeln!(out, "{}: {} -> {}", s.component, s.applied, s.known)?;
                for (v, name) in &s.pending {
                    writeln!(out, "  applied {v} {name}")?;
                }
            }
            return Ok(());
        }
        let status = atalaya_service::storage::migration_status(&pool).await?;
        if json {
            let v: Vec<serde_json::Value> = status
                .iter()
                .map(|s| {
                    serde_json::json!({
                        "component": s.component,
                        "applied": s.applied,
                        "known": s.known,
                        "pending": s.pending.iter().map(|(v, n)| serde_json::json!({"version": v, "name": n})).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        } else {
            for s in &status {
                let state = if s.pending.is_empty() { "up to date" } else { "pending" };
                writeln!(out, "{:<12} applied {:>3}  known {:>3}  {state}", s.component, s.applied, s.known)?;
                for (v, name) in &s.pending {
                    writeln!(out, "  pending {v} {name}")?;
                }
            }
        }
        Ok(())
    })
}
