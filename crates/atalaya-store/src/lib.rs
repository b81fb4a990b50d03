//! The platform's embedded store: tenants, API keys, usage, the audit log and the inference
//! log, behind one trait per kind of record so that a Postgres implementation can replace
//! SQLite without touching callers.
//!
//! - [`records`]: the records (plain data).
//! - [`audit`]: the audit log's hash chain and its verifier (shared by every backend).
//! - [`sqlite`]: [`SqliteStore`], the embedded implementation (bundled SQLite, WAL, migrations
//!   in `PRAGMA user_version`, every call on a blocking thread).
//! - [`postgres`]: [`PostgresStore`], the shared implementation for deployments of several
//!   replicas (audit appends serialised by an advisory lock).
//! - [`conformance`]: the suite every backend of these traits must pass.
//!
//! Every administrative change is written in the same transaction as its audit entry: a
//! change without its entry (or the reverse) cannot be left behind by a crash.

pub mod audit;
pub mod conformance;
pub mod postgres;
pub mod records;
pub mod sqlite;

use async_trait::async_trait;

pub use postgres::PostgresStore;
pub use records::*;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the store's blocking task failed: {0}")]
    Task(String),
    /// The disk is full: the write was rolled back.
    #[error("disk full: {0}")]
    Full(String),
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => Error::Full(e.to_string()),
            _ => Error::Database(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, tenant: Tenant, audit: AuditEvent) -> Result<()>;
    async fn tenant(&self, id: &str) -> Result<Option<Tenant>>;
    async fn tenants(&self) -> Result<Vec<Tenant>>;
    async fn update_tenant(&self, tenant: Tenant, audit: AuditEvent) -> Result<()>;
    /// Deletes the tenant, its keys, usage and inference log; `create_tenant` refuses its id
    /// from then on.
    async fn delete_tenant(&self, id: &str, audit: AuditEvent) -> Result<()>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn create_key(&self, key: KeyRecord, audit: AuditEvent) -> Result<()>;
    /// Creates `new` and applies `old_update` to the key it replaces, in one transaction.
    async fn rotate_key(
        &self,
        new: KeyRecord,
        old_id: &str,
        old_update: KeyUpdate,
        audit: AuditEvent,
    ) -> Result<()>;
    async fn key(&self, id: &str) -> Result<Option<KeyRecord>>;
    async fn keys_by_prefix(&self, prefix: &str) -> Result<Vec<KeyRecord>>;
    /// Every key of a tenant, or of every tenant.
    async fn keys(&self, tenant_id: Option<&str>) -> Result<Vec<KeyRecord>>;
    async fn update_key(&self, id: &str, update: KeyUpdate, audit: AuditEvent) -> Result<()>;
    /// Records when keys were last used (batched; not audited).
    async fn touch_keys(&self, used: Vec<(String, Millis)>) -> Result<()>;
    /// A number that changes whenever another connection (a CLI, another process) commits,
    /// so caches know when to reload.
    async fn change_counter(&self) -> Result<i64>;
}

#[async_trait]
pub trait UsageStore: Send + Sync {
    async fn add_usage(&self, deltas: Vec<UsageDelta>) -> Result<()>;
    /// Rows with `day >= from_day`, of one tenant or of all.
    async fn usage_since(&self, tenant_id: Option<&str>, from_day: i64) -> Result<Vec<UsageRow>>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events (chained, in order) outside any other change.
    async fn append_audit(&self, events: Vec<AuditEvent>) -> Result<Vec<AuditRecord>>;
    /// Entries with `seq > after`, oldest first, at most `limit`.
    async fn audit_entries(
        &self,
        after: i64,
        limit: usize,
        tenant_id: Option<&str>,
    ) -> Result<Vec<AuditRecord>>;
    /// The newest entry's seq and hash.
    async fn audit_head(&self) -> Result<Option<(i64, [u8; 32])>>;
    /// Appends an anchor of entry `seq` (hash `hash`) at `ts`, chained to the newest anchor in
    /// the same transaction (so that anchors written by several processes form one chain):
    /// `sign` gets the link and returns the anchor's (algorithm, key id, signature). Nothing
    /// is written, and `None` returned, when an anchor at or beyond `seq` exists.
    async fn append_anchor(
        &self,
        seq: i64,
        hash: [u8; 32],
        ts: i64,
        sign: Box<dyn FnOnce([u8; 32]) -> (String, String, Vec<u8>) + Send + 'static>,
    ) -> Result<Option<AuditAnchor>>;
    async fn anchors(&self) -> Result<Vec<AuditAnchor>>;
    /// Feeds every entry, in seq order, to `visit` (streamed; for verification and export).
    async fn scan_audit(
        &self,
        visit: Box<dyn FnMut(AuditRecord) -> Result<()> + Send>,
    ) -> Result<()>;
}

#[async_trait]
pub trait InferenceStore: Send + Sync {
    async fn data_keys(&self) -> Result<Vec<DataKey>>;
    async fn add_data_key(&self, key: DataKey) -> Result<()>;
    /// Stores these data keys as given (re-wrapped under a new master key, or retired),
    /// with the audit entry, in one transaction.
    async fn rewrap_data_keys(&self, keys: Vec<DataKey>, audit: AuditEvent) -> Result<()>;
    async fn insert_inference(&self, records: Vec<InferenceRecord>) -> Result<()>;
    async fn inference(
        &self,
        tenant_id: &str,
        limit: usize,
        before: Option<Millis>,
    ) -> Result<Vec<InferenceRecord>>;
    async fn inference_by_subject(
        &self,
        tenant_id: Option<&str>,
        subject_hash: &[u8],
    ) -> Result<Vec<InferenceRecord>>;
    /// The key of a data subject in a tenant, if it has one.
    async fn subject_key(&self, tenant_id: &str, subject_hash: &[u8])
        -> Result<Option<SubjectKey>>;
    /// Stores `key` unless the subject already has one in that tenant (another process
    /// may have created it first); returns the key that is stored.
    async fn add_subject_key(&self, key: SubjectKey) -> Result<SubjectKey>;
    /// Those of these subject keys that still exist.
    async fn subject_keys(&self, ids: Vec<String>) -> Result<Vec<SubjectKey>>;
    /// Destroys the subject's keys and deletes its rows, with the audit entry in the same
    /// transaction (its details gain `inference_rows` and `subject_keys`); returns the rows
    /// deleted.
    async fn erase_subject(
        &self,
        tenant_id: Option<&str>,
        subject_hash: &[u8],
        audit: AuditEvent,
    ) -> Result<u64>;
    /// Deletes a tenant's rows older than `before`.
    async fn expire_inference(&self, tenant_id: &str, before: Millis) -> Result<u64>;
}

/// Every platform record as stored: what moves an installation from one backend to another
/// (`atalaya migrate copy`). Audit entries and anchors keep their sequence numbers and hashes,
/// so the copied chain verifies as the original did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformSnapshot {
    pub tenants: Vec<Tenant>,
    /// Ids of deleted tenants (never reused), with when they were deleted.
    pub deleted_tenants: Vec<(String, Millis)>,
    pub keys: Vec<KeyRecord>,
    pub usage: Vec<UsageRow>,
    pub audit: Vec<AuditRecord>,
    pub anchors: Vec<AuditAnchor>,
    pub data_keys: Vec<DataKey>,
    pub subject_keys: Vec<SubjectKey>,
    pub inference: Vec<InferenceRecord>,
}

/// How many records of each kind a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlatformCounts {
    pub tenants: u64,
    pub deleted_tenants: u64,
    pub keys: u64,
    pub usage: u64,
    pub audit: u64,
    pub anchors: u64,
    pub data_keys: u64,
    pub subject_keys: u64,
    pub inference: u64,
}

impl PlatformSnapshot {
    pub fn counts(&self) -> PlatformCounts {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        PlatformCounts {
            tenants: n(self.tenants.len()),
            deleted_tenants: n(self.deleted_tenants.len()),
            keys: n(self.keys.len()),
            usage: n(self.usage.len()),
            audit: n(self.audit.len()),
            anchors: n(self.anchors.len()),
            data_keys: n(self.data_keys.len()),
            subject_keys: n(self.subject_keys.len()),
            inference: n(self.inference.len()),
        }
    }
}

/// Everything the platform stores.
pub trait Store: TenantStore + KeyStore + UsageStore + AuditStore + InferenceStore {}

impl<T: TenantStore + KeyStore + UsageStore + AuditStore + InferenceStore> Store for T {}
