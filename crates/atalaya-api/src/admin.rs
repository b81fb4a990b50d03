//! The admin API's wire types (`/admin/v1/...`). Times are Unix seconds, as in OpenAI's
//! objects; costs are in the configured currency.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Limits of a tenant or key; absent fields = no limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsObject {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst_requests: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_day: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_month: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_day: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_per_month: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Models the tenant may call; absent or empty = all.
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub limits: LimitsObject,
    #[serde(default)]
    pub log_inference: bool,
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// A `[guard.policies]` name, or `"off"`, for all the tenant's requests; absent = each
    /// route's own policy.
    #[serde(default)]
    pub guard_policy: Option<String>,
}

/// A partial update: absent fields are left as they are; `retention_days: null` keeps rows
/// for ever.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub limits: Option<LimitsObject>,
    #[serde(default)]
    pub log_inference: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    pub retention_days: Option<Option<u32>>,
    /// `null` returns to each route's policy.
    #[serde(default, deserialize_with = "double_option")]
    pub guard_policy: Option<Option<String>>,
}

/// Distinguishes an absent field (`None`) from `null` (`Some(None)`).
fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantObject {
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub models: Vec<String>,
    pub limits: LimitsObject,
    pub log_inference: bool,
    pub retention_days: Option<u32>,
    pub guard_policy: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    pub name: String,
    /// `admin`, `member` (default) or `viewer`.
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub limits: LimitsObject,
    /// Unix seconds.
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub limits: Option<LimitsObject>,
    /// Unix seconds; `null` removes the expiry.
    #[serde(default, deserialize_with = "double_option")]
    pub expires_at: Option<Option<i64>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyRequest {
    /// Seconds the old key keeps working (default 0: it stops now).
    #[serde(default)]
    pub grace_seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyObject {
    pub object: &'static str,
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub role: String,
    /// The visible beginning of the key.
    pub prefix: String,
    pub limits: LimitsObject,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub rotated_from: Option<String>,
    /// The key itself: only in the response that creates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct List<T> {
    pub object: &'static str,
    pub data: Vec<T>,
}

impl<T> List<T> {
    pub fn new(data: Vec<T>) -> Self {
        List {
            object: "list",
            data,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageRowObject {
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
    pub key_id: String,
    pub model: String,
    pub requests: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub object: &'static str,
    pub tenant: String,
    pub currency: String,
    pub data: Vec<UsageRowObject>,
    pub total_requests: u64,
    pub total_tokens: u64,
    pub total_cost: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntryObject {
    pub seq: i64,
    /// RFC 3339.
    pub timestamp: String,
    pub actor: String,
    pub action: String,
    pub tenant: Option<String>,
    pub target: Option<String>,
    pub outcome: String,
    pub source_ip: Option<String>,
    pub details: Value,
    pub hash: String,
}
