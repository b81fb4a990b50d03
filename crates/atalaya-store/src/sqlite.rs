//! The embedded store: one SQLite file (`<data_dir>/platform.db`, bundled SQLite, WAL), the
//! schema versioned in [`MIGRATIONS`] (`PRAGMA user_version` counts those applied). Calls
//! run on tokio's blocking pool; one connection serialises them (SQLite has one writer
//! anyway), and `BEGIN IMMEDIATE` makes each audit append read the chain's head under the
//! write lock, so a CLI and a server appending at once still build one chain.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};

use crate::{
    audit::{chain_hash, GENESIS},
    records::*,
    AuditStore, Error, InferenceStore, KeyStore, Result, TenantStore, UsageStore,
};

/// Schema versions, applied in order.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    models TEXT NOT NULL,
    limits TEXT NOT NULL,
    log_inference INTEGER NOT NULL,
    retention_days INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash BLOB NOT NULL,
    limits TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    last_used_at INTEGER,
    rotated_from TEXT
);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);
CREATE TABLE usage (
    tenant_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    model TEXT NOT NULL,
    day INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key_id, model, day)
);
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    tenant_id TEXT,
    target TEXT,
    outcome TEXT NOT NULL,
    source_ip TEXT,
    details TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_tenant ON audit_log(tenant_id, seq);
CREATE TABLE audit_anchors (
    seq INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    ts INTEGER NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE data_keys (
    id TEXT PRIMARY KEY,
    wrapped BLOB NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    active INTEGER NOT NULL,
    purpose TEXT NOT NULL
);
CREATE TABLE inference_log (
    id TEXT PRIMARY KEY,
    ts INTEGER NOT NULL,
    tenant_id TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    subject_hash BLOB,
    model TEXT NOT NULL,
    target TEXT,
    status INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_micros INTEGER,
    guard TEXT,
    data_key_id TEXT NOT NULL REFERENCES data_keys(id),
    nonce BLOB NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX inference_tenant_ts ON inference_log(tenant_id, ts);
CREATE INDEX inference_subject ON inference_log(subject_hash);
"#,
    // Ids of deleted tenants are never reused: a new tenant must not inherit what the old
    // one left behind (its audit entries, rows of requests that were in flight).
    r#"
CREATE TABLE deleted_tenants (
    id TEXT PRIMARY KEY,
    deleted_at INTEGER NOT NULL
);
"#,
    "ALTER TABLE tenants ADD COLUMN guard_policy TEXT;",
    // Anchors link to the anchor before them (NULL: written before anchors were chained).
    "ALTER TABLE audit_anchors ADD COLUMN prev BLOB;",
    // Crypto-shredding: each data subject's own key, and the rows sealed under one.
    r#"
CREATE TABLE subject_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    subject_hash BLOB NOT NULL,
    data_key_id TEXT NOT NULL REFERENCES data_keys(id),
    wrapped BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (tenant_id, subject_hash)
);
CREATE INDEX subject_keys_hash ON subject_keys(subject_hash);
ALTER TABLE inference_log ADD COLUMN subject_key_id TEXT;
"#,
];

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str, what: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{what}: {e}").into(),
        )
    })
}

fn hash32(v: Vec<u8>) -> rusqlite::Result<[u8; 32]> {
    <[u8; 32]>::try_from(v).map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Blob,
            "a hash is not 32 bytes".into(),
        )
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

const TENANT_COLS: &str =
    "id, name, models, limits, log_inference, retention_days, created_at, updated_at, guard_policy";

fn tenant_row(r: &Row) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        models: from_json(&r.get::<_, String>(2)?, "tenant models")?,
        limits: from_json(&r.get::<_, String>(3)?, "tenant limits")?,
        log_inference: r.get(4)?,
        retention_days: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        guard_policy: r.get(8)?,
    })
}

const KEY_COLS: &str = "id, tenant_id, name, role, prefix, hash, limits, created_at, expires_at, revoked_at, last_used_at, rotated_from";

fn key_row(r: &Row) -> rusqlite::Result<KeyRecord> {
    let role: String = r.get(3)?;
    Ok(KeyRecord {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        name: r.get(2)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                3,
                rusqlite::types::Type::Text,
                format!("unknown role '{role}'").into(),
            )
        })?,
        prefix: r.get(4)?,
        hash: hash32(r.get(5)?)?,
        limits: from_json(&r.get::<_, String>(6)?, "key limits")?,
        created_at: r.get(7)?,
        expires_at: r.get(8)?,
        revoked_at: r.get(9)?,
        last_used_at: r.get(10)?,
        rotated_from: r.get(11)?,
    })
}

const AUDIT_COLS: &str =
    "seq, ts, actor, action, tenant_id, target, outcome, source_ip, details, prev_hash, hash";

fn audit_row(r: &Row) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get(0)?,
        event: AuditEvent {
            ts: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            tenant_id: r.get(4)?,
            target: r.get(5)?,
            outcome: r.get(6)?,
            source_ip: r.get(7)?,
            details: from_json(&r.get::<_, String>(8)?, "audit details")?,
        },
        prev_hash: hash32(r.get(9)?)?,
        hash: hash32(r.get(10)?)?,
    })
}

const INFERENCE_COLS: &str = "id, ts, tenant_id, key_prefix, subject_hash, model, target, status, latency_ms, prompt_tokens, completion_tokens, cost_micros, guard, data_key_id, nonce, payload, subject_key_id";

fn inference_row(r: &Row) -> rusqlite::Result<InferenceRecord> {
    Ok(InferenceRecord {
        id: r.get(0)?,
        ts: r.get(1)?,
        tenant_id: r.get(2)?,
        key_prefix: r.get(3)?,
        subject_hash: r.get(4)?,
        model: r.get(5)?,
        target: r.get(6)?,
        status: r.get(7)?,
        latency_ms: to_u64(r.get(8)?),
        prompt_tokens: r.get::<_, Option<i64>>(9)?.map(to_u64),
        completion_tokens: r.get::<_, Option<i64>>(10)?.map(to_u64),
        cost_micros: r.get::<_, Option<i64>>(11)?.map(to_u64),
        guard: r.get(12)?,
        data_key_id: r.get(13)?,
        nonce: r.get(14)?,
        payload: r.get(15)?,
        subject_key_id: r.get(16)?,
    })
}

const SUBJECT_KEY_COLS: &str = "id, tenant_id, subject_hash, data_key_id, wrapped, created_at";

fn subject_key_row(r: &Row) -> rusqlite::Result<SubjectKey> {
    Ok(SubjectKey {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        subject_hash: r.get(2)?,
        data_key_id: r.get(3)?,
        wrapped: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Appends events to the chain inside `tx` (which must hold the write lock).
fn append_in(tx: &Transaction, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>> {
    let head: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (mut seq, mut prev) = match head {
        None => (0, GENESIS),
        Some((s, h)) => (s, hash32(h)?),
    };
    let mut out = Vec::with_capacity(events.len());
    let mut stmt = tx.prepare_cached(
        "INSERT INTO audit_log (seq, ts, actor, action, tenant_id, target, outcome, source_ip, details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for event in events {
        seq += 1;
        let hash = chain_hash(&prev, &event);
        stmt.execute(params![
            seq,
            event.ts,
            event.actor,
            event.action,
            event.tenant_id,
            event.target,
            event.outcome,
            event.source_ip,
            event.details.to_string(),
            prev.as_slice(),
            hash.as_slice(),
        ])?;
        out.push(AuditRecord {
            seq,
            event,
            prev_hash: prev,
            hash,
        });
        prev = hash;
    }
    Ok(out)
}

impl SqliteStore {
    /// Opens (creating it if needed) `<dir>/platform.db` and brings its schema up to date.
    pub fn open_dir(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::Database(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        Self::open(&dir.join("platform.db"))
    }

    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)
            .map_err(|e| Error::Database(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows (erasure, retention) are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(Error::Database(format!(
                "{} has schema version {version}, newer than this build knows ({known}); upgrade Atalaya",
                path.display()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(to_u64(version) as usize) {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Every record, as stored (see [`crate::PlatformSnapshot`]). Holds the whole inference
    /// log in memory.
    pub async fn snapshot(&self) -> Result<crate::PlatformSnapshot> {
        let tenants = self.tenants().await?;
        let keys = self.keys(None).await?;
        let usage = self.usage_since(None, i64::MIN).await?;
        let anchors = self.anchors().await?;
        let data_keys = self.data_keys().await?;
        let (audit, deleted_tenants, inference, subject_keys) = self
            .with(|c| {
                let mut s =
                    c.prepare(&format!("SELECT {AUDIT_COLS} FROM audit_log ORDER BY seq"))?;
                let audit = s
                    .query_map([], audit_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut s = c.prepare("SELECT id, deleted_at FROM deleted_tenants ORDER BY id")?;
                let deleted = s
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut s = c.prepare(&format!(
                    "SELECT {INFERENCE_COLS} FROM inference_log ORDER BY ts, id"
                ))?;
                let inference = s
                    .query_map([], inference_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let mut s = c.prepare(&format!(
                    "SELECT {SUBJECT_KEY_COLS} FROM subject_keys ORDER BY created_at, id"
                ))?;
                let subject_keys = s
                    .query_map([], subject_key_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((audit, deleted, inference, subject_keys))
            })
            .await?;
        Ok(crate::PlatformSnapshot {
            tenants,
            deleted_tenants,
            keys,
            usage,
            audit,
            anchors,
            data_keys,
            subject_keys,
            inference,
        })
    }

    /// Moves the write-ahead log into the database file and empties it: after an erasure,
    /// no older copy of a deleted row's page stays in the log (`secure_delete` has zeroed it
    /// in the database file).
    async fn checkpoint(&self) -> Result<()> {
        self.with(|c| {
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
        .await
    }

    /// Runs `f` in an immediate (write-locked) transaction and commits it.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }
}

fn insert_key(tx: &Transaction, k: &KeyRecord) -> Result<()> {
    let n = tx.execute(
        &format!("INSERT OR IGNORE INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            k.id,
            k.tenant_id,
            k.name,
            k.role.as_str(),
            k.prefix,
            k.hash.as_slice(),
            json(&k.limits)?,
            k.created_at,
            k.expires_at,
            k.revoked_at,
            k.last_used_at,
            k.rotated_from,
        ],
    )?;
    if n == 0 {
        return Err(Error::Conflict(format!("key '{}' already exists", k.id)));
    }
    Ok(())
}

fn apply_key_update(tx: &Transaction, id: &str, u: &KeyUpdate) -> Result<()> {
    let exists: Option<String> = tx
        .query_row("SELECT id FROM api_keys WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    if exists.is_none() {
        return Err(Error::NotFound(format!("key '{id}'")));
    }
    if let Some(name) = &u.name {
        tx.execute(
            "UPDATE api_keys SET name = ?2 WHERE id = ?1",
            params![id, name],
        )?;
    }
    if let Some(limits) = &u.limits {
        tx.execute(
            "UPDATE api_keys SET limits = ?2 WHERE id = ?1",
            params![id, json(limits)?],
        )?;
    }
    if let Some(expires) = u.expires_at {
        tx.execute(
            "UPDATE api_keys SET expires_at = ?2 WHERE id = ?1",
            params![id, expires],
        )?;
    }
    if let Some(revoked) = u.revoked_at {
        // The first revocation time stands.
        tx.execute(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
            params![id, revoked],
        )?;
    }
    Ok(())
}

fn write_tenant(tx: &Transaction, t: &Tenant, insert: bool) -> Result<usize> {
    let sql = if insert {
        format!(
            "INSERT OR IGNORE INTO tenants ({TENANT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        )
    } else {
        "UPDATE tenants SET name = ?2, models = ?3, limits = ?4, log_inference = ?5, retention_days = ?6, created_at = ?7, updated_at = ?8, guard_policy = ?9 WHERE id = ?1".to_owned()
    };
    Ok(tx.execute(
        &sql,
        params![
            t.id,
            t.name,
            json(&t.models)?,
            json(&t.limits)?,
            t.log_inference,
            t.retention_days,
            t.created_at,
            t.updated_at,
            t.guard_policy,
        ],
    )?)
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, tenant: Tenant, audit: AuditEvent) -> Result<()> {
        self.write(move |tx| {
            let deleted: Option<i64> = tx
                .query_row(
                    "SELECT deleted_at FROM deleted_tenants WHERE id = ?1",
                    [&tenant.id],
                    |r| r.get(0),
                )
                .optional()?;
            if deleted.is_some() {
                return Err(Error::Conflict(format!(
                    "tenant id '{}' belonged to a deleted tenant and cannot be reused",
                    tenant.id
                )));
            }
            if write_tenant(tx, &tenant, true)? == 0 {
                return Err(Error::Conflict(format!(
                    "tenant '{}' already exists",
                    tenant.id
                )));
            }
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let id = id.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = ?1"),
                [id],
                tenant_row,
            )
            .optional()?)
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.with(|c| {
            let mut s = c.prepare(&format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id"))?;
            let rows = s.query_map([], tenant_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn update_tenant(&self, tenant: Tenant, audit: AuditEvent) -> Result<()> {
        self.write(move |tx| {
            if write_tenant(tx, &tenant, false)? == 0 {
                return Err(Error::NotFound(format!("tenant '{}'", tenant.id)));
            }
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await
    }

    async fn delete_tenant(&self, id: &str, audit: AuditEvent) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.execute("DELETE FROM inference_log WHERE tenant_id = ?1", [&id])?;
            tx.execute("DELETE FROM subject_keys WHERE tenant_id = ?1", [&id])?;
            tx.execute("DELETE FROM usage WHERE tenant_id = ?1", [&id])?;
            tx.execute("DELETE FROM api_keys WHERE tenant_id = ?1", [&id])?;
            if tx.execute("DELETE FROM tenants WHERE id = ?1", [&id])? == 0 {
                return Err(Error::NotFound(format!("tenant '{id}'")));
            }
            tx.execute(
                "INSERT OR REPLACE INTO deleted_tenants (id, deleted_at) VALUES (?1, ?2)",
                params![id, audit.ts],
            )?;
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await?;
        self.checkpoint().await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_key(&self, key: KeyRecord, audit: AuditEvent) -> Result<()> {
        self.write(move |tx| {
            insert_key(tx, &key)?;
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await
    }

    async fn rotate_key(
        &self,
        new: KeyRecord,
        old_id: &str,
        old_update: KeyUpdate,
        audit: AuditEvent,
    ) -> Result<()> {
        let old_id = old_id.to_owned();
        self.write(move |tx| {
            apply_key_update(tx, &old_id, &old_update)?;
            insert_key(tx, &new)?;
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await
    }

    async fn key(&self, id: &str) -> Result<Option<KeyRecord>> {
        let id = id.to_owned();
        self.with(move |c| {
            Ok(c.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1"),
                [id],
                key_row,
            )
            .optional()?)
        })
        .await
    }

    async fn keys_by_prefix(&self, prefix: &str) -> Result<Vec<KeyRecord>> {
        let prefix = prefix.to_owned();
        self.with(move |c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE prefix = ?1"
            ))?;
            let rows = s.query_map([prefix], key_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn keys(&self, tenant_id: Option<&str>) -> Result<Vec<KeyRecord>> {
        let tenant_id = tenant_id.map(str::to_owned);
        self.with(move |c| {
            let mut s = c.prepare(&format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE ?1 IS NULL OR tenant_id = ?1 ORDER BY tenant_id, created_at, id"
            ))?;
            let rows = s.query_map([tenant_id], key_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn update_key(&self, id: &str, update: KeyUpdate, audit: AuditEvent) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            apply_key_update(tx, &id, &update)?;
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await
    }

    async fn touch_keys(&self, used: Vec<(String, Millis)>) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        self.write(move |tx| {
            let mut s = tx.prepare_cached(
                "UPDATE api_keys SET last_used_at = MAX(COALESCE(last_used_at, 0), ?2) WHERE id = ?1",
            )?;
            for (id, at) in used {
                s.execute(params![id, at])?;
            }
            Ok(())
        })
        .await
    }

    async fn change_counter(&self) -> Result<i64> {
        self.with(|c| Ok(c.pragma_query_value(None, "data_version", |r| r.get(0))?))
            .await
    }
}

#[async_trait]
impl UsageStore for SqliteStore {
    async fn add_usage(&self, deltas: Vec<UsageDelta>) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        self.write(move |tx| {
            let mut s = tx.prepare_cached(
                "INSERT INTO usage (tenant_id, key_id, model, day, requests, prompt_tokens, completion_tokens, cost_micros)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (tenant_id, key_id, model, day) DO UPDATE SET
                   requests = requests + excluded.requests,
                   prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                   completion_tokens = completion_tokens + excluded.completion_tokens,
                   cost_micros = cost_micros + excluded.cost_micros",
            )?;
            for d in deltas {
                s.execute(params![
                    d.tenant_id,
                    d.key_id,
                    d.model,
                    d.day,
                    to_i64(d.requests),
                    to_i64(d.prompt_tokens),
                    to_i64(d.completion_tokens),
                    to_i64(d.cost_micros),
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn usage_since(&self, tenant_id: Option<&str>, from_day: i64) -> Result<Vec<UsageRow>> {
        let tenant_id = tenant_id.map(str::to_owned);
        self.with(move |c| {
            let mut s = c.prepare(
                "SELECT tenant_id, key_id, model, day, requests, prompt_tokens, completion_tokens, cost_micros
                 FROM usage WHERE (?1 IS NULL OR tenant_id = ?1) AND day >= ?2
                 ORDER BY day, tenant_id, key_id, model",
            )?;
            let rows = s.query_map(params![tenant_id, from_day], |r| {
                Ok(UsageRow {
                    tenant_id: r.get(0)?,
                    key_id: r.get(1)?,
                    model: r.get(2)?,
                    day: r.get(3)?,
                    requests: to_u64(r.get(4)?),
                    prompt_tokens: to_u64(r.get(5)?),
                    completion_tokens: to_u64(r.get(6)?),
                    cost_micros: to_u64(r.get(7)?),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |tx| append_in(tx, events)).await
    }

    async fn audit_entries(
        &self,
        after: i64,
        limit: usize,
        tenant_id: Option<&str>,
    ) -> Result<Vec<AuditRecord>> {
        let tenant_id = tenant_id.map(str::to_owned);
        self.with(move |c| {
            let mut s = c.prepare(&format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1 AND (?2 IS NULL OR tenant_id = ?2) ORDER BY seq LIMIT ?3"
            ))?;
            let rows = s.query_map(params![after, tenant_id, limit as i64], audit_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>> {
        self.with(|c| {
            let head: Option<(i64, Vec<u8>)> = c
                .query_row(
                    "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            head.map(|(s, h)| Ok((s, hash32(h)?))).transpose()
        })
        .await
    }

    async fn append_anchor(
        &self,
        seq: i64,
        hash: [u8; 32],
        ts: i64,
        sign: Box<dyn FnOnce([u8; 32]) -> (String, String, Vec<u8>) + Send + 'static>,
    ) -> Result<Option<AuditAnchor>> {
        self.write(move |tx| {
            let last: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT seq, signature FROM audit_anchors ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if last.as_ref().is_some_and(|(s, _)| *s >= seq) {
                return Ok(None);
            }
            let prev = last.map_or(crate::audit::GENESIS, |(_, sig)| {
                crate::audit::anchor_link(&sig)
            });
            let (algorithm, key_id, signature) = sign(prev);
            tx.execute(
                "INSERT INTO audit_anchors (seq, hash, ts, algorithm, key_id, signature, prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![seq, hash.as_slice(), ts, algorithm, key_id, signature, prev.as_slice()],
            )?;
            Ok(Some(AuditAnchor {
                seq,
                hash,
                ts,
                prev: Some(prev),
                algorithm,
                key_id,
                signature,
            }))
        })
        .await
    }

    async fn anchors(&self) -> Result<Vec<AuditAnchor>> {
        self.with(|c| {
            let mut s = c.prepare(
                "SELECT seq, hash, ts, algorithm, key_id, signature, prev FROM audit_anchors ORDER BY seq",
            )?;
            let rows = s.query_map([], |r| {
                Ok(AuditAnchor {
                    seq: r.get(0)?,
                    hash: hash32(r.get(1)?)?,
                    ts: r.get(2)?,
                    algorithm: r.get(3)?,
                    key_id: r.get(4)?,
                    signature: r.get(5)?,
                    prev: r.get::<_, Option<Vec<u8>>>(6)?.map(hash32).transpose()?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn scan_audit(
        &self,
        mut visit: Box<dyn FnMut(AuditRecord) -> Result<()> + Send>,
    ) -> Result<()> {
        self.with(move |c| {
            let mut s = c.prepare(&format!("SELECT {AUDIT_COLS} FROM audit_log ORDER BY seq"))?;
            let mut rows = s.query([])?;
            while let Some(r) = rows.next()? {
                visit(audit_row(r)?)?;
            }
            Ok(())
        })
        .await
    }
}

fn data_key_row(r: &Row) -> rusqlite::Result<DataKey> {
    Ok(DataKey {
        id: r.get(0)?,
        wrapped: r.get(1)?,
        master_key_id: r.get(2)?,
        created_at: r.get(3)?,
        active: r.get(4)?,
        purpose: r.get(5)?,
    })
}

#[async_trait]
impl InferenceStore for SqliteStore {
    async fn data_keys(&self) -> Result<Vec<DataKey>> {
        self.with(|c| {
            let mut s = c.prepare(
                "SELECT id, wrapped, master_key_id, created_at, active, purpose FROM data_keys ORDER BY created_at, id",
            )?;
            let rows = s.query_map([], data_key_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn add_data_key(&self, k: DataKey) -> Result<()> {
        self.write(move |tx| {
            if k.active {
                tx.execute(
                    "UPDATE data_keys SET active = 0 WHERE purpose = ?1",
                    [&k.purpose],
                )?;
            }
            tx.execute(
                "INSERT INTO data_keys (id, wrapped, master_key_id, created_at, active, purpose) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![k.id, k.wrapped, k.master_key_id, k.created_at, k.active, k.purpose],
            )?;
            Ok(())
        })
        .await
    }

    async fn rewrap_data_keys(&self, keys: Vec<DataKey>, audit: AuditEvent) -> Result<()> {
        self.write(move |tx| {
            for k in keys {
                let n = tx.execute(
                    "UPDATE data_keys SET wrapped = ?2, master_key_id = ?3, active = ?4 WHERE id = ?1",
                    params![k.id, k.wrapped, k.master_key_id, k.active],
                )?;
                if n == 0 {
                    return Err(Error::NotFound(format!("data key '{}'", k.id)));
                }
            }
            append_in(tx, vec![audit])?;
            Ok(())
        })
        .await
    }

    async fn insert_inference(&self, records: Vec<InferenceRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(move |tx| {
            let mut s = tx.prepare_cached(&format!(
                "INSERT INTO inference_log ({INFERENCE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ))?;
            for r in records {
                s.execute(params![
                    r.id,
                    r.ts,
                    r.tenant_id,
                    r.key_prefix,
                    r.subject_hash,
                    r.model,
                    r.target,
                    r.status,
                    to_i64(r.latency_ms),
                    r.prompt_tokens.map(to_i64),
                    r.completion_tokens.map(to_i64),
                    r.cost_micros.map(to_i64),
                    r.guard,
                    r.data_key_id,
                    r.nonce,
                    r.payload,
                    r.subject_key_id,
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn inference(
        &self,
        tenant_id: &str,
        limit: usize,
        before: Option<Millis>,
    ) -> Result<Vec<InferenceRecord>> {
        let tenant_id = tenant_id.to_owned();
        self.with(move |c| {
            let mut s = c.prepare(&format!(
                "SELECT {INFERENCE_COLS} FROM inference_log WHERE tenant_id = ?1 AND ts < ?2 ORDER BY ts DESC, id LIMIT ?3"
            ))?;
            let rows = s.query_map(
                params![tenant_id, before.unwrap_or(i64::MAX), limit as i64],
                inference_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn inference_by_subject(
        &self,
        tenant_id: Option<&str>,
        subject_hash: &[u8],
    ) -> Result<Vec<InferenceRecord>> {
        let (tenant_id, h) = (tenant_id.map(str::to_owned), subject_hash.to_vec());
        self.with(move |c| {
            let mut s = c.prepare(&format!(
                "SELECT {INFERENCE_COLS} FROM inference_log WHERE subject_hash = ?1 AND (?2 IS NULL OR tenant_id = ?2) ORDER BY ts"
            ))?;
            let rows = s.query_map(params![h, tenant_id], inference_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn subject_key(
        &self,
        tenant_id: &str,
        subject_hash: &[u8],
    ) -> Result<Option<SubjectKey>> {
        let (tenant_id, h) = (tenant_id.to_owned(), subject_hash.to_vec());
        self.with(move |c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {SUBJECT_KEY_COLS} FROM subject_keys WHERE tenant_id = ?1 AND subject_hash = ?2"
            ))?;
            Ok(s.query_row(params![tenant_id, h], subject_key_row)
                .optional()?)
        })
        .await
    }

    async fn add_subject_key(&self, k: SubjectKey) -> Result<SubjectKey> {
        self.write(move |tx| {
            tx.execute(
                &format!("INSERT INTO subject_keys ({SUBJECT_KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant_id, subject_hash) DO NOTHING"),
                params![k.id, k.tenant_id, k.subject_hash, k.data_key_id, k.wrapped, k.created_at],
            )?;
            Ok(tx.query_row(
                &format!("SELECT {SUBJECT_KEY_COLS} FROM subject_keys WHERE tenant_id = ?1 AND subject_hash = ?2"),
                params![k.tenant_id, k.subject_hash],
                subject_key_row,
            )?)
        })
        .await
    }

    async fn subject_keys(&self, ids: Vec<String>) -> Result<Vec<SubjectKey>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with(move |c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {SUBJECT_KEY_COLS} FROM subject_keys WHERE id = ?1"
            ))?;
            let mut out = Vec::new();
            for id in ids {
                if let Some(k) = s.query_row([id], subject_key_row).optional()? {
                    out.push(k);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn erase_subject(
        &self,
        tenant_id: Option<&str>,
        subject_hash: &[u8],
        audit: AuditEvent,
    ) -> Result<u64> {
        let (tenant_id, h) = (tenant_id.map(str::to_owned), subject_hash.to_vec());
        let n = self.write(move |tx| {
            let keys = tx.execute(
                "DELETE FROM subject_keys WHERE subject_hash = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
                params![h, tenant_id],
            )?;
            let n = tx.execute(
                "DELETE FROM inference_log WHERE subject_hash = ?1 AND (?2 IS NULL OR tenant_id = ?2)",
                params![h, tenant_id],
            )?;
            let mut audit = audit;
            if let Some(obj) = audit.details.as_object_mut() {
                obj.insert("inference_rows".into(), serde_json::Value::from(n));
                obj.insert("subject_keys".into(), serde_json::Value::from(keys));
            }
            append_in(tx, vec![audit])?;
            Ok(n as u64)
        })
        .await?;
        self.checkpoint().await?;
        Ok(n)
    }

    async fn expire_inference(&self, tenant_id: &str, before: Millis) -> Result<u64> {
        let tenant_id = tenant_id.to_owned();
        self.write(move |tx| {
            let n = tx.execute(
                "DELETE FROM inference_log WHERE tenant_id = ?1 AND ts < ?2",
                params![tenant_id, before],
            )?;
            Ok(n as u64)
        })
        .await
    }
}
