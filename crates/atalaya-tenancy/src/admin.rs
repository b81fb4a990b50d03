//! Administrative operations, shared by the admin API (`/admin/v1/...`) and the CLI. Each
//! one authorizes its caller first ([`Principal::authorize`]), then changes the store and
//! writes its audit entry in one transaction, then refreshes the cache.

use std::io::Write;

use atalaya_store::{
    audit::{anchor_message, Deadline, Report, Verifier},
    AuditEvent, AuditRecord, InferenceRecord, KeyRecord, KeyUpdate, Limits, Millis, Role, Tenant,
    UsageRow,
};

use crate::{
    access::{Action, Principal, DEFAULT_TENANT, PLATFORM_TENANT},
    clock::now_millis,
    crypto::{self, fingerprint, hmac_verify, row_aad},
    events, keys,
    service::Tenancy,
    Error, Result,
};

/// A tenant to create.
#[derive(Debug, Clone, Default)]
pub struct NewTenant {
    pub id: String,
    pub name: Option<String>,
    pub models: Vec<String>,
    pub limits: Limits,
    pub log_inference: bool,
    pub retention_days: Option<u32>,
    /// A guard policy name (or `off`) for all the tenant's requests.
    pub guard_policy: Option<String>,
}

/// Changes to a tenant; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub models: Option<Vec<String>>,
    pub limits: Option<Limits>,
    pub log_inference: Option<bool>,
    /// `Some(None)` keeps rows for ever.
    pub retention_days: Option<Option<u32>>,
    /// `Some(None)` returns to each route's policy.
    pub guard_policy: Option<Option<String>>,
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKeySpec {
    pub name: String,
    pub role: Role,
    pub limits: Limits,
    pub expires_at: Option<Millis>,
}

/// A created key: the record and its secret, shown once.
#[derive(Debug)]
pub struct CreatedKey {
    pub record: KeyRecord,
    pub secret: String,
}

/// One decrypted inference-log row.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InferenceEntry {
    pub id: String,
    pub ts: Millis,
    pub tenant: String,
    pub key_prefix: String,
    pub model: String,
    pub target: Option<String>,
    pub status: u16,
    pub latency_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost_micros: Option<u64>,
    pub guard: Option<String>,
    /// The decrypted payload: subject, request, response.
    pub content: serde_json::Value,
}

fn valid_tenant_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn check_limits(l: &Limits, param: &str) -> Result<()> {
    let zero = [
        (l.requests_per_minute.map(u64::from), "requests_per_minute"),
        (l.burst_requests.map(u64::from), "burst_requests"),
        (l.tokens_per_minute, "tokens_per_minute"),
        (l.max_concurrent.map(u64::from), "max_concurrent"),
    ];
    for (v, name) in zero {
        if v == Some(0) {
            return Err(Error::invalid(
                format!("{name} must be at least 1 (leave it out for no limit)"),
                Some(&format!("{param}.{name}")),
            ));
        }
    }
    for (v, name) in [
        (l.cost_per_day, "cost_per_day"),
        (l.cost_per_month, "cost_per_month"),
    ] {
        if v.is_some_and(|c| !c.is_finite() || c < 0.0) {
            return Err(Error::invalid(
                format!("{name} must be a non-negative number"),
                Some(&format!("{param}.{name}")),
            ));
        }
    }
    Ok(())
}

/// Administration, over the shared tenancy state.
pub struct Admin<'a>(pub(crate) &'a Tenancy);

impl std::ops::Deref for Admin<'_> {
    type Target = Tenancy;

    fn deref(&self) -> &Tenancy {
        self.0
    }
}

impl Tenancy {
    /// Administration: tenants, keys, audit, the inference log, data subjects, encryption.
    pub fn admin(&self) -> Admin<'_> {
        Admin(self)
    }
}

impl Admin<'_> {
    fn check_guard_policy(&self, name: Option<&str>) -> Result<()> {
        match name {
            None | Some("off") => Ok(()),
            Some(n) if self.settings.guard_policies.iter().any(|p| p == n) => Ok(()),
            Some(n) => Err(Error::invalid(
                format!(
                    "unknown guard policy '{n}': use one of [guard.policies] ({}) or \"off\"",
                    self.settings.guard_policies.join(", ")
                ),
                Some("guard_policy"),
            )),
        }
    }

    fn event(
        &self,
        who: &Principal,
        action: &str,
        tenant: Option<&str>,
        target: Option<&str>,
    ) -> AuditEvent {
        events::event(&who.display, action, tenant, target)
    }

    // ----- tenants -----

    pub async fn create_tenant(&self, who: &Principal, t: NewTenant) -> Result<Tenant> {
        who.authorize(Action::ManageTenants, None)?;
        if !valid_tenant_id(&t.id) {
            return Err(Error::invalid(
                "a tenant id has 1 to 64 lowercase letters, digits, '-' or '_'",
                Some("id"),
            ));
        }
        check_limits(&t.limits, "limits")?;
        self.check_guard_policy(t.guard_policy.as_deref())?;
        if t.log_inference && self.keyring().is_none() {
            return Err(Error::invalid(
                "log_inference needs encryption.master_key in the server's configuration",
                Some("log_inference"),
            ));
        }
        let now = now_millis();
        let tenant = Tenant {
            name: t.name.unwrap_or_else(|| t.id.clone()),
            id: t.id,
            models: t.models,
            limits: t.limits,
            log_inference: t.log_inference,
            retention_days: t.retention_days,
            guard_policy: t.guard_policy,
            created_at: now,
            updated_at: now,
        };
        let mut e = self.event(who, "tenant.create", Some(&tenant.id), Some(&tenant.id));
        e.details = serde_json::json!({"name": tenant.name, "models": tenant.models, "limits": tenant.limits, "log_inference": tenant.log_inference, "retention_days": tenant.retention_days, "guard_policy": tenant.guard_policy});
        self.store.create_tenant(tenant.clone(), e).await?;
        self.reload().await?;
        Ok(tenant)
    }

    /// The tenants `who` may read: all for a platform admin, else its own.
    pub async fn tenants(&self, who: &Principal) -> Result<Vec<Tenant>> {
        if who.is_platform_admin() {
            return Ok(self.store.tenants().await?);
        }
        who.authorize(Action::Read, Some(&who.tenant))?;
        Ok(self.store.tenant(&who.tenant).await?.into_iter().collect())
    }

    pub async fn tenant(&self, who: &Principal, id: &str) -> Result<Tenant> {
        who.authorize(Action::Read, Some(id))?;
        self.store
            .tenant(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("tenant '{id}'")))
    }

    pub async fn update_tenant(&self, who: &Principal, id: &str, p: TenantPatch) -> Result<Tenant> {
        who.authorize(Action::ManageTenants, Some(id))?;
        let mut t = self
            .store
            .tenant(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("tenant '{id}'")))?;
        if let Some(l) = &p.limits {
            check_limits(l, "limits")?;
        }
        if let Some(g) = &p.guard_policy {
            self.check_guard_policy(g.as_deref())?;
        }
        if p.log_inference == Some(true) && self.keyring().is_none() {
            return Err(Error::invalid(
                "log_inference needs encryption.master_key in the server's configuration",
                Some("log_inference"),
            ));
        }
        let mut changed = serde_json::Map::new();
        if let Some(v) = p.name {
            changed.insert("name".into(), v.clone().into());
            t.name = v;
        }
        if let Some(v) = p.models {
            changed.insert("models".into(), serde_json::json!(v));
            t.models = v;
        }
        if let Some(v) = p.limits {
            changed.insert("limits".into(), serde_json::json!(v));
            t.limits = v;
        }
        if let Some(v) = p.log_inference {
            changed.insert("log_inference".into(), v.into());
            t.log_inference = v;
        }
        if let Some(v) = p.retention_days {
            changed.insert("retention_days".into(), serde_json::json!(v));
            t.retention_days = v;
        }
        if let Some(v) = p.guard_policy {
            changed.insert("guard_policy".into(), serde_json::json!(v));
            t.guard_policy = v;
        }
        t.updated_at = now_millis();
        let mut e = self.event(who, "tenant.update", Some(id), Some(id));
        e.details = serde_json::Value::Object(changed);
        self.store.update_tenant(t.clone(), e).await?;
        self.reload().await?;
        Ok(t)
    }

    pub async fn delete_tenant(&self, who: &Principal, id: &str) -> Result<()> {
        who.authorize(Action::ManageTenants, Some(id))?;
        if id == PLATFORM_TENANT || id == DEFAULT_TENANT {
            return Err(Error::Conflict(format!(
                "tenant '{id}' is built in and cannot be deleted"
            )));
        }
        let e = self.event(who, "tenant.delete", Some(id), Some(id));
        // Queued rows of the tenant are written first, so they go with it; the store keeps
        // the id as deleted, so it can never be created again and inherit anything left
        // behind (its audit entries, rows of requests still in flight).
        let _serial = self.flush_lock.lock().await;
        self.flush_locked().await?;
        self.store.delete_tenant(id, e).await?;
        drop(_serial);
        self.reload().await?;
        Ok(())
    }

    // ----- keys -----

    pub async fn create_key(
        &self,
        who: &Principal,
        tenant: &str,
        spec: NewKeySpec,
    ) -> Result<CreatedKey> {
        who.authorize(Action::ManageKeys, Some(tenant))?;
        check_limits(&spec.limits, "limits")?;
        if self.store.tenant(tenant).await?.is_none() {
            return Err(Error::NotFound(format!("tenant '{tenant}'")));
        }
        if spec.expires_at.is_some_and(|e| e <= now_millis()) {
            return Err(Error::invalid(
                "expires_at is in the past",
                Some("expires_at"),
            ));
        }
        let new = keys::generate();
        let record = KeyRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            tenant_id: tenant.to_owned(),
            name: spec.name,
            role: spec.role,
            prefix: new.prefix,
            hash: new.hash,
            limits: spec.limits,
            created_at: now_millis(),
            expires_at: spec.expires_at,
            revoked_at: None,
            last_used_at: None,
            rotated_from: None,
        };
        let mut e = self.event(who, "key.create", Some(tenant), Some(&record.id));
        e.details = serde_json::json!({"prefix": record.prefix, "name": record.name, "role": record.role.as_str(), "expires_at": record.expires_at, "limits": record.limits});
        self.store.create_key(record.clone(), e).await?;
        self.reload().await?;
        Ok(CreatedKey {
            record,
            secret: new.secret,
        })
    }

    /// Keys of `tenant` (all tenants for a platform admin when `None`).
    pub async fn keys(&self, who: &Principal, tenant: Option<&str>) -> Result<Vec<KeyRecord>> {
        match tenant {
            Some(t) => who.authorize(Action::Read, Some(t))?,
            None => who.authorize(Action::Operate, None)?,
        }
        // Last use is batched: write it first.
        self.flush().await?;
        Ok(self.store.keys(tenant).await?)
    }

    /// A key by id; another tenant's key is "not found".
    async fn key_of(&self, who: &Principal, id: &str, action: Action) -> Result<KeyRecord> {
        self.flush().await?;
        let k = self
            .store
            .key(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("key '{id}'")))?;
        who.authorize(action, Some(&k.tenant_id))
            .map_err(|e| match e {
                Error::NotFound(_) => Error::NotFound(format!("key '{id}'")),
                other => other,
            })?;
        Ok(k)
    }

    pub async fn key(&self, who: &Principal, id: &str) -> Result<KeyRecord> {
        self.key_of(who, id, Action::Read).await
    }

    pub async fn update_key(
        &self,
        who: &Principal,
        id: &str,
        update: KeyUpdate,
    ) -> Result<KeyRecord> {
        let k = self.key_of(who, id, Action::ManageKeys).await?;
        if let Some(l) = &update.limits {
            check_limits(l, "limits")?;
        }
        let action = if update.revoked_at.is_some() {
            "key.revoke"
        } else {
            "key.update"
        };
        let mut e = self.event(who, action, Some(&k.tenant_id), Some(id));
        e.details = serde_json::json!({
            "prefix": k.prefix,
            "name": update.name,
            "limits": update.limits,
            "expires_at": update.expires_at,
        });
        self.store.update_key(id, update, e).await?;
        self.reload().await?;
        self.key_of(who, id, Action::Read).await
    }

    pub async fn revoke_key(&self, who: &Principal, id: &str) -> Result<KeyRecord> {
        self.update_key(
            who,
            id,
            KeyUpdate {
                revoked_at: Some(now_millis()),
                ..KeyUpdate::default()
            },
        )
        .await
    }

    /// Replaces a key by a new one with the same tenant, role, name and limits; the old key
    /// stops working after `grace_secs` (0 = now).
    pub async fn rotate_key(
        &self,
        who: &Principal,
        id: &str,
        grace_secs: u64,
    ) -> Result<CreatedKey> {
        let old = self.key_of(who, id, Action::ManageKeys).await?;
        if old.revoked_at.is_some() {
            return Err(Error::Conflict(format!(
                "key '{id}' is revoked; create a new key instead"
            )));
        }
        let new = keys::generate();
        let now = now_millis();
        let record = KeyRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            tenant_id: old.tenant_id.clone(),
            name: old.name.clone(),
            role: old.role,
            prefix: new.prefix,
            hash: new.hash,
            limits: old.limits.clone(),
            created_at: now,
            expires_at: old.expires_at,
            revoked_at: None,
            last_used_at: None,
            rotated_from: Some(old.id.clone()),
        };
        let until = now + i64::try_from(grace_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        let old_update = KeyUpdate {
            expires_at: Some(Some(old.expires_at.map_or(until, |e| e.min(until)))),
            ..KeyUpdate::default()
        };
        let mut e = self.event(who, "key.rotate", Some(&old.tenant_id), Some(id));
        e.details = serde_json::json!({"old_prefix": old.prefix, "new_key": record.id, "new_prefix": record.prefix, "grace_secs": grace_secs});
        self.store
            .rotate_key(record.clone(), id, old_update, e)
            .await?;
        self.reload().await?;
        Ok(CreatedKey {
            record,
            secret: new.secret,
        })
    }

    // ----- usage -----

    /// Usage rows of a tenant from `from_day` on.
    pub async fn usage(
        &self,
        who: &Principal,
        tenant: &str,
        from_day: i64,
    ) -> Result<Vec<UsageRow>> {
        who.authorize(Action::Read, Some(tenant))?;
        // Include what is still queued.
        self.flush().await?;
        Ok(self.store.usage_since(Some(tenant), from_day).await?)
    }

    // ----- audit -----

    /// Audit entries after `after`: a tenant's, or all (platform admins, `tenant = None`).
    pub async fn audit_entries(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>> {
        match tenant {
            Some(t) => who.authorize(Action::Read, Some(t))?,
            None => who.authorize(Action::Operate, None)?,
        }
        self.flush().await?;
        Ok(self
            .store
            .audit_entries(after, limit.clamp(1, 10_000), tenant)
            .await?)
    }

    /// Verifies the whole chain and its anchors, and that every anchor in `exported` (copies
    /// kept outside the database by `audit.anchor_sink`) is still in it.
    pub async fn audit_verify(
        &self,
        who: &Principal,
        exported: &[atalaya_store::AuditAnchor],
    ) -> Result<Report> {
        who.authorize(Action::Operate, None)?;
        self.flush().await?;
        let verifier = std::sync::Arc::new(std::sync::Mutex::new(Verifier::new()));
        let v2 = verifier.clone();
        self.store
            .scan_audit(Box::new(move |r| {
                v2.lock().unwrap_or_else(|p| p.into_inner()).push(&r);
                Ok(())
            }))
            .await?;
        let anchors = self.store.anchors().await?;
        let verifier = std::mem::take(&mut *verifier.lock().unwrap_or_else(|p| p.into_inner()));
        let key = self.settings.audit_signing_key.clone();
        // With a key, the server anchors the head at least every interval (and at shutdown):
        // entries older than twice that, plus up to a minute of slack, should be anchored.
        let interval =
            i64::try_from(self.settings.anchor_interval.as_millis()).unwrap_or(i64::MAX / 4);
        let deadline = key.as_ref().map(|_| Deadline {
            now_ms: now_millis(),
            max_age_ms: interval
                .saturating_mul(2)
                .saturating_add(interval.min(60_000)),
        });
        Ok(verifier.finish(
            &anchors,
            &|a| match &key {
                Some(k) => {
                    a.key_id == fingerprint(k)
                        && hmac_verify(
                            k,
                            &anchor_message(a.seq, &a.hash, a.ts, a.prev.as_ref()),
                            &a.signature,
                        )
                }
                // Without the key, signatures cannot be checked: every anchor is suspect.
                None => false,
            },
            deadline,
            exported,
        ))
    }

    /// Writes every entry as one JSON line with Elastic Common Schema field names.
    pub async fn audit_export(&self, who: &Principal, out: Box<dyn Write + Send>) -> Result<u64> {
        who.authorize(Action::Operate, None)?;
        self.flush().await?;
        let out = std::sync::Arc::new(std::sync::Mutex::new((out, 0u64)));
        let o2 = out.clone();
        self.store
            .scan_audit(Box::new(move |r| {
                let mut g = o2.lock().unwrap_or_else(|p| p.into_inner());
                let line = ecs_json(&r);
                writeln!(g.0, "{line}").map_err(|e| {
                    atalaya_store::Error::Database(format!("export write failed: {e}"))
                })?;
                g.1 += 1;
                Ok(())
            }))
            .await?;
        let mut g = out.lock().unwrap_or_else(|p| p.into_inner());
        g.0.flush().map_err(|e| {
            Error::Store(atalaya_store::Error::Database(format!(
                "export write failed: {e}"
            )))
        })?;
        Ok(g.1)
    }

    // ----- inference log and data subjects -----

    /// Opens inference-log rows: those of data subjects under their subjects' keys. A row
    /// whose subject key was destroyed (erased, and the row brought back from a backup)
    /// reads as erased.
    async fn decrypt_rows(&self, rows: Vec<InferenceRecord>) -> Result<Vec<InferenceEntry>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let keyring = self.keyring().ok_or_else(|| {
            Error::Unavailable("the inference log needs encryption.master_key".into())
        })?;
        let subject_keys = self
            .subject_keys(
                rows.iter()
                    .filter_map(|r| r.subject_key_id.clone())
                    .collect(),
            )
            .await?;
        let extra = self
            .extra_data_keys(
                &keyring,
                rows.iter()
                    .filter(|r| r.subject_key_id.is_none())
                    .map(|r| r.data_key_id.as_str()),
            )
            .await?;
        rows.into_iter()
            .map(|r| {
                let aad = row_aad(&r.id, &r.tenant_id);
                let plain = match &r.subject_key_id {
                    None => Some(match extra.get(&r.data_key_id) {
                        Some(c) => crate::crypto::open(c, &r.nonce, &r.payload, &aad)?,
                        None => keyring.decrypt(&r.data_key_id, &r.nonce, &r.payload, &aad)?,
                    }),
                    Some(id) => match subject_keys.get(id) {
                        Some(k) => Some(k.open(&r.nonce, &r.payload, &aad)?),
                        None => None,
                    },
                };
                self.entry(r, plain)
            })
            .collect()
    }

    fn entry(&self, r: InferenceRecord, plain: Option<Vec<u8>>) -> Result<InferenceEntry> {
        let content = match plain {
            Some(p) => serde_json::from_slice(&p).map_err(|e| Error::Crypto(e.to_string()))?,
            None => serde_json::json!({
                "erased": "sealed under the key of a data subject who was erased; it cannot be read"
            }),
        };
        Ok(InferenceEntry {
            id: r.id,
            ts: r.ts,
            tenant: r.tenant_id,
            key_prefix: r.key_prefix,
            model: r.model,
            target: r.target,
            status: r.status,
            latency_ms: r.latency_ms,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cost_micros: r.cost_micros,
            guard: r.guard,
            content,
        })
    }

    pub async fn inference_log(
        &self,
        who: &Principal,
        tenant: &str,
        limit: usize,
        before: Option<Millis>,
    ) -> Result<Vec<InferenceEntry>> {
        who.authorize(Action::Read, Some(tenant))?;
        self.flush().await?;
        let rows = self
            .store
            .inference(tenant, limit.clamp(1, 1000), before)
            .await?;
        let entries = self.decrypt_rows(rows).await?;
        // Reading decrypted prompts is itself audited.
        let mut e = self.event(who, "inference_log.read", Some(tenant), None);
        e.details = serde_json::json!({"rows": entries.len(), "before": before});
        self.store.append_audit(vec![e]).await?;
        Ok(entries)
    }

    /// The subject's keyed hash; `None` when no inference log was ever kept (no data keys).
    async fn subject_hash(&self, subject: &str) -> Result<Option<Vec<u8>>> {
        if subject.is_empty() || subject.len() > 256 {
            return Err(Error::invalid(
                "a subject id has 1 to 256 bytes",
                Some("subject"),
            ));
        }
        match self.keyring() {
            Some(k) => Ok(Some(k.subject_hash(subject))),
            None if self.store.data_keys().await?.is_empty() => Ok(None),
            // Rows may exist, but without the master key they cannot be found.
            None => Err(Error::Unavailable(
                "the inference log holds encrypted rows, and finding a subject's rows needs encryption.master_key; configure it and retry".into(),
            )),
        }
    }

    /// Everything stored about a subject (in `tenant`, or every tenant for a platform admin).
    pub async fn export_subject(
        &self,
        who: &Principal,
        subject: &str,
        tenant: Option<&str>,
    ) -> Result<serde_json::Value> {
        let scope = self.subject_scope(who, tenant, Action::ManageSubjects)?;
        self.flush().await?;
        let mut e = self.event(who, "subject.export", scope.as_deref(), None);
        let rows = match self.subject_hash(subject).await? {
            None => Vec::new(),
            Some(h) => {
                e.target = Some(hex::encode(&h[..8]));
                self.store
                    .inference_by_subject(scope.as_deref(), &h)
                    .await?
            }
        };
        let entries = self.decrypt_rows(rows).await?;
        e.details = serde_json::json!({"inference_rows": entries.len()});
        self.store.append_audit(vec![e]).await?;
        Ok(serde_json::json!({
            "subject": subject,
            "tenant": scope,
            "inference_log": entries,
            "feedback": [],
            "documents": [],
        }))
    }

    /// Deletes every stored record of a subject; returns how many rows went.
    pub async fn erase_subject(
        &self,
        who: &Principal,
        subject: &str,
        tenant: Option<&str>,
    ) -> Result<u64> {
        let scope = self.subject_scope(who, tenant, Action::ManageSubjects)?;
        let hash = self.subject_hash(subject).await?;
        // Rows still queued are written first, and no flush can run until the erasure is
        // done, so no row of the subject lands after it.
        let _serial = self.flush_lock.lock().await;
        self.flush_locked().await?;
        let mut e = self.event(who, "subject.erase", scope.as_deref(), None);
        match hash {
            None => {
                e.details = serde_json::json!({"inference_rows": 0, "note": "no inference log (encryption not configured)"});
                self.store.append_audit(vec![e]).await?;
                Ok(0)
            }
            Some(h) => {
                // The audit entry names the subject by a short keyed hash, never in clear.
                e.target = Some(hex::encode(&h[..8]));
                e.details = serde_json::json!({});
                Ok(self.store.erase_subject(scope.as_deref(), &h, e).await?)
            }
        }
    }

    /// The tenant a subject request covers: the given one (authorized), the caller's own,
    /// or all tenants (`None`) for a platform admin who names none.
    fn subject_scope(
        &self,
        who: &Principal,
        tenant: Option<&str>,
        action: Action,
    ) -> Result<Option<String>> {
        match tenant {
            Some(t) => {
                who.authorize(action, Some(t))?;
                Ok(Some(t.to_owned()))
            }
            None if who.is_platform_admin() => Ok(None),
            None => {
                who.authorize(action, Some(&who.tenant))?;
                Ok(Some(who.tenant.clone()))
            }
        }
    }

    /// Deletes inference-log rows older than each tenant's retention.
    pub async fn enforce_retention(&self, now: Millis) -> Result<u64> {
        let mut n = 0;
        for t in self.store.tenants().await? {
            if let Some(days) = t.retention_days {
                let before = now - i64::from(days) * 86_400_000;
                n += self.store.expire_inference(&t.id, before).await?;
            }
        }
        Ok(n)
    }

    /// Re-wraps every data key under the current master key and starts a new data key for
    /// new rows. Old rows stay readable; nothing is re-encrypted.
    pub async fn rotate_encryption(&self, who: &Principal) -> Result<(usize, String)> {
        who.authorize(Action::Operate, None)?;
        let master = self
            .settings
            .master_key
            .ok_or_else(|| Error::Unavailable("encryption.master_key is not configured".into()))?;
        let current = crypto::MasterKey::new(&master);
        let (dk, _) = crypto::new_data_key(&current, crypto::PURPOSE_INFERENCE, now_millis())?;
        let new_id = dk.id.clone();
        self.store.add_data_key(dk).await?;
        let previous: Vec<crypto::MasterKey> = self
            .settings
            .previous_master_keys
            .iter()
            .map(crypto::MasterKey::new)
            .collect();
        let stored = self.store.data_keys().await?;
        let opened = crypto::Keyring::open(&stored, &current, &previous, now_millis())?;
        let n = opened.rewrapped.len();
        let mut e = self.event(who, "encryption.rotate", None, None);
        e.details =
            serde_json::json!({"new_data_key": new_id, "rewrapped": n, "master_key": current.id()});
        self.store.rewrap_data_keys(opened.rewrapped, e).await?;
        *self.keyring.write().unwrap_or_else(|p| p.into_inner()) =
            Some(std::sync::Arc::new(opened.keyring));
        Ok((n, new_id))
    }
}

/// An audit entry in Elastic Common Schema terms.
pub fn ecs_json(r: &AuditRecord) -> serde_json::Value {
    let e = &r.event;
    let ts = chrono_like(e.ts);
    let category = if e.action.starts_with("auth.") {
        "authentication"
    } else {
        "iam"
    };
    serde_json::json!({
        "@timestamp": ts,
        "event": {
            "kind": "event",
            "category": [category],
            "action": e.action,
            "outcome": e.outcome,
            "sequence": r.seq,
            "dataset": "atalaya.audit",
        },
        "user": {"name": e.actor},
        "organization": {"id": e.tenant_id},
        "source": {"ip": e.source_ip},
        "atalaya": {
            "audit": {
                "target": e.target,
                "details": e.details,
                "hash": hex::encode(r.hash),
                "prev_hash": hex::encode(r.prev_hash),
            }
        },
        "message": format!("{} {} by {}", e.action, e.outcome, e.actor),
    })
}

/// RFC 3339 UTC time of a millisecond timestamp.
pub fn chrono_like(ms: Millis) -> String {
    let day = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m) = crate::clock::month_of(day);
    let d = day - crate::clock::month_start(day) + 1;
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(chrono_like(0), "1970-01-01T00:00:00.000Z");
        // 2026-12-02T01:02:03.456Z
        assert_eq!(chrono_like(1_796_173_323_456), "2026-12-02T01:02:03.456Z");
    }

    #[test]
    fn tenant_ids() {
        assert!(valid_tenant_id("acme-eu_1"));
        assert!(!valid_tenant_id("Acme"));
        assert!(!valid_tenant_id(""));
        assert!(!valid_tenant_id("a/b"));
    }
}
