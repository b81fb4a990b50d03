//! The platform records in Postgres, for deployments of several replicas: every replica reads
//! and writes the same rows, so a key revoked through one is refused by all of them once
//! their caches reload (each polls [`KeyStore::change_counter`] every second).
//!
//! - Every administrative change is written with its audit entry in one transaction, as on
//!   SQLite.
//! - Audit appends take a transaction-scoped advisory lock before they read the chain's head,
//!   so appends from any number of processes form one chain.
//! - `platform_changes.counter` is bumped by every change a cache holds (tenants, keys, data
//!   keys): that is the change counter.
//! - Limits and model lists are JSONB; audit details stay TEXT, byte for byte what was hashed.

use async_trait::async_trait;
use atalaya_postgres::{
    tokio_postgres::{self, types::Json, Row},
    Client, Migration, Pool, Schema,
};

use crate::{
    audit::{chain_hash, GENESIS},
    records::*,
    AuditStore, Error, InferenceStore, KeyStore, Result, TenantStore, UsageStore,
};

/// The platform schema.
pub static SCHEMA: Schema = Schema {
    component: "platform",
    migrations: &[
        Migration {
            version: 1,
            name: "platform records",
            sql: r#"
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    models JSONB NOT NULL,
    limits JSONB NOT NULL,
    log_inference BOOLEAN NOT NULL,
    retention_days BIGINT,
    guard_policy TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE deleted_tenants (
    id TEXT PRIMARY KEY,
    deleted_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash BYTEA NOT NULL,
    limits JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT,
    rotated_from TEXT
);
CREATE INDEX api_keys_prefix ON api_keys(prefix);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);
CREATE TABLE usage (
    tenant_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    model TEXT NOT NULL,
    day BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key_id, model, day)
);
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    ts BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    tenant_id TEXT,
    target TEXT,
    outcome TEXT NOT NULL,
    source_ip TEXT,
    details TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL
);
CREATE INDEX audit_tenant ON audit_log(tenant_id, seq);
CREATE TABLE audit_anchors (
    seq BIGINT PRIMARY KEY,
    hash BYTEA NOT NULL,
    ts BIGINT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL,
    prev BYTEA
);
CREATE TABLE data_keys (
    id TEXT PRIMARY KEY,
    wrapped BYTEA NOT NULL,
    master_key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    active BOOLEAN NOT NULL,
    purpose TEXT NOT NULL
);
CREATE TABLE inference_log (
    id TEXT PRIMARY KEY,
    ts BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    key_prefix TEXT NOT NULL,
    subject_hash BYTEA,
    model TEXT NOT NULL,
    target TEXT,
    status INTEGER NOT NULL,
    latency_ms BIGINT NOT NULL,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    cost_micros BIGINT,
    guard TEXT,
    data_key_id TEXT NOT NULL REFERENCES data_keys(id),
    nonce BYTEA NOT NULL,
    payload BYTEA NOT NULL
);
CREATE INDEX inference_tenant_ts ON inference_log(tenant_id, ts);
CREATE INDEX inference_subject ON inference_log(subject_hash);
CREATE TABLE platform_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    counter BIGINT NOT NULL
);
INSERT INTO platform_changes (id, counter) VALUES (1, 0);
"#,
        },
        Migration {
            version: 2,
            name: "subject keys (crypto-shredding)",
            sql: r#"
CREATE TABLE subject_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    subject_hash BYTEA NOT NULL,
    data_key_id TEXT NOT NULL REFERENCES data_keys(id),
    wrapped BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, subject_hash)
);
CREATE INDEX subject_keys_hash ON subject_keys(subject_hash);
ALTER TABLE inference_log ADD COLUMN subject_key_id TEXT;
"#,
        },
    ],
};

/// Serialises audit appends (and anchors) across processes.
const AUDIT_LOCK: i64 = 0x6174_6c61_7564_6974;

type Tx<'a> = atalaya_postgres::tokio_postgres::Transaction<'a>;

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        let text = atalaya_postgres::describe(&e);
        match e.code() {
            Some(c) if *c == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                Error::Conflict(text)
            }
            Some(c) if *c == tokio_postgres::error::SqlState::DISK_FULL => Error::Full(text),
            _ => Error::Database(text),
        }
    }
}

impl From<atalaya_postgres::Error> for Error {
    fn from(e: atalaya_postgres::Error) -> Self {
        Error::Database(e.to_string())
    }
}

/// The platform store on a Postgres pool. Cheap to clone.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Uses `pool`; the schema must be migrated ([`atalaya_postgres::migrate`] with
    /// [`SCHEMA`]).
    pub fn new(pool: Pool) -> Self {
        PostgresStore { pool }
    }

    /// Migrates `pool`'s database, then uses it.
    pub async fn open(pool: Pool) -> Result<Self> {
        atalaya_postgres::migrate(&pool, &[&SCHEMA]).await?;
        Ok(PostgresStore { pool })
    }

    async fn client(&self) -> Result<Client> {
        Ok(self
            .pool
            .get()
            .await
            .map_err(atalaya_postgres::Error::from)?)
    }

    /// How many records of each kind are stored.
    pub async fn counts(&self) -> Result<crate::PlatformCounts> {
        let c = self.client().await?;
        let r = c
            .query_one(
                "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM deleted_tenants),
                        (SELECT count(*) FROM api_keys), (SELECT count(*) FROM usage),
                        (SELECT count(*) FROM audit_log), (SELECT count(*) FROM audit_anchors),
                        (SELECT count(*) FROM data_keys), (SELECT count(*) FROM inference_log),
                        (SELECT count(*) FROM subject_keys)",
                &[],
            )
            .await?;
        let n = |i: usize| -> Result<u64> { Ok(to_u64(r.try_get::<_, i64>(i)?)) };
        Ok(crate::PlatformCounts {
            tenants: n(0)?,
            deleted_tenants: n(1)?,
            keys: n(2)?,
            usage: n(3)?,
            audit: n(4)?,
            anchors: n(5)?,
            data_keys: n(6)?,
            subject_keys: n(8)?,
            inference: n(7)?,
        })
    }

    /// Writes a snapshot's records as they are, in one transaction under the audit lock;
    /// records already present (same key) are left alone, so a copy can be run again. Refused
    /// when the database holds a different audit chain: a copy goes into an empty database
    /// (or one an earlier run of the same copy filled).
    pub async fn import(&self, snap: &crate::PlatformSnapshot) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
            .await?;
        let existing = tx
            .query("SELECT seq, hash FROM audit_log ORDER BY seq", &[])
            .await?;
        for (row, rec) in existing.iter().zip(&snap.audit) {
            let (seq, hash): (i64, Vec<u8>) = (row.try_get(0)?, row.try_get(1)?);
            if seq != rec.seq || hash != rec.hash {
                return Err(Error::Conflict(format!(
                    "the database already holds another audit chain (its entry {seq} differs from the copy's): copy into an empty database"
                )));
            }
        }
        for t in &snap.tenants {
            write_tenant(&tx, t, true).await?;
        }
        for (id, at) in &snap.deleted_tenants {
            tx.execute(
                "INSERT INTO deleted_tenants (id, deleted_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                &[id, at],
            )
            .await?;
        }
        for k in &snap.keys {
            insert_key_row(&tx, k).await?;
        }
        for d in &snap.usage {
            tx.execute(
                "INSERT INTO usage (tenant_id, key_id, model, day, requests, prompt_tokens, completion_tokens, cost_micros)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                &[
                    &d.tenant_id,
                    &d.key_id,
                    &d.model,
                    &d.day,
                    &to_i64(d.requests),
                    &to_i64(d.prompt_tokens),
                    &to_i64(d.completion_tokens),
                    &to_i64(d.cost_micros),
                ],
            )
            .await?;
        }
        for r in &snap.audit {
            let e = &r.event;
            tx.execute(
                "INSERT INTO audit_log (seq, ts, actor, action, tenant_id, target, outcome, source_ip, details, prev_hash, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (seq) DO NOTHING",
                &[
                    &r.seq,
                    &e.ts,
                    &e.actor,
                    &e.action,
                    &e.tenant_id,
                    &e.target,
                    &e.outcome,
                    &e.source_ip,
                    &e.details.to_string(),
                    &r.prev_hash.as_slice(),
                    &r.hash.as_slice(),
                ],
            )
            .await?;
        }
        for a in &snap.anchors {
            tx.execute(
                "INSERT INTO audit_anchors (seq, hash, ts, algorithm, key_id, signature, prev)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (seq) DO NOTHING",
                &[
                    &a.seq,
                    &a.hash.as_slice(),
                    &a.ts,
                    &a.algorithm,
                    &a.key_id,
                    &a.signature,
                    &a.prev.as_ref().map(|p| p.as_slice()),
                ],
            )
            .await?;
        }
        for k in &snap.data_keys {
            tx.execute(
                "INSERT INTO data_keys (id, wrapped, master_key_id, created_at, active, purpose)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                &[
                    &k.id,
                    &k.wrapped,
                    &k.master_key_id,
                    &k.created_at,
                    &k.active,
                    &k.purpose,
                ],
            )
            .await?;
        }
        for k in &snap.subject_keys {
            insert_subject_key(&tx, k).await?;
        }
        insert_inference_rows(&tx, &snap.inference).await?;
        bump(&tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn hash32(v: Vec<u8>) -> Result<[u8; 32]> {
    <[u8; 32]>::try_from(v).map_err(|_| Error::Corrupt("a hash is not 32 bytes".into()))
}

fn json_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::Corrupt(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(v: serde_json::Value, what: &str) -> Result<T> {
    serde_json::from_value(v).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

const TENANT_COLS: &str =
    "id, name, models, limits, log_inference, retention_days, created_at, updated_at, guard_policy";

fn tenant_row(r: &Row) -> Result<Tenant> {
    Ok(Tenant {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        models: from_json(
            r.try_get::<_, Json<serde_json::Value>>(2)?.0,
            "tenant models",
        )?,
        limits: from_json(
            r.try_get::<_, Json<serde_json::Value>>(3)?.0,
            "tenant limits",
        )?,
        log_inference: r.try_get(4)?,
        retention_days: r
            .try_get::<_, Option<i64>>(5)?
            .map(|d| u32::try_from(d).unwrap_or(u32::MAX)),
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        guard_policy: r.try_get(8)?,
    })
}

const KEY_COLS: &str = "id, tenant_id, name, role, prefix, hash, limits, created_at, expires_at, revoked_at, last_used_at, rotated_from";

fn key_row(r: &Row) -> Result<KeyRecord> {
    let role: String = r.try_get(3)?;
    Ok(KeyRecord {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        name: r.try_get(2)?,
        role: Role::parse(&role).ok_or_else(|| Error::Corrupt(format!("unknown role '{role}'")))?,
        prefix: r.try_get(4)?,
        hash: hash32(r.try_get(5)?)?,
        limits: from_json(r.try_get::<_, Json<serde_json::Value>>(6)?.0, "key limits")?,
        created_at: r.try_get(7)?,
        expires_at: r.try_get(8)?,
        revoked_at: r.try_get(9)?,
        last_used_at: r.try_get(10)?,
        rotated_from: r.try_get(11)?,
    })
}

const AUDIT_COLS: &str =
    "seq, ts, actor, action, tenant_id, target, outcome, source_ip, details, prev_hash, hash";

fn audit_row(r: &Row) -> Result<AuditRecord> {
    let details: String = r.try_get(8)?;
    Ok(AuditRecord {
        seq: r.try_get(0)?,
        event: AuditEvent {
            ts: r.try_get(1)?,
            actor: r.try_get(2)?,
            action: r.try_get(3)?,
            tenant_id: r.try_get(4)?,
            target: r.try_get(5)?,
            outcome: r.try_get(6)?,
            source_ip: r.try_get(7)?,
            details: serde_json::from_str(&details)
                .map_err(|e| Error::Corrupt(format!("audit details: {e}")))?,
        },
        prev_hash: hash32(r.try_get(9)?)?,
        hash: hash32(r.try_get(10)?)?,
    })
}

const INFERENCE_COLS: &str = "id, ts, tenant_id, key_prefix, subject_hash, model, target, status, latency_ms, prompt_tokens, completion_tokens, cost_micros, guard, data_key_id, nonce, payload, subject_key_id";

fn inference_row(r: &Row) -> Result<InferenceRecord> {
    Ok(InferenceRecord {
        id: r.try_get(0)?,
        ts: r.try_get(1)?,
        tenant_id: r.try_get(2)?,
        key_prefix: r.try_get(3)?,
        subject_hash: r.try_get(4)?,
        model: r.try_get(5)?,
        target: r.try_get(6)?,
        status: u16::try_from(r.try_get::<_, i32>(7)?).unwrap_or(0),
        latency_ms: to_u64(r.try_get(8)?),
        prompt_tokens: r.try_get::<_, Option<i64>>(9)?.map(to_u64),
        completion_tokens: r.try_get::<_, Option<i64>>(10)?.map(to_u64),
        cost_micros: r.try_get::<_, Option<i64>>(11)?.map(to_u64),
        guard: r.try_get(12)?,
        data_key_id: r.try_get(13)?,
        nonce: r.try_get(14)?,
        payload: r.try_get(15)?,
        subject_key_id: r.try_get(16)?,
    })
}

const SUBJECT_KEY_COLS: &str = "id, tenant_id, subject_hash, data_key_id, wrapped, created_at";

fn subject_key_row(r: &Row) -> Result<SubjectKey> {
    Ok(SubjectKey {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        subject_hash: r.try_get(2)?,
        data_key_id: r.try_get(3)?,
        wrapped: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

/// Inserts a subject key unless the subject has one in its tenant (or the id exists).
async fn insert_subject_key(tx: &Tx<'_>, k: &SubjectKey) -> Result<()> {
    tx.execute(
        &format!("INSERT INTO subject_keys ({SUBJECT_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"),
        &[&k.id, &k.tenant_id, &k.subject_hash, &k.data_key_id, &k.wrapped, &k.created_at],
    )
    .await?;
    Ok(())
}

fn data_key_row(r: &Row) -> Result<DataKey> {
    Ok(DataKey {
        id: r.try_get(0)?,
        wrapped: r.try_get(1)?,
        master_key_id: r.try_get(2)?,
        created_at: r.try_get(3)?,
        active: r.try_get(4)?,
        purpose: r.try_get(5)?,
    })
}

fn rows<T>(rows: Vec<Row>, f: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
    rows.iter().map(f).collect()
}

/// Appends events to the chain inside `tx`, under the audit lock.
async fn append_in(tx: &Tx<'_>, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let head = tx
        .query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let (mut seq, mut prev) = match head {
        None => (0i64, GENESIS),
        Some(r) => (r.try_get(0)?, hash32(r.try_get(1)?)?),
    };
    let stmt = tx
        .prepare(
            "INSERT INTO audit_log (seq, ts, actor, action, tenant_id, target, outcome, source_ip, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await?;
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        seq += 1;
        let hash = chain_hash(&prev, &event);
        tx.execute(
            &stmt,
            &[
                &seq,
                &event.ts,
                &event.actor,
                &event.action,
                &event.tenant_id,
                &event.target,
                &event.outcome,
                &event.source_ip,
                &event.details.to_string(),
                &prev.as_slice(),
                &hash.as_slice(),
            ],
        )
        .await?;
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

/// Tells every replica's cache that tenants, keys or data keys changed.
/// The channel every platform change is announced on (at commit), so replicas reload at once
/// instead of at their next look at the change counter.
pub const CHANGES_CHANNEL: &str = "atalaya_platform_changes";

async fn bump(tx: &Tx<'_>) -> Result<()> {
    tx.execute(
        "UPDATE platform_changes SET counter = counter + 1 WHERE id = 1",
        &[],
    )
    .await?;
    tx.execute("SELECT pg_notify($1, '')", &[&CHANGES_CHANNEL])
        .await?;
    Ok(())
}

/// Inserts a key unless one with its id exists; returns the rows written (0 or 1).
async fn insert_key_row(tx: &Tx<'_>, k: &KeyRecord) -> Result<u64> {
    Ok(tx
        .execute(
            &format!("INSERT INTO api_keys ({KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (id) DO NOTHING"),
            &[
                &k.id,
                &k.tenant_id,
                &k.name,
                &k.role.as_str(),
                &k.prefix,
                &k.hash.as_slice(),
                &Json(json_value(&k.limits)?),
                &k.created_at,
                &k.expires_at,
                &k.revoked_at,
                &k.last_used_at,
                &k.rotated_from,
            ],
        )
        .await?)
}

async fn insert_key(tx: &Tx<'_>, k: &KeyRecord) -> Result<()> {
    if insert_key_row(tx, k).await? == 0 {
        return Err(Error::Conflict(format!("key '{}' already exists", k.id)));
    }
    Ok(())
}

/// Inserts inference rows (a row whose id exists is left alone).
async fn insert_inference_rows(tx: &Tx<'_>, records: &[InferenceRecord]) -> Result<()> {
    let stmt = tx
        .prepare(&format!(
            "INSERT INTO inference_log ({INFERENCE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) ON CONFLICT (id) DO NOTHING"
        ))
        .await?;
    for r in records {
        tx.execute(
            &stmt,
            &[
                &r.id,
                &r.ts,
                &r.tenant_id,
                &r.key_prefix,
                &r.subject_hash,
                &r.model,
                &r.target,
                &i32::from(r.status),
                &to_i64(r.latency_ms),
                &r.prompt_tokens.map(to_i64),
                &r.completion_tokens.map(to_i64),
                &r.cost_micros.map(to_i64),
                &r.guard,
                &r.data_key_id,
                &r.nonce,
                &r.payload,
                &r.subject_key_id,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn apply_key_update(tx: &Tx<'_>, id: &str, u: &KeyUpdate) -> Result<()> {
    // One statement: each field changes only when the update carries it; the first
    // revocation time stands.
    let set_expiry = u.expires_at.is_some();
    let expiry = u.expires_at.flatten();
    let limits = u.limits.as_ref().map(json_value).transpose()?.map(Json);
    let n = tx
        .execute(
            "UPDATE api_keys SET
               name = COALESCE($2, name),
               limits = COALESCE($3, limits),
               expires_at = CASE WHEN $4 THEN $5 ELSE expires_at END,
               revoked_at = COALESCE(revoked_at, $6)
             WHERE id = $1",
            &[&id, &u.name, &limits, &set_expiry, &expiry, &u.revoked_at],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound(format!("key '{id}'")));
    }
    Ok(())
}

async fn write_tenant(tx: &Tx<'_>, t: &Tenant, insert: bool) -> Result<u64> {
    let sql = if insert {
        format!("INSERT INTO tenants ({TENANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING")
    } else {
        "UPDATE tenants SET name = $2, models = $3, limits = $4, log_inference = $5, retention_days = $6, created_at = $7, updated_at = $8, guard_policy = $9 WHERE id = $1".to_owned()
    };
    Ok(tx
        .execute(
            &sql,
            &[
                &t.id,
                &t.name,
                &Json(json_value(&t.models)?),
                &Json(json_value(&t.limits)?),
                &t.log_inference,
                &t.retention_days.map(i64::from),
                &t.created_at,
                &t.updated_at,
                &t.guard_policy,
            ],
        )
        .await?)
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn create_tenant(&self, tenant: Tenant, audit: AuditEvent) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let deleted = tx
            .query_opt("SELECT 1 FROM deleted_tenants WHERE id = $1", &[&tenant.id])
            .await?;
        if deleted.is_some() {
            return Err(Error::Conflict(format!(
                "tenant id '{}' belonged to a deleted tenant and cannot be reused",
                tenant.id
            )));
        }
        if write_tenant(&tx, &tenant, true).await? == 0 {
            return Err(Error::Conflict(format!(
                "tenant '{}' already exists",
                tenant.id
            )));
        }
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn tenant(&self, id: &str) -> Result<Option<Tenant>> {
        let c = self.client().await?;
        c.query_opt(
            &format!("SELECT {TENANT_COLS} FROM tenants WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(tenant_row)
        .transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let c = self.client().await?;
        rows(
            c.query(
                &format!("SELECT {TENANT_COLS} FROM tenants ORDER BY id"),
                &[],
            )
            .await?,
            tenant_row,
        )
    }

    async fn update_tenant(&self, tenant: Tenant, audit: AuditEvent) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        if write_tenant(&tx, &tenant, false).await? == 0 {
            return Err(Error::NotFound(format!("tenant '{}'", tenant.id)));
        }
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_tenant(&self, id: &str, audit: AuditEvent) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute("DELETE FROM inference_log WHERE tenant_id = $1", &[&id])
            .await?;
        tx.execute("DELETE FROM subject_keys WHERE tenant_id = $1", &[&id])
            .await?;
        tx.execute("DELETE FROM usage WHERE tenant_id = $1", &[&id])
            .await?;
        tx.execute("DELETE FROM api_keys WHERE tenant_id = $1", &[&id])
            .await?;
        if tx
            .execute("DELETE FROM tenants WHERE id = $1", &[&id])
            .await?
            == 0
        {
            return Err(Error::NotFound(format!("tenant '{id}'")));
        }
        tx.execute(
            "INSERT INTO deleted_tenants (id, deleted_at) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET deleted_at = excluded.deleted_at",
            &[&id, &audit.ts],
        )
        .await?;
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn create_key(&self, key: KeyRecord, audit: AuditEvent) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        insert_key(&tx, &key).await?;
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_key(
        &self,
        new: KeyRecord,
        old_id: &str,
        old_update: KeyUpdate,
        audit: AuditEvent,
    ) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        apply_key_update(&tx, old_id, &old_update).await?;
        insert_key(&tx, &new).await?;
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn key(&self, id: &str) -> Result<Option<KeyRecord>> {
        let c = self.client().await?;
        c.query_opt(
            &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(key_row)
        .transpose()
    }

    async fn keys_by_prefix(&self, prefix: &str) -> Result<Vec<KeyRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {KEY_COLS} FROM api_keys WHERE prefix = $1"
            ))
            .await?;
        rows(c.query(&stmt, &[&prefix]).await?, key_row)
    }

    async fn keys(&self, tenant_id: Option<&str>) -> Result<Vec<KeyRecord>> {
        let c = self.client().await?;
        rows(
            c.query(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE $1::TEXT IS NULL OR tenant_id = $1 ORDER BY tenant_id, created_at, id"),
                &[&tenant_id],
            )
            .await?,
            key_row,
        )
    }

    async fn update_key(&self, id: &str, update: KeyUpdate, audit: AuditEvent) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        apply_key_update(&tx, id, &update).await?;
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch_keys(&self, used: Vec<(String, Millis)>) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        // Last use is not something a cache holds: no bump.
        let (ids, ats): (Vec<String>, Vec<i64>) = used.into_iter().unzip();
        let c = self.client().await?;
        c.execute(
            "UPDATE api_keys k SET last_used_at = GREATEST(COALESCE(k.last_used_at, 0), u.at)
             FROM unnest($1::TEXT[], $2::BIGINT[]) AS u(id, at) WHERE k.id = u.id",
            &[&ids, &ats],
        )
        .await?;
        Ok(())
    }

    async fn change_counter(&self) -> Result<i64> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT counter FROM platform_changes WHERE id = 1")
            .await?;
        Ok(c.query_one(&stmt, &[]).await?.try_get(0)?)
    }
}

#[async_trait]
impl UsageStore for PostgresStore {
    async fn add_usage(&self, deltas: Vec<UsageDelta>) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let stmt = tx
            .prepare(
                "INSERT INTO usage (tenant_id, key_id, model, day, requests, prompt_tokens, completion_tokens, cost_micros)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (tenant_id, key_id, model, day) DO UPDATE SET
                   requests = usage.requests + excluded.requests,
                   prompt_tokens = usage.prompt_tokens + excluded.prompt_tokens,
                   completion_tokens = usage.completion_tokens + excluded.completion_tokens,
                   cost_micros = usage.cost_micros + excluded.cost_micros",
            )
            .await?;
        for d in deltas {
            tx.execute(
                &stmt,
                &[
                    &d.tenant_id,
                    &d.key_id,
                    &d.model,
                    &d.day,
                    &to_i64(d.requests),
                    &to_i64(d.prompt_tokens),
                    &to_i64(d.completion_tokens),
                    &to_i64(d.cost_micros),
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage_since(&self, tenant_id: Option<&str>, from_day: i64) -> Result<Vec<UsageRow>> {
        let c = self.client().await?;
        let found = c
            .query(
                "SELECT tenant_id, key_id, model, day, requests, prompt_tokens, completion_tokens, cost_micros
                 FROM usage WHERE ($1::TEXT IS NULL OR tenant_id = $1) AND day >= $2
                 ORDER BY day, tenant_id, key_id, model",
                &[&tenant_id, &from_day],
            )
            .await?;
        rows(found, |r| {
            Ok(UsageRow {
                tenant_id: r.try_get(0)?,
                key_id: r.try_get(1)?,
                model: r.try_get(2)?,
                day: r.try_get(3)?,
                requests: to_u64(r.try_get(4)?),
                prompt_tokens: to_u64(r.try_get(5)?),
                completion_tokens: to_u64(r.try_get(6)?),
                cost_micros: to_u64(r.try_get(7)?),
            })
        })
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let out = append_in(&tx, events).await?;
        tx.commit().await?;
        Ok(out)
    }

    async fn audit_entries(
        &self,
        after: i64,
        limit: usize,
        tenant_id: Option<&str>,
    ) -> Result<Vec<AuditRecord>> {
        let c = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        rows(
            c.query(
                &format!("SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 AND ($2::TEXT IS NULL OR tenant_id = $2) ORDER BY seq LIMIT $3"),
                &[&after, &tenant_id, &limit],
            )
            .await?,
            audit_row,
        )
    }

    async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?
        .map(|r| Ok((r.try_get(0)?, hash32(r.try_get(1)?)?)))
        .transpose()
    }

    async fn append_anchor(
        &self,
        seq: i64,
        hash: [u8; 32],
        ts: i64,
        sign: Box<dyn FnOnce([u8; 32]) -> (String, String, Vec<u8>) + Send + 'static>,
    ) -> Result<Option<AuditAnchor>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
            .await?;
        let last = tx
            .query_opt(
                "SELECT seq, signature FROM audit_anchors ORDER BY seq DESC LIMIT 1",
                &[],
            )
            .await?;
        let last: Option<(i64, Vec<u8>)> = last
            .map(|r| -> Result<_> { Ok((r.try_get(0)?, r.try_get(1)?)) })
            .transpose()?;
        if last.as_ref().is_some_and(|(s, _)| *s >= seq) {
            return Ok(None);
        }
        let prev = last.map_or(GENESIS, |(_, sig)| crate::audit::anchor_link(&sig));
        let (algorithm, key_id, signature) = sign(prev);
        tx.execute(
            "INSERT INTO audit_anchors (seq, hash, ts, algorithm, key_id, signature, prev) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&seq, &hash.as_slice(), &ts, &algorithm, &key_id, &signature, &prev.as_slice()],
        )
        .await?;
        tx.commit().await?;
        Ok(Some(AuditAnchor {
            seq,
            hash,
            ts,
            prev: Some(prev),
            algorithm,
            key_id,
            signature,
        }))
    }

    async fn anchors(&self) -> Result<Vec<AuditAnchor>> {
        let c = self.client().await?;
        rows(
            c.query(
                "SELECT seq, hash, ts, algorithm, key_id, signature, prev FROM audit_anchors ORDER BY seq",
                &[],
            )
            .await?,
            |r| {
                Ok(AuditAnchor {
                    seq: r.try_get(0)?,
                    hash: hash32(r.try_get(1)?)?,
                    ts: r.try_get(2)?,
                    algorithm: r.try_get(3)?,
                    key_id: r.try_get(4)?,
                    signature: r.try_get(5)?,
                    prev: r.try_get::<_, Option<Vec<u8>>>(6)?.map(hash32).transpose()?,
                })
            },
        )
    }

    async fn scan_audit(
        &self,
        mut visit: Box<dyn FnMut(AuditRecord) -> Result<()> + Send>,
    ) -> Result<()> {
        // Pages by seq, so memory stays bounded however long the chain is.
        const PAGE: i64 = 1_000;
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
            ))
            .await?;
        let mut after = 0i64;
        loop {
            let page = c.query(&stmt, &[&after, &PAGE]).await?;
            let n = page.len();
            for r in &page {
                let record = audit_row(r)?;
                after = record.seq;
                visit(record)?;
            }
            if n < PAGE as usize {
                return Ok(());
            }
        }
    }
}

#[async_trait]
impl InferenceStore for PostgresStore {
    async fn data_keys(&self) -> Result<Vec<DataKey>> {
        let c = self.client().await?;
        rows(
            c.query(
                "SELECT id, wrapped, master_key_id, created_at, active, purpose FROM data_keys ORDER BY created_at, id",
                &[],
            )
            .await?,
            data_key_row,
        )
    }

    async fn add_data_key(&self, k: DataKey) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        if k.active {
            tx.execute(
                "UPDATE data_keys SET active = FALSE WHERE purpose = $1",
                &[&k.purpose],
            )
            .await?;
        }
        tx.execute(
            "INSERT INTO data_keys (id, wrapped, master_key_id, created_at, active, purpose) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&k.id, &k.wrapped, &k.master_key_id, &k.created_at, &k.active, &k.purpose],
        )
        .await?;
        bump(&tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rewrap_data_keys(&self, keys: Vec<DataKey>, audit: AuditEvent) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        for k in keys {
            let n = tx
                .execute(
                    "UPDATE data_keys SET wrapped = $2, master_key_id = $3, active = $4 WHERE id = $1",
                    &[&k.id, &k.wrapped, &k.master_key_id, &k.active],
                )
                .await?;
            if n == 0 {
                return Err(Error::NotFound(format!("data key '{}'", k.id)));
            }
        }
        bump(&tx).await?;
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_inference(&self, records: Vec<InferenceRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        insert_inference_rows(&tx, &records).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn inference(
        &self,
        tenant_id: &str,
        limit: usize,
        before: Option<Millis>,
    ) -> Result<Vec<InferenceRecord>> {
        let c = self.client().await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        rows(
            c.query(
                &format!("SELECT {INFERENCE_COLS} FROM inference_log WHERE tenant_id = $1 AND ts < $2 ORDER BY ts DESC, id LIMIT $3"),
                &[&tenant_id, &before.unwrap_or(i64::MAX), &limit],
            )
            .await?,
            inference_row,
        )
    }

    async fn inference_by_subject(
        &self,
        tenant_id: Option<&str>,
        subject_hash: &[u8],
    ) -> Result<Vec<InferenceRecord>> {
        let c = self.client().await?;
        rows(
            c.query(
                &format!("SELECT {INFERENCE_COLS} FROM inference_log WHERE subject_hash = $1 AND ($2::TEXT IS NULL OR tenant_id = $2) ORDER BY ts"),
                &[&subject_hash, &tenant_id],
            )
            .await?,
            inference_row,
        )
    }

    async fn erase_subject(
        &self,
        tenant_id: Option<&str>,
        subject_hash: &[u8],
        audit: AuditEvent,
    ) -> Result<u64> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let keys = tx
            .execute(
                "DELETE FROM subject_keys WHERE subject_hash = $1 AND ($2::TEXT IS NULL OR tenant_id = $2)",
                &[&subject_hash, &tenant_id],
            )
            .await?;
        let n = tx
            .execute(
                "DELETE FROM inference_log WHERE subject_hash = $1 AND ($2::TEXT IS NULL OR tenant_id = $2)",
                &[&subject_hash, &tenant_id],
            )
            .await?;
        let mut audit = audit;
        if let Some(obj) = audit.details.as_object_mut() {
            obj.insert("inference_rows".into(), serde_json::Value::from(n));
            obj.insert("subject_keys".into(), serde_json::Value::from(keys));
        }
        append_in(&tx, vec![audit]).await?;
        tx.commit().await?;
        // The destroyed key's row is dead but still in its heap page until vacuumed; the
        // table is small, so reclaim it now. Best effort: a long transaction elsewhere may
        // keep the row visible to it, and autovacuum reclaims it later.
        if keys > 0 {
            if let Err(e) = c.batch_execute("VACUUM subject_keys").await {
                tracing::warn!(error = %e, "could not vacuum subject_keys after an erasure; autovacuum will reclaim the destroyed key's row");
            }
        }
        Ok(n)
    }

    async fn subject_key(
        &self,
        tenant_id: &str,
        subject_hash: &[u8],
    ) -> Result<Option<SubjectKey>> {
        let c = self.client().await?;
        c.query_opt(
            &format!("SELECT {SUBJECT_KEY_COLS} FROM subject_keys WHERE tenant_id = $1 AND subject_hash = $2"),
            &[&tenant_id, &subject_hash],
        )
        .await?
        .as_ref()
        .map(subject_key_row)
        .transpose()
    }

    async fn add_subject_key(&self, k: SubjectKey) -> Result<SubjectKey> {
        let c = self.client().await?;
        // A key another process is inserting at the same moment is not visible to this
        // statement's snapshot once ours yields to it: the next statement sees it.
        for _ in 0..3 {
            let row = c
            .query_opt(
                &format!(
                    "WITH ins AS (INSERT INTO subject_keys ({SUBJECT_KEY_COLS}) VALUES ($1, $2, $3, $4, $5, $6)
                       ON CONFLICT (tenant_id, subject_hash) DO NOTHING RETURNING {SUBJECT_KEY_COLS})
                     SELECT {SUBJECT_KEY_COLS} FROM ins
                     UNION ALL
                     SELECT {SUBJECT_KEY_COLS} FROM subject_keys WHERE tenant_id = $2 AND subject_hash = $3
                     LIMIT 1"
                ),
                &[&k.id, &k.tenant_id, &k.subject_hash, &k.data_key_id, &k.wrapped, &k.created_at],
            )
            .await?;
            if let Some(row) = row {
                return subject_key_row(&row);
            }
        }
        Err(Error::Conflict(
            "a subject key was created and destroyed concurrently; retry".into(),
        ))
    }

    async fn subject_keys(&self, ids: Vec<String>) -> Result<Vec<SubjectKey>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        rows(
            c.query(
                &format!("SELECT {SUBJECT_KEY_COLS} FROM subject_keys WHERE id = ANY($1)"),
                &[&ids],
            )
            .await?,
            subject_key_row,
        )
    }

    async fn expire_inference(&self, tenant_id: &str, before: Millis) -> Result<u64> {
        let c = self.client().await?;
        Ok(c.execute(
            "DELETE FROM inference_log WHERE tenant_id = $1 AND ts < $2",
            &[&tenant_id, &before],
        )
        .await?)
    }
}
