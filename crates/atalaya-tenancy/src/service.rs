//! [`Tenancy`]: the service the HTTP handlers and the CLI share. It owns the store, an
//! in-memory cache of keys and tenants (so authenticating a request touches no disk), the
//! limiter, the budget meter and the queues of writes that are batched (usage, last use of
//! keys, authentication failures, inference-log rows), flushed every second and at shutdown.
//!
//! The cache is reloaded after every change made through this service and whenever another
//! process (the CLI) commits to the store, which a one-second poll of SQLite's
//! `data_version` notices; a key revoked through the API is refused by the next request.

use std::io::Write as _;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Duration,
};

use atalaya_store::{
    AuditEvent, InferenceRecord, KeyRecord, Limits, Millis, Role, Store, Tenant, UsageDelta,
};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::{
    access::{Principal, DEFAULT_TENANT, PLATFORM_TENANT},
    config::Settings,
    crypto::{Keyring, MasterKey},
    events::system_event,
    keys,
    limiter::{system_clock, Limiter},
    local_budgets::LocalBudgets,
    local_limiter::LocalLimiter,
    meter::Budgets,
    Error, FastMap, Result,
};

pub use crate::clock::now_millis;

/// A key as the cache holds it.
#[derive(Debug, Clone)]
pub(crate) struct CachedKey {
    pub record: KeyRecord,
}

/// What a key's or a tenant's buckets, gates and budgets are called (`key:ID`,
/// `key:ID:rpm`…), built once and shared, so admitting a request formats no names.
#[derive(Debug)]
pub(crate) struct ScopeNames {
    /// The key's or the tenant's id.
    pub id: Arc<str>,
    /// `key:ID` or `tenant:ID`: the budget's name.
    pub scope: Arc<str>,
    pub rpm: Arc<str>,
    pub tpm: Arc<str>,
    pub inflight: Arc<str>,
}

impl ScopeNames {
    fn new(kind: &str, id: &str) -> Self {
        let scope = format!("{kind}:{id}");
        ScopeNames {
            id: id.into(),
            rpm: format!("{scope}:rpm").into(),
            tpm: format!("{scope}:tpm").into(),
            inflight: format!("{scope}:inflight").into(),
            scope: scope.into(),
        }
    }
}

/// Names remembered per kind before the table is started afresh (keys come and go).
const MAX_SCOPE_NAMES: usize = 100_000;

#[derive(Default)]
pub(crate) struct Cache {
    /// The reload that built this snapshot.
    pub seq: u64,
    pub by_prefix: FastMap<String, Vec<Arc<CachedKey>>>,
    pub tenants: FastMap<String, Arc<Tenant>>,
}

/// Writes batched until the next flush.
#[derive(Default)]
pub(crate) struct Pending {
    /// Per key id: its usage per (model, day) since the last flush.
    pub usage: FastMap<Arc<str>, Vec<UsageDelta>>,
    pub used: FastMap<String, Millis>,
    pub audit: Vec<AuditEvent>,
    pub inference: Vec<InferenceRecord>,
    /// Rows of data subjects with their payloads in clear, sealed under the subjects' keys
    /// when flushed (finding or creating a key is a store call).
    pub to_seal: Vec<(InferenceRecord, Vec<u8>)>,
    /// Authentication failures itemised since the last flush, per client address.
    pub failures_by_source: HashMap<String, u32>,
    /// Failures not itemised since the last flush, per client address (one summary entry
    /// each at the flush).
    pub suppressed: HashMap<String, u64>,
    /// Failures itemised since the last flush, from every address.
    pub failures_itemised: usize,
}

impl Pending {
    /// Puts back what a failed flush could not write (before anything queued since).
    fn restore(&mut self, mut older: Pending) {
        older.audit.append(&mut self.audit);
        self.audit = older.audit;
        for (k, deltas) in std::mem::take(&mut self.usage) {
            let rows = older.usage.entry(k).or_default();
            for d in deltas {
                match rows
                    .iter_mut()
                    .find(|o| o.model == d.model && o.day == d.day && o.tenant_id == d.tenant_id)
                {
                    Some(o) => {
                        o.requests += d.requests;
                        o.prompt_tokens += d.prompt_tokens;
                        o.completion_tokens += d.completion_tokens;
                        o.cost_micros += d.cost_micros;
                    }
                    None => rows.push(d),
                }
            }
        }
        self.usage = older.usage;
        for (k, at) in older.used {
            let e = self.used.entry(k).or_insert(at);
            *e = (*e).max(at);
        }
        older.inference.append(&mut self.inference);
        self.inference = older.inference;
        older.to_seal.append(&mut self.to_seal);
        self.to_seal = older.to_seal;
    }
}

/// Authentication failures itemised per client address between two flushes (one second);
/// beyond, they are counted in one summary entry per address.
const FAILURES_PER_SOURCE: u32 = 10;
/// Authentication failures itemised in all between two flushes: a flood from many
/// addresses (IPv6 gives an attacker as many as it wants) writes at most this many entries a
/// second, plus the summaries below.
const MAX_QUEUED_FAILURES: usize = 100;
/// Addresses that get a summary entry of their own per flush; the excess of every other
/// address is counted in one global summary (with how many addresses it covers).
const MAX_SUMMARIES: usize = 20;
/// Prefixes remembered as unknown (so a flood of invented keys does not reach the store).
pub(crate) const MAX_MISSING_PREFIXES: usize = 100_000;

pub struct Tenancy {
    /// Woken when another process announces a change (Postgres NOTIFY); the periodic look
    /// at the change counter stays as the backstop.
    change_signal: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) settings: Settings,
    pub(crate) cache: RwLock<Cache>,
    pub(crate) limiter: Arc<dyn Limiter>,
    /// Spending against budgets (`[limits]`, keys' and tenants' budgets).
    pub(crate) budgets: Arc<dyn Budgets>,
    pub(crate) pending: Mutex<Pending>,
    /// Authentication failures not written because the queue was full.
    pub(crate) dropped_failures: AtomicI64,
    pub(crate) keyring: RwLock<Option<Arc<Keyring>>>,
    data_version: AtomicI64,
    last_anchor: Mutex<(i64, std::time::Instant)>,
    /// Reloads are numbered when they start; a snapshot replaces the cache only if it
    /// started after the one installed (an older read never undoes a newer change).
    reload_seq: std::sync::atomic::AtomicU64,
    /// Key prefixes looked up in the store and not found (cleared at every reload).
    pub(crate) missing_prefixes: Mutex<std::collections::HashSet<String>>,
    /// [`ScopeNames`] of keys and of tenants, by id.
    key_names: RwLock<FastMap<String, Arc<ScopeNames>>>,
    tenant_names: RwLock<FastMap<String, Arc<ScopeNames>>>,
    /// Serialises flushes with erasure, so no queued row can land after an erasure.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// `kind`'s names for `id` from `table`, built and remembered on first use.
fn names_in(
    table: &RwLock<FastMap<String, Arc<ScopeNames>>>,
    kind: &str,
    id: &str,
) -> Arc<ScopeNames> {
    if let Some(n) = table.read().unwrap_or_else(|p| p.into_inner()).get(id) {
        return n.clone();
    }
    let names = Arc::new(ScopeNames::new(kind, id));
    let mut t = table.write().unwrap_or_else(|p| p.into_inner());
    if t.len() >= MAX_SCOPE_NAMES {
        t.clear();
    }
    t.entry(id.to_owned()).or_insert(names).clone()
}

impl Tenancy {
    /// Opens the service over `store`: creates the built-in tenants and the bootstrap admin
    /// key on first start, opens the encryption keyring (re-wrapping data keys after a
    /// master-key rotation), loads the cache and the current period's usage.
    pub async fn open(store: Arc<dyn Store>, settings: Settings) -> Result<Arc<Self>> {
        Self::open_with(
            store,
            settings,
            Arc::new(LocalLimiter::new(system_clock())),
            None,
        )
        .await
    }

    /// [`Tenancy::open`] with the limits and budgets of a shared backend (`atalaya-redis`);
    /// `budgets: None` keeps budgets in this process.
    pub async fn open_with(
        store: Arc<dyn Store>,
        settings: Settings,
        limiter: Arc<dyn Limiter>,
        budgets: Option<Arc<dyn Budgets>>,
    ) -> Result<Arc<Self>> {
        let now = now_millis();
        for (id, name) in [
            (PLATFORM_TENANT, "Platform operators"),
            (DEFAULT_TENANT, "Default tenant"),
        ] {
            if store.tenant(id).await?.is_none() {
                let t = Tenant {
                    id: id.into(),
                    name: name.into(),
                    models: Vec::new(),
                    limits: Limits::default(),
                    log_inference: false,
                    retention_days: None,
                    guard_policy: None,
                    created_at: now,
                    updated_at: now,
                };
                match store
                    .create_tenant(t, system_event("tenant.create", Some(id), Some(id)))
                    .await
                {
                    Ok(()) | Err(atalaya_store::Error::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if let Some(secret) = &settings.bootstrap_admin_key {
            bootstrap_admin(store.as_ref(), secret).await?;
        }
        let keyring = match &settings.master_key {
            None => None,
            Some(k) => Some(Arc::new(
                open_keyring(store.as_ref(), k, &settings.previous_master_keys).await?,
            )),
        };
        let data_version = store.change_counter().await?;
        let head = store.audit_head().await?.map_or(0, |h| h.0);
        let anchored = store.anchors().await?.last().map_or(0, |a| a.seq);
        let budgets: Arc<dyn Budgets> = match budgets {
            Some(b) => b,
            None => Arc::new(LocalBudgets::load(store.as_ref(), now).await?),
        };
        let t = Arc::new(Tenancy {
            store,
            settings,
            cache: RwLock::new(Cache::default()),
            limiter,
            budgets,
            pending: Mutex::new(Pending::default()),
            dropped_failures: AtomicI64::new(0),
            keyring: RwLock::new(keyring),
            data_version: AtomicI64::new(data_version),
            last_anchor: Mutex::new((anchored.min(head), std::time::Instant::now())),
            reload_seq: std::sync::atomic::AtomicU64::new(0),
            missing_prefixes: Mutex::new(std::collections::HashSet::new()),
            key_names: RwLock::new(FastMap::default()),
            change_signal: std::sync::OnceLock::new(),
            tenant_names: RwLock::new(FastMap::default()),
            flush_lock: tokio::sync::Mutex::new(()),
        });
        t.reload().await?;
        Ok(t)
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether any key can authenticate: a configured key or an unrevoked store key.
    pub fn has_usable_key(&self) -> bool {
        if !self.settings.static_keys.is_empty() {
            return true;
        }
        let now = now_millis();
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        cache
            .by_prefix
            .values()
            .flatten()
            .any(|k| k.record.revoked_at.is_none() && k.record.expires_at.is_none_or(|e| e > now))
    }

    /// Reloads keys and tenants from the store.
    pub async fn reload(&self) -> Result<()> {
        let seq = self.reload_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let keys = self.store.keys(None).await?;
        let tenants = self.store.tenants().await?;
        let mut cache = Cache {
            seq,
            ..Cache::default()
        };
        for k in keys {
            cache
                .by_prefix
                .entry(k.prefix.clone())
                .or_default()
                .push(Arc::new(CachedKey { record: k }));
        }
        for t in tenants {
            cache.tenants.insert(t.id.clone(), Arc::new(t));
        }
        let mut current = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.seq > current.seq {
            *current = cache;
            lock(&self.missing_prefixes).clear();
        }
        Ok(())
    }

    /// The names of a key's buckets, gates and budget.
    pub(crate) fn key_names(&self, id: &str) -> Arc<ScopeNames> {
        names_in(&self.key_names, "key", id)
    }

    /// The names of a tenant's buckets, gates and budget.
    pub(crate) fn tenant_names(&self, id: &str) -> Arc<ScopeNames> {
        names_in(&self.tenant_names, "tenant", id)
    }

    pub(crate) fn tenant_cached(&self, id: &str) -> Option<Arc<Tenant>> {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .tenants
            .get(id)
            .cloned()
    }

    pub(crate) fn keyring(&self) -> Option<Arc<Keyring>> {
        self.keyring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn lookup_cached(&self, prefix: &str, digest: &[u8; 32]) -> Option<Arc<CachedKey>> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let candidates = cache.by_prefix.get(prefix)?;
        let mut found = None;
        for k in candidates {
            if bool::from(k.record.hash.ct_eq(digest)) {
                found = Some(k.clone());
            }
        }
        found
    }

    pub(crate) fn principal_of(&self, k: &KeyRecord) -> Result<Principal> {
        let now = now_millis();
        if k.revoked_at.is_some_and(|r| r <= now) {
            return Err(Error::KeyRevoked {
                prefix: k.prefix.clone(),
            });
        }
        if k.expires_at.is_some_and(|e| e <= now) {
            return Err(Error::KeyExpired {
                prefix: k.prefix.clone(),
            });
        }
        if self.tenant_cached(&k.tenant_id).is_none() {
            return Err(Error::InvalidKey);
        }
        {
            let mut pending = lock(&self.pending);
            match pending.used.get_mut(&k.id) {
                Some(at) => *at = now,
                None => {
                    pending.used.insert(k.id.clone(), now);
                }
            }
        }
        Ok(Principal {
            key_id: k.id.clone(),
            display: k.prefix.clone(),
            tenant: k.tenant_id.clone(),
            role: k.role,
            limits: k.limits.clone(),
        })
    }

    pub(crate) fn audit_failure(
        &self,
        e: &Error,
        authorization: Option<&str>,
        source_ip: Option<&str>,
    ) {
        let reason = match e {
            Error::MissingKey => "missing_key",
            Error::InvalidKey => "invalid_key",
            Error::KeyRevoked { .. } => "revoked_key",
            Error::KeyExpired { .. } => "expired_key",
            _ => "error",
        };
        // Only the visible prefix of a well-formed key is recorded, never the key.
        let prefix = authorization
            .and_then(bearer_token)
            .and_then(keys::prefix_of);
        let event = AuditEvent {
            ts: now_millis(),
            actor: prefix.unwrap_or("anonymous").to_owned(),
            action: "auth.failure".into(),
            tenant_id: None,
            target: None,
            outcome: "failure".into(),
            source_ip: source_ip.map(str::to_owned),
            details: serde_json::json!({ "reason": reason }),
        };
        // An IPv6 client is counted by its /64 (what one host or subscriber is given).
        let source = source_ip.map_or_else(|| "unknown".to_owned(), failure_source);
        let mut p = lock(&self.pending);
        let seen = p.failures_by_source.entry(source.clone()).or_insert(0);
        *seen += 1;
        if *seen <= FAILURES_PER_SOURCE && p.failures_itemised < MAX_QUEUED_FAILURES {
            p.failures_itemised += 1;
            p.audit.push(event);
        } else if p.suppressed.len() < MAX_SUMMARIES || p.suppressed.contains_key(&source) {
            *p.suppressed.entry(source).or_insert(0) += 1;
        } else {
            self.dropped_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes what is queued: usage, last use of keys, audit entries, inference rows. What
    /// cannot be written stays queued for the next flush.
    pub async fn flush(&self) -> Result<()> {
        let _serial = self.flush_lock.lock().await;
        self.flush_locked().await
    }

    /// [`Tenancy::flush`] for a caller that holds `flush_lock`.
    pub(crate) async fn flush_locked(&self) -> Result<()> {
        let mut taken = std::mem::take(&mut *lock(&self.pending));
        let dropped = self.dropped_failures.swap(0, Ordering::Relaxed);
        let mut summaries = Vec::new();
        for (source, n) in std::mem::take(&mut taken.suppressed) {
            let mut e = system_event("auth.failure.summary", None, None);
            e.outcome = "failure".into();
            e.source_ip = (source != "unknown").then_some(source);
            e.details = serde_json::json!({ "not_itemised": n });
            summaries.push(e);
        }
        if dropped > 0 {
            let sources = taken
                .failures_by_source
                .len()
                .saturating_sub(summaries.len());
            tracing::warn!(
                dropped,
                sources,
                "authentication failures from many addresses were counted without their address"
            );
            let mut e = system_event("auth.failure.summary", None, None);
            e.outcome = "failure".into();
            e.details = serde_json::json!({ "not_itemised": dropped, "sources": sources });
            summaries.push(e);
        }
        taken.failures_by_source.clear();
        taken.audit.extend(summaries);
        let result = async {
            self.store.append_audit(taken.audit.clone()).await?;
            taken.audit.clear();
            self.store
                .add_usage(taken.usage.values().flatten().cloned().collect())
                .await?;
            taken.usage.clear();
            self.store
                .touch_keys(taken.used.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .await?;
            taken.used.clear();
            let sealed = self.seal_subject_rows(&taken.to_seal).await?;
            taken.inference.extend(sealed);
            taken.to_seal.clear();
            self.store.insert_inference(taken.inference.clone()).await?;
            taken.inference.clear();
            Ok::<(), Error>(())
        }
        .await;
        if result.is_err() {
            lock(&self.pending).restore(taken);
        }
        result
    }

    /// Signs the chain's head when enough entries or time have passed (or `force`).
    pub async fn anchor(&self, force: bool) -> Result<Option<i64>> {
        let Some(key) = &self.settings.audit_signing_key else {
            return Ok(None);
        };
        let Some((seq, hash)) = self.store.audit_head().await? else {
            return Ok(None);
        };
        {
            let (last, at) = *lock(&self.last_anchor);
            let due = seq.saturating_sub(last)
                >= i64::try_from(self.settings.anchor_every).unwrap_or(i64::MAX)
                || at.elapsed() >= self.settings.anchor_interval;
            if seq <= last || !(force || due) {
                return Ok(None);
            }
        }
        let ts = now_millis();
        let key = key.clone();
        let written = self
            .store
            .append_anchor(
                seq,
                hash,
                ts,
                Box::new(move |prev| {
                    let message = atalaya_store::audit::anchor_message(seq, &hash, ts, Some(&prev));
                    (
                        "hmac-sha256-chained".to_owned(),
                        crate::crypto::fingerprint(&key),
                        crate::crypto::hmac_sign(&key, &message),
                    )
                }),
            )
            .await?;
        if let Some(a) = &written {
            self.export_anchor(a);
        }
        *lock(&self.last_anchor) = (seq, std::time::Instant::now());
        Ok(Some(seq))
    }

    /// Copies an anchor to the configured sink (a failure is logged: the anchor is in the
    /// database either way).
    fn export_anchor(&self, a: &atalaya_store::AuditAnchor) {
        use crate::config::AnchorSink;
        let line = anchor_json(a).to_string();
        let result = match &self.settings.anchor_sink {
            AnchorSink::None => Ok(()),
            AnchorSink::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush())
            }
            AnchorSink::File(path) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| {
                    writeln!(f, "{line}")?;
                    f.sync_data()
                }),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, seq = a.seq, "writing the audit anchor to audit.anchor_sink");
        }
    }

    /// One round of upkeep: flush queues, reload the cache if another process changed the
    /// store, anchor the audit chain when due.
    pub async fn tick(&self) -> Result<()> {
        self.flush().await?;
        self.reload_if_changed().await?;
        self.anchor(false).await?;
        Ok(())
    }

    /// Reloads the cache when another process (a CLI, another replica) changed tenants, keys
    /// or data keys since the last look.
    pub async fn reload_if_changed(&self) -> Result<()> {
        let v = self.store.change_counter().await?;
        if self.data_version.swap(v, Ordering::SeqCst) != v {
            self.reload().await?;
        }
        Ok(())
    }

    async fn look_for_changes(&self) {
        if let Err(e) = self.reload_if_changed().await {
            tracing::warn!(error = %e, "looking for changes to tenants and keys failed; will retry");
        }
    }

    /// Looks for other processes' changes whenever `signal` is woken, besides every
    /// [`CHANGE_POLL`]. Set once, before [`Tenancy::run`].
    pub fn watch_changes(&self, signal: Arc<tokio::sync::Notify>) {
        let _ = self.change_signal.set(signal);
    }

    /// Runs upkeep every second, a look for other processes' changes every
    /// [`CHANGE_POLL`] (so that a key revoked anywhere is refused here well within a
    /// second), and the retention sweep every `retention_sweep_hours`, until `shutdown`;
    /// then flushes and anchors one last time.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut changes = tokio::time::interval(CHANGE_POLL);
        changes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let sweep_every =
            Duration::from_secs(self.settings.limits.retention_sweep_hours.max(1) * 3600);
        let mut sweep = tokio::time::interval(sweep_every);
        let signal = self.change_signal.get().cloned();
        let signalled = || async {
            match &signal {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = signalled() => self.look_for_changes().await,
                _ = tick.tick() => {
                    if let Err(e) = self.tick().await {
                        tracing::error!(error = %e, "tenancy upkeep failed; will retry");
                    }
                }
                _ = changes.tick() => self.look_for_changes().await,
                _ = sweep.tick() => {
                    match self.admin().enforce_retention(now_millis()).await {
                        Ok(n) if n > 0 => tracing::info!(rows = n, "inference log: retention removed rows"),
                        Ok(_) => {}
                        Err(e) => tracing::error!(error = %e, "inference-log retention failed; will retry"),
                    }
                }
            }
        }
        if let Err(e) = self.flush().await {
            tracing::error!(error = %e, "final flush of usage and audit entries failed");
        }
        if let Err(e) = self.anchor(true).await {
            tracing::error!(error = %e, "final audit anchor failed");
        }
    }
}

/// How often a running service looks for other processes' changes to tenants and keys.
pub const CHANGE_POLL: Duration = Duration::from_millis(250);

/// The key of an `Authorization: Bearer …` header value.
pub fn bearer_token(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

async fn bootstrap_admin(store: &dyn Store, secret: &str) -> Result<()> {
    let Some(prefix) = keys::prefix_of(secret) else {
        return Err(Error::invalid(
            format!(
                "the bootstrap admin key must look like atl_ + at least {} characters (`atalaya keys generate` prints one)",
                keys::MIN_KEY_LEN - keys::KEY_MARK.len()
            ),
            Some("auth.bootstrap_admin_key"),
        ));
    };
    let digest = keys::digest(secret);
    if store
        .keys_by_prefix(prefix)
        .await?
        .iter()
        .any(|k| bool::from(k.hash.ct_eq(&digest)))
    {
        return Ok(());
    }
    // Only on first start: once the platform has an admin, the environment grants nothing.
    let admins = store.keys(Some(PLATFORM_TENANT)).await?;
    if admins.iter().any(|k| k.role == Role::Admin) {
        tracing::info!("a platform admin key exists; the bootstrap admin key is not added");
        return Ok(());
    }
    let now = now_millis();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let record = KeyRecord {
        id: id.clone(),
        tenant_id: PLATFORM_TENANT.into(),
        name: "bootstrap admin".into(),
        role: Role::Admin,
        prefix: prefix.to_owned(),
        hash: digest,
        limits: Limits::default(),
        created_at: now,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        rotated_from: None,
    };
    let mut event = system_event("key.create", Some(PLATFORM_TENANT), Some(&id));
    event.details = serde_json::json!({"prefix": prefix, "role": "admin", "bootstrap": true});
    store.create_key(record, event).await?;
    Ok(())
}

async fn open_keyring(
    store: &dyn Store,
    master: &[u8; 32],
    previous: &[[u8; 32]],
) -> Result<Keyring> {
    let current = MasterKey::new(master);
    let previous: Vec<MasterKey> = previous.iter().map(MasterKey::new).collect();
    let stored = store.data_keys().await?;
    let opened = Keyring::open(&stored, &current, &previous, now_millis())?;
    for dk in opened.created {
        store.add_data_key(dk).await?;
    }
    if !opened.rewrapped.is_empty() {
        let mut e = system_event("encryption.rewrap", None, None);
        e.details = serde_json::json!({
            "data_keys": opened.rewrapped.len(),
            "master_key": current.id(),
        });
        store.rewrap_data_keys(opened.rewrapped, e).await?;
    }
    Ok(opened.keyring)
}

/// An anchor as one JSON object (the sink's line format, read back by
/// [`parse_exported_anchor`]).
pub fn anchor_json(a: &atalaya_store::AuditAnchor) -> serde_json::Value {
    serde_json::json!({
        "seq": a.seq,
        "hash": hex::encode(a.hash),
        "ts": a.ts,
        "prev": a.prev.map(hex::encode),
        "algorithm": a.algorithm,
        "key_id": a.key_id,
        "signature": hex::encode(&a.signature),
    })
}

/// An exported anchor line; `None` when it is not one.
pub fn parse_exported_anchor(line: &str) -> Option<atalaya_store::AuditAnchor> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let h32 = |s: &str| -> Option<[u8; 32]> { hex::decode(s).ok()?.try_into().ok() };
    Some(atalaya_store::AuditAnchor {
        seq: v["seq"].as_i64()?,
        hash: h32(v["hash"].as_str()?)?,
        ts: v["ts"].as_i64()?,
        prev: match v["prev"].as_str() {
            Some(p) => Some(h32(p)?),
            None => None,
        },
        algorithm: v["algorithm"].as_str()?.to_owned(),
        key_id: v["key_id"].as_str()?.to_owned(),
        signature: hex::decode(v["signature"].as_str()?).ok()?,
    })
}

/// The address authentication failures are counted under: an IPv6 address's /64 network,
/// an IPv4 address as it is.
fn failure_source(ip: &str) -> String {
    match ip.parse::<std::net::Ipv6Addr>() {
        Ok(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        _ => ip.to_owned(),
    }
}
