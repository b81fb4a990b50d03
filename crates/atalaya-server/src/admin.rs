//! The admin API (`/admin/v1/...`): thin handlers over `atalaya_tenancy`'s service functions
//! (the CLI calls the same ones), with wire ↔ domain conversions. Authorization happens in
//! those functions, from the caller's principal.

use std::sync::Arc;

use atalaya_api::admin::{
    AuditEntryObject, CreateKeyRequest, CreateTenantRequest, KeyObject, LimitsObject, List,
    RotateKeyRequest, TenantObject, UpdateKeyRequest, UpdateTenantRequest, UsageReport,
    UsageRowObject,
};
use atalaya_core::{context::Principal, Error};
use atalaya_store::{AuditRecord, KeyRecord, KeyUpdate, Limits, Role, Tenant};
use atalaya_tenancy::{
    admin::{chrono_like, NewKeySpec, NewTenant, TenantPatch},
    clock::{day_of, month_start},
};
use axum::{
    extract::{FromRequestParts, Path, Query, State},
    http::{header, request::Parts, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;

use crate::{app::AppState, error::ApiError, extract::ApiJson};

/// An authenticated caller of the admin API (no API role needed: each operation checks its
/// own).
pub struct AdminCaller(pub Principal);

impl FromRequestParts<Arc<AppState>> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if !state.tenancy.settings().auth_enabled {
            return Err(Error::PermissionDenied(
                "the admin API needs authentication (auth.enabled = true)".into(),
            )
            .into());
        }
        let p = crate::extract::authenticate(parts, state).await?;
        Ok(AdminCaller(p))
    }
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

pub fn limits_to_wire(l: &Limits) -> LimitsObject {
    LimitsObject {
        requests_per_minute: l.requests_per_minute,
        burst_requests: l.burst_requests,
        tokens_per_minute: l.tokens_per_minute,
        max_concurrent: l.max_concurrent,
        tokens_per_day: l.tokens_per_day,
        tokens_per_month: l.tokens_per_month,
        cost_per_day: l.cost_per_day,
        cost_per_month: l.cost_per_month,
    }
}

pub fn limits_from_wire(l: LimitsObject) -> Limits {
    Limits {
        requests_per_minute: l.requests_per_minute,
        burst_requests: l.burst_requests,
        tokens_per_minute: l.tokens_per_minute,
        max_concurrent: l.max_concurrent,
        tokens_per_day: l.tokens_per_day,
        tokens_per_month: l.tokens_per_month,
        cost_per_day: l.cost_per_day,
        cost_per_month: l.cost_per_month,
    }
}

pub fn tenant_to_wire(t: Tenant) -> TenantObject {
    TenantObject {
        object: "tenant",
        limits: limits_to_wire(&t.limits),
        id: t.id,
        name: t.name,
        models: t.models,
        log_inference: t.log_inference,
        retention_days: t.retention_days,
        guard_policy: t.guard_policy,
        created_at: secs(t.created_at),
        updated_at: secs(t.updated_at),
    }
}

pub fn key_to_wire(k: KeyRecord, secret: Option<String>) -> KeyObject {
    KeyObject {
        object: "api_key",
        limits: limits_to_wire(&k.limits),
        id: k.id,
        tenant: k.tenant_id,
        name: k.name,
        role: k.role.as_str().to_owned(),
        prefix: k.prefix,
        created_at: secs(k.created_at),
        expires_at: k.expires_at.map(secs),
        revoked_at: k.revoked_at.map(secs),
        last_used_at: k.last_used_at.map(secs),
        rotated_from: k.rotated_from,
        key: secret,
    }
}

pub fn audit_to_wire(r: AuditRecord) -> AuditEntryObject {
    AuditEntryObject {
        seq: r.seq,
        timestamp: chrono_like(r.event.ts),
        actor: r.event.actor,
        action: r.event.action,
        tenant: r.event.tenant_id,
        target: r.event.target,
        outcome: r.event.outcome,
        source_ip: r.event.source_ip,
        details: r.event.details,
        hash: hex_of(&r.hash),
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn parse_role(role: Option<&str>) -> Result<Role, Error> {
    match role {
        None => Ok(Role::Member),
        Some(r) => Role::parse(r).ok_or_else(|| {
            Error::invalid(
                format!("unknown role '{r}': use admin, member or viewer"),
                Some("role"),
            )
        }),
    }
}

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

pub async fn create_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<Response, ApiError> {
    let t = state
        .tenancy
        .create_tenant(
            &p,
            NewTenant {
                id: req.id,
                name: req.name,
                models: req.models,
                limits: limits_from_wire(req.limits),
                log_inference: req.log_inference,
                retention_days: req.retention_days,
                guard_policy: req.guard_policy,
            },
        )
        .await?;
    Ok(created(tenant_to_wire(t)))
}

pub async fn list_tenants(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
) -> Result<Json<List<TenantObject>>, ApiError> {
    let all = state.tenancy.tenants(&p).await?;
    Ok(Json(List::new(
        all.into_iter().map(tenant_to_wire).collect(),
    )))
}

pub async fn get_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<TenantObject>, ApiError> {
    let t = state.tenancy.tenant(&p, &id).await?;
    Ok(Json(tenant_to_wire(t)))
}

pub async fn update_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateTenantRequest>,
) -> Result<Json<TenantObject>, ApiError> {
    let patch = TenantPatch {
        name: req.name,
        models: req.models,
        limits: req.limits.map(limits_from_wire),
        log_inference: req.log_inference,
        retention_days: req.retention_days,
        guard_policy: req.guard_policy,
    };
    let t = state.tenancy.update_tenant(&p, &id, patch).await?;
    Ok(Json(tenant_to_wire(t)))
}

pub async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.tenancy.delete_tenant(&p, &id).await?;
    let purged = purge_tenant_data(&state, &id).await?;
    Ok(Json(
        serde_json::json!({"id": id, "object": "tenant", "deleted": true, "purged": purged}),
    ))
}

/// Everything a deleted tenant left outside the platform store: knowledge collections (with
/// their index files) and tasks, tickets, classifiers.
async fn purge_tenant_data(state: &AppState, tenant: &str) -> Result<serde_json::Value, Error> {
    let collections = match &state.knowledge {
        Some(k) => match k.kb(false).map_err(crate::error::knowledge_error)? {
            Some(kb) => {
                let t = tenant.to_owned();
                crate::knowledge::blocking(move || {
                    kb.delete_tenant(&t).map_err(crate::error::knowledge_error)
                })
                .await?
            }
            None => 0,
        },
        None => 0,
    };
    let tickets = state
        .pipelines
        .delete_tenant_tickets(tenant.to_owned())
        .await?;
    let classifiers = state.classify.delete_tenant(tenant)?;
    Ok(serde_json::json!({
        "collections": collections,
        "tickets": tickets,
        "classifiers": classifiers,
    }))
}

pub async fn create_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(tenant): Path<String>,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> Result<Response, ApiError> {
    let spec = NewKeySpec {
        name: req.name,
        role: parse_role(req.role.as_deref())?,
        limits: limits_from_wire(req.limits),
        expires_at: req.expires_at.map(|s| s.saturating_mul(1000)),
    };
    let k = state.tenancy.create_key(&p, &tenant, spec).await?;
    Ok(created(key_to_wire(k.record, Some(k.secret))))
}

pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(tenant): Path<String>,
) -> Result<Json<List<KeyObject>>, ApiError> {
    let keys = state.tenancy.keys(&p, Some(&tenant)).await?;
    Ok(Json(List::new(
        keys.into_iter().map(|k| key_to_wire(k, None)).collect(),
    )))
}

pub async fn get_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<KeyObject>, ApiError> {
    let k = state.tenancy.key(&p, &id).await?;
    Ok(Json(key_to_wire(k, None)))
}

pub async fn update_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateKeyRequest>,
) -> Result<Json<KeyObject>, ApiError> {
    let update = KeyUpdate {
        name: req.name,
        limits: req.limits.map(limits_from_wire),
        expires_at: req.expires_at.map(|e| e.map(|s| s.saturating_mul(1000))),
        revoked_at: None,
    };
    let k = state.tenancy.update_key(&p, &id, update).await?;
    Ok(Json(key_to_wire(k, None)))
}

pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<KeyObject>, ApiError> {
    let k = state.tenancy.revoke_key(&p, &id).await?;
    Ok(Json(key_to_wire(k, None)))
}

pub async fn rotate_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: none = no grace period.
    let grace = if body.iter().all(u8::is_ascii_whitespace) {
        0
    } else {
        crate::extract::check_depth(&body, state.max_json_depth)?;
        crate::extract::parse_json::<RotateKeyRequest>(&body)?.grace_seconds
    };
    let k = state.tenancy.rotate_key(&p, &id, grace).await?;
    Ok(created(key_to_wire(k.record, Some(k.secret))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `YYYY-MM-DD` (UTC); default: the first day of the current month.
    pub from: Option<String>,
}

/// Day number of a `YYYY-MM-DD` date.
fn parse_date(s: &str) -> Option<i64> {
    let mut it = s.split('-');
    let (y, m, d) = (
        it.next()?.parse::<i64>().ok()?,
        it.next()?.parse::<u32>().ok()?,
        it.next()?.parse::<i64>().ok()?,
    );
    if it.next().is_some() || !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    // Search the month's first day from an estimate (30.44 days a month from 1970).
    let guess = (y - 1970) * 365 + (y - 1969) / 4 + (i64::from(m) - 1) * 30;
    let mut day = guess - 40;
    while atalaya_tenancy::clock::month_of(day) < (y, m) {
        day += 1;
        if day > guess + 40 {
            return None;
        }
    }
    (atalaya_tenancy::clock::month_of(day) == (y, m)
        && atalaya_tenancy::clock::month_of(day + d - 1) == (y, m))
        .then_some(day + d - 1)
}

pub async fn usage(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(tenant): Path<String>,
    Query(q): Query<UsageQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let from = match q.from.as_deref() {
        None => month_start(day_of(atalaya_tenancy::service::now_millis())),
        Some(s) => parse_date(s).ok_or_else(|| {
            Error::invalid(format!("'{s}' is not a date like 2026-12-01"), Some("from"))
        })?,
    };
    let rows = state.tenancy.usage(&p, &tenant, from).await?;
    let mut report = UsageReport {
        object: "usage_report",
        tenant,
        currency: state.tenancy.settings().limits.currency.clone(),
        data: Vec::with_capacity(rows.len()),
        total_requests: 0,
        total_tokens: 0,
        total_cost: 0.0,
    };
    for r in rows {
        let cost = r.cost_micros as f64 / 1e6;
        report.total_requests += r.requests;
        report.total_tokens += r.prompt_tokens + r.completion_tokens;
        report.total_cost += cost;
        report.data.push(UsageRowObject {
            date: chrono_like(r.day * 86_400_000)[..10].to_owned(),
            key_id: r.key_id,
            model: r.model,
            requests: r.requests,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            cost,
        });
    }
    Ok(Json(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub tenant: Option<String>,
    #[serde(default)]
    pub after: i64,
    pub limit: Option<usize>,
}

pub async fn audit(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Query(q): Query<PageQuery>,
) -> Result<Json<List<AuditEntryObject>>, ApiError> {
    // A tenant's admins and viewers see their own tenant's entries by default.
    let tenant = match q.tenant {
        Some(t) => Some(t),
        None if p.is_platform_admin() => None,
        None => Some(p.tenant.clone()),
    };
    let rows = state
        .tenancy
        .audit_entries(&p, tenant.as_deref(), q.after, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(List::new(
        rows.into_iter().map(audit_to_wire).collect(),
    )))
}

pub async fn audit_verify(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let report = state.tenancy.audit_verify(&p, &[]).await?;
    let messages: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
    Ok(Json(serde_json::json!({
        "ok": report.ok(),
        "entries": report.entries,
        "anchors": report.anchors,
        "last_seq": report.last_seq,
        "unanchored": report.unanchored,
        "findings": report.findings,
        "messages": messages,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferenceQuery {
    pub limit: Option<usize>,
    /// Unix milliseconds (the `ts` of the last row of the previous page): rows before it.
    pub before: Option<i64>,
}

pub async fn inference_log(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(tenant): Path<String>,
    Query(q): Query<InferenceQuery>,
) -> Result<Json<List<atalaya_tenancy::admin::InferenceEntry>>, ApiError> {
    let rows = state
        .tenancy
        .inference_log(&p, &tenant, q.limit.unwrap_or(50), q.before)
        .await?;
    Ok(Json(List::new(rows)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    pub tenant: Option<String>,
}

/// The tenant a subject request covers once the tenancy service has authorized it: the
/// named one, the caller's own, or every tenant (`None`) for a platform admin who names none.
fn subject_scope(p: &Principal, tenant: Option<&str>) -> Option<String> {
    match tenant {
        Some(t) => Some(t.to_owned()),
        None if p.is_platform_admin() => None,
        None => Some(p.tenant.clone()),
    }
}

/// Everything stored about a data subject: the inference log (by its `user` /
/// `x-atalaya-subject` id) and the tickets whose `customer_id` it is.
pub async fn export_subject(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(subject): Path<String>,
    Query(q): Query<SubjectQuery>,
) -> Result<Response, ApiError> {
    let mut v = state
        .tenancy
        .export_subject(&p, &subject, q.tenant.as_deref())
        .await?;
    let tickets = state
        .pipelines
        .customer_tickets(subject_scope(&p, q.tenant.as_deref()), subject)
        .await?;
    v["tickets"] = serde_json::to_value(
        tickets
            .into_iter()
            .map(|t| crate::pipeline_handlers::ticket_wire(t, true))
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let mut r = Json(v).into_response();
    // Personal data: never cached by a proxy or browser.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// Deletes every stored record of a data subject: inference-log rows and tickets (with
/// their feedback).
pub async fn erase_subject(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(subject): Path<String>,
    Query(q): Query<SubjectQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = state
        .tenancy
        .erase_subject(&p, &subject, q.tenant.as_deref())
        .await?;
    let (tickets, feedback) = state
        .pipelines
        .erase_customer(subject_scope(&p, q.tenant.as_deref()), subject)
        .await?;
    Ok(Json(serde_json::json!({
        "object": "subject.erasure",
        "deleted": {"inference_log": n, "tickets": tickets, "ticket_feedback": feedback, "feedback": 0, "documents": 0},
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2026-12-02"), Some(20789));
        assert_eq!(parse_date("2000-02-29"), Some(11016));
        assert_eq!(parse_date("2001-02-29"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("99999999999999-01-01"), None);
    }
}
