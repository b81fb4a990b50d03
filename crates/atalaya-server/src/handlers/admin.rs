//! The admin API (`/admin/v1/...`): thin handlers over `atalaya_tenancy`'s service functions
//! (the CLI calls the same ones), with wire ↔ domain conversions. Authorization happens in
//! those functions, from the caller's principal.

use std::sync::Arc;

use atalaya_api::admin::{
    AuditEntryObject, CreateKeyRequest, CreateTenantRequest, KeyObject, List, RotateKeyRequest,
    TenantObject, UpdateKeyRequest, UpdateTenantRequest, UsageReport, UsageRowObject,
};
use atalaya_core::Error;
use atalaya_service::{
    subjects::{self, DataStores},
    wire::{audit_to_wire, key_to_wire, limits_from_wire, parse_role, tenant_to_wire},
};
use atalaya_store::KeyUpdate;
use atalaya_tenancy::{
    admin::{chrono_like, NewKeySpec, NewTenant, TenantPatch},
    clock::{day_of, month_start},
};
use axum::{
    extract::{Path, Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;

use crate::{
    error::ApiError,
    extract::{check_depth, parse_json, AdminCaller, ApiJson},
    state::AppState,
};

fn created<T: serde::Serialize>(v: T) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

pub async fn create_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    ApiJson(req): ApiJson<CreateTenantRequest>,
) -> Result<Response, ApiError> {
    let t = state
        .svc
        .tenancy
        .admin()
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
    let all = state.svc.tenancy.admin().tenants(&p).await?;
    Ok(Json(List::new(
        all.into_iter().map(tenant_to_wire).collect(),
    )))
}

pub async fn get_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<TenantObject>, ApiError> {
    let t = state.svc.tenancy.admin().tenant(&p, &id).await?;
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
    let t = state
        .svc
        .tenancy
        .admin()
        .update_tenant(&p, &id, patch)
        .await?;
    Ok(Json(tenant_to_wire(t)))
}

pub async fn delete_tenant(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stores = DataStores::Process(&state.svc);
    let purged = subjects::delete_tenant(&state.svc.tenancy, &stores, &p, &id).await?;
    Ok(Json(
        serde_json::json!({"id": id, "object": "tenant", "deleted": true, "purged": purged}),
    ))
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
    let k = state
        .svc
        .tenancy
        .admin()
        .create_key(&p, &tenant, spec)
        .await?;
    Ok(created(key_to_wire(k.record, Some(k.secret))))
}

pub async fn list_keys(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(tenant): Path<String>,
) -> Result<Json<List<KeyObject>>, ApiError> {
    let keys = state.svc.tenancy.admin().keys(&p, Some(&tenant)).await?;
    Ok(Json(List::new(
        keys.into_iter().map(|k| key_to_wire(k, None)).collect(),
    )))
}

pub async fn get_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<KeyObject>, ApiError> {
    let k = state.svc.tenancy.admin().key(&p, &id).await?;
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
    let k = state
        .svc
        .tenancy
        .admin()
        .update_key(&p, &id, update)
        .await?;
    Ok(Json(key_to_wire(k, None)))
}

pub async fn revoke_key(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(id): Path<String>,
) -> Result<Json<KeyObject>, ApiError> {
    let k = state.svc.tenancy.admin().revoke_key(&p, &id).await?;
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
        check_depth(&body, state.max_json_depth)?;
        parse_json::<RotateKeyRequest>(&body)?.grace_seconds
    };
    let k = state.svc.tenancy.admin().rotate_key(&p, &id, grace).await?;
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
    let rows = state.svc.tenancy.admin().usage(&p, &tenant, from).await?;
    let mut report = UsageReport {
        object: "usage_report",
        tenant,
        currency: state.svc.tenancy.settings().limits.currency.clone(),
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
        .svc
        .tenancy
        .admin()
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
    let report = state.svc.tenancy.admin().audit_verify(&p, &[]).await?;
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
        .svc
        .tenancy
        .admin()
        .inference_log(&p, &tenant, q.limit.unwrap_or(50), q.before)
        .await?;
    Ok(Json(List::new(rows)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    pub tenant: Option<String>,
}

/// Everything stored about a data subject: the inference log (by its `user` /
/// `x-atalaya-subject` id) and the tickets whose `customer_id` it is.
pub async fn export_subject(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(subject): Path<String>,
    Query(q): Query<SubjectQuery>,
) -> Result<Response, ApiError> {
    let stores = DataStores::Process(&state.svc);
    let v = subjects::export_subject(
        &state.svc.tenancy,
        &stores,
        &p,
        &subject,
        q.tenant.as_deref(),
    )
    .await?;
    let mut r = Json(v).into_response();
    // Personal data: never cached by a proxy or browser.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// Erases a data subject: its inference-log rows, tickets and their feedback.
pub async fn erase_subject(
    State(state): State<Arc<AppState>>,
    AdminCaller(p): AdminCaller,
    Path(subject): Path<String>,
    Query(q): Query<SubjectQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let stores = DataStores::Process(&state.svc);
    let deleted = subjects::erase_subject(
        &state.svc.tenancy,
        &stores,
        &p,
        &subject,
        q.tenant.as_deref(),
    )
    .await?;
    Ok(Json(serde_json::json!({
        "object": "subject.erasure",
        "deleted": deleted,
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
