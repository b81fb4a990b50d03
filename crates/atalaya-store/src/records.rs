//! The records the platform keeps. Plain data: the rules about them (who may change what, how
//! keys are generated and verified, how text is encrypted) live in `atalaya-tenancy`.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
pub type Millis = i64;

/// Limits of a tenant or of one key. `None` = no limit at this level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Sustained requests per minute (GCRA; bursts up to `burst_requests`).
    pub requests_per_minute: Option<u32>,
    /// Largest burst of requests admitted at once (default: `requests_per_minute`).
    pub burst_requests: Option<u32>,
    /// Prompt + completion tokens per minute (estimated before the call, reconciled with
    /// the upstream's usage after it).
    pub tokens_per_minute: Option<u64>,
    /// Requests in flight at once (a stream counts until it ends).
    pub max_concurrent: Option<u32>,
    /// Budgets per UTC calendar day and month, in tokens.
    pub tokens_per_day: Option<u64>,
    pub tokens_per_month: Option<u64>,
    /// Budgets in currency (the price table's unit, `[pricing]`), per UTC day and month.
    pub cost_per_day: Option<f64>,
    pub cost_per_month: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// Stable identifier: lowercase letters, digits, `-` and `_`.
    pub id: String,
    pub name: String,
    /// Model names this tenant may call; empty = every model.
    pub models: Vec<String>,
    pub limits: Limits,
    /// Store each request and answer (encrypted) in the inference log.
    pub log_inference: bool,
    /// Inference-log rows older than this many days are deleted; `None` = kept.
    pub retention_days: Option<u32>,
    /// The guard policy (a `[guard.policies]` name, or `off`) of this tenant's requests on
    /// every route; `None` = each route's own.
    pub guard_policy: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a key may do. Ordered by reach within its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads its tenant's usage, audit entries and inference log; cannot call models.
    Viewer,
    /// Calls the API (models, knowledge, guard).
    Member,
    /// Everything a member does, and manages its tenant's keys; an admin of the platform
    /// tenant manages every tenant.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An API key as stored: never the secret, only its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub role: Role,
    /// The visible beginning of the key (`atl_` and 8 characters), shown in listings.
    pub prefix: String,
    pub hash: [u8; 32],
    pub limits: Limits,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    /// The key this one replaced (`keys rotate`).
    pub rotated_from: Option<String>,
}

/// A change to a key's mutable fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyUpdate {
    pub name: Option<String>,
    pub limits: Option<Limits>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<Millis>>,
    pub revoked_at: Option<Millis>,
}

/// Usage added by finished requests, aggregated per tenant, key, model and UTC day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageDelta {
    pub tenant_id: String,
    pub key_id: String,
    pub model: String,
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Cost in millionths of the price table's unit.
    pub cost_micros: u64,
}

/// One row of a usage report.
pub type UsageRow = UsageDelta;

/// An audit event before it is chained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub ts: Millis,
    /// Who acted: a key prefix (`atl_AbC123xy`), `cli:<user>`, `system` or `anonymous`.
    pub actor: String,
    /// What was done, dotted: `tenant.create`, `key.revoke`, `auth.failure`, ...
    pub action: String,
    pub tenant_id: Option<String>,
    /// The object acted on (a tenant id, a key id, a subject's hash).
    pub target: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    pub source_ip: Option<String>,
    /// Further non-secret details as JSON (an object).
    pub details: serde_json::Value,
}

/// An audit entry as stored: the event, its position and its place in the hash chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    pub event: AuditEvent,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// A signature over the chain's head at `seq`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditAnchor {
    pub seq: i64,
    pub hash: [u8; 32],
    pub ts: Millis,
    /// The link to the anchor before it ([`crate::audit::anchor_link`] of its signature;
    /// zeros for the first): removing or replacing an anchor breaks the next one's link.
    /// `None` for anchors written before anchors were chained.
    pub prev: Option<[u8; 32]>,
    /// `hmac-sha256-chained` (signs the link too) or, for old anchors, `hmac-sha256`.
    pub algorithm: String,
    /// Which signing key (a fingerprint, not the key).
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// A data-encryption key, wrapped (encrypted) by a master key.
#[derive(Debug, Clone, PartialEq)]
pub struct DataKey {
    pub id: String,
    /// `nonce || ciphertext` under the master key `master_key_id`.
    pub wrapped: Vec<u8>,
    pub master_key_id: String,
    pub created_at: Millis,
    /// New rows are encrypted under the active key of their purpose.
    pub active: bool,
    /// `inference` (row payloads), `subject-index` (the key of subject hashes) or
    /// `subject-keys` (the key that wraps every data subject's own key).
    pub purpose: String,
}

/// A data subject's own key in one tenant (crypto-shredding): the subject's stored text
/// (inference-log payloads, tickets) is sealed under it, and erasing the subject destroys
/// it, so every copy of that text (replicas, WAL, backups) becomes unreadable.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectKey {
    pub id: String,
    pub tenant_id: String,
    /// The subject's keyed hash (as in [`InferenceRecord::subject_hash`]).
    pub subject_hash: Vec<u8>,
    /// The `subject-keys` data key that wraps it.
    pub data_key_id: String,
    /// `nonce || ciphertext` under that data key.
    pub wrapped: Vec<u8>,
    pub created_at: Millis,
}

/// One inference-log row: metadata in clear, prompt and answer encrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceRecord {
    pub id: String,
    pub ts: Millis,
    pub tenant_id: String,
    pub key_prefix: String,
    /// Keyed hash of the data subject (`user` / `x-atalaya-subject`), for erasure and export.
    pub subject_hash: Option<Vec<u8>>,
    pub model: String,
    pub target: Option<String>,
    pub status: u16,
    pub latency_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost_micros: Option<u64>,
    /// The guard's summary (counts and scores, never text).
    pub guard: Option<String>,
    /// The data key at the root of the payload's encryption: the `inference` key it is
    /// sealed under or, for a row of a data subject, the `subject-keys` key that wraps
    /// `subject_key_id`.
    pub data_key_id: String,
    /// The subject key the payload is sealed under (rows of a data subject written since
    /// crypto-shredding; `None` for others).
    pub subject_key_id: Option<String>,
    pub nonce: Vec<u8>,
    /// AES-256-GCM ciphertext of the JSON payload (subject, messages, answer).
    pub payload: Vec<u8>,
}
