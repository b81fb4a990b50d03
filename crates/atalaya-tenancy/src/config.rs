//! Configuration sections owned by this crate (`[audit]`, `[encryption]`, `[pricing]`,
//! `[limits]`); `atalaya-core` embeds them in the gateway's config, validates the
//! references and resolves secrets into [`Settings`].

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// HMAC-SHA256 key that signs anchors of the chain (`env:NAME` or `file:PATH`, at least
    /// 32 bytes). Unset = no anchors: the chain still catches changes inside the log, but not
    /// a rewritten chain or a cut-off end.
    pub signing_key: Option<String>,
    /// Anchor the head after this many new entries…
    pub anchor_every: u64,
    /// …or after this many seconds with new entries.
    pub anchor_interval_secs: u64,
    /// Where each anchor is also written, outside the database, so that it can be shipped to
    /// write-once storage: `stdout` (one JSON line per anchor) or `file:PATH` (appended).
    /// `atalaya audit verify --anchors FILE` checks the database against them.
    pub anchor_sink: Option<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            signing_key: None,
            anchor_every: 1000,
            anchor_interval_secs: 60,
            anchor_sink: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncryptionConfig {
    /// The master key (`env:NAME` or `file:PATH`; 32 bytes as base64 or hex) that wraps the
    /// data keys of the inference log. Unset = the inference log is unavailable.
    pub master_key: Option<String>,
    /// Master keys being rotated out: data keys they wrapped are re-wrapped under
    /// `master_key` at start-up (or by `atalaya encryption rotate`).
    pub previous_master_keys: Vec<String>,
}

/// Price of a model, in the currency of `limits.currency`, per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Price {
    pub input_per_million: f64,
    pub output_per_million: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Completion tokens reserved for a request that sets no `max_tokens` (reconciled with
    /// the upstream's usage when it ends).
    pub estimate_completion_tokens: u64,
    /// Currency label of `[pricing]` and of cost budgets.
    pub currency: String,
    /// Hours between retention sweeps of the inference log.
    pub retention_sweep_hours: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            estimate_completion_tokens: 256,
            currency: "USD".into(),
            retention_sweep_hours: 1,
        }
    }
}

/// Where anchors are copied outside the database.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum AnchorSink {
    #[default]
    None,
    Stdout,
    File(std::path::PathBuf),
}

impl AnchorSink {
    /// `stdout` or `file:PATH`.
    pub fn parse(s: &str) -> Option<AnchorSink> {
        match s {
            "stdout" => Some(AnchorSink::Stdout),
            _ => s
                .strip_prefix("file:")
                .filter(|p| !p.is_empty())
                .map(|p| AnchorSink::File(p.into())),
        }
    }
}

/// Everything the tenancy service needs, secrets resolved.
#[derive(Clone, Default)]
pub struct Settings {
    pub auth_enabled: bool,
    /// SHA-256 digests of the keys of `auth.api_keys` (tenant `default`, role member).
    pub static_keys: Vec<[u8; 32]>,
    /// A platform-admin key to create on first start.
    pub bootstrap_admin_key: Option<String>,
    pub audit_signing_key: Option<Vec<u8>>,
    pub anchor_every: u64,
    pub anchor_interval: Duration,
    pub anchor_sink: AnchorSink,
    pub master_key: Option<[u8; 32]>,
    pub previous_master_keys: Vec<[u8; 32]>,
    pub pricing: BTreeMap<String, Price>,
    pub limits: LimitsConfig,
    /// Names of the configured guard policies (a tenant's `guard_policy` must be one, or
    /// `off`).
    pub guard_policies: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("auth_enabled", &self.auth_enabled)
            .field("static_keys", &self.static_keys.len())
            .field("audit_signing_key", &self.audit_signing_key.is_some())
            .field("master_key", &self.master_key.is_some())
            .finish_non_exhaustive()
    }
}

/// A secret reference (`env:NAME`, `file:PATH`) resolved, or why it cannot be.
pub type Resolve<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Problems with the `[audit]`, `[encryption]`, `[pricing]` and `[limits]` sections, as
/// (key, problem). `resolve` reads secret references; `quote` writes a name as a TOML key.
pub fn check(
    audit: &AuditConfig,
    encryption: &EncryptionConfig,
    pricing: &BTreeMap<String, Price>,
    limits: &LimitsConfig,
    resolve: Resolve<'_>,
    quote: fn(&str) -> String,
) -> Vec<(String, String)> {
    let mut issues = Vec::new();
    let mut issue = |k: String, p: String| issues.push((k, p));
    if let Some(r) = &audit.signing_key {
        match resolve(r) {
            Ok(k) if k.len() < 32 => issue(
                "audit.signing_key".into(),
                "must be at least 32 bytes; `openssl rand -base64 32` makes one".into(),
            ),
            Ok(_) => {}
            Err(p) => issue("audit.signing_key".into(), p),
        }
    }
    if audit.anchor_every == 0 {
        issue("audit.anchor_every".into(), "must be at least 1".into());
    }
    if let Some(sink) = &audit.anchor_sink {
        if AnchorSink::parse(sink).is_none() {
            issue(
                "audit.anchor_sink".into(),
                format!("'{sink}' is not `stdout` or `file:PATH`"),
            );
        } else if audit.signing_key.is_none() {
            issue(
                "audit.anchor_sink".into(),
                "anchors are written only with audit.signing_key set".into(),
            );
        }
    }
    if audit.anchor_interval_secs == 0 {
        issue(
            "audit.anchor_interval_secs".into(),
            "must be at least 1".into(),
        );
    }
    let mut master_keys = Vec::new();
    if let Some(r) = &encryption.master_key {
        match resolve(r).and_then(|k| crate::crypto::decode_key(&k)) {
            Ok(k) => master_keys.push(k),
            Err(p) => issue("encryption.master_key".into(), p),
        }
    }
    for (i, r) in encryption.previous_master_keys.iter().enumerate() {
        let key = format!("encryption.previous_master_keys[{i}]");
        if encryption.master_key.is_none() {
            issue(
                key.clone(),
                "needs encryption.master_key (the key they rotate to)".into(),
            );
        }
        match resolve(r).and_then(|k| crate::crypto::decode_key(&k)) {
            Ok(k) if master_keys.first() == Some(&k) => {
                issue(key, "is the same key as encryption.master_key".into())
            }
            Ok(_) => {}
            Err(p) => issue(key, p),
        }
    }
    for (model, price) in pricing {
        for (field, v) in [
            ("input_per_million", price.input_per_million),
            ("output_per_million", price.output_per_million),
        ] {
            if !v.is_finite() || v < 0.0 {
                issue(
                    format!("pricing.{}.{field}", quote(model)),
                    "must be a non-negative number".into(),
                );
            }
        }
    }
    if limits.currency.trim().is_empty() {
        issue("limits.currency".into(), "must not be empty".into());
    }
    if limits.retention_sweep_hours == 0 {
        issue(
            "limits.retention_sweep_hours".into(),
            "must be at least 1".into(),
        );
    }
    issues
}
