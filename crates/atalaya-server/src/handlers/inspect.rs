//! `/v1/guard/scan`, `/v1/guard/redact` and `/v1/classify`.

use std::sync::Arc;

use atalaya_api as api;
use atalaya_service::inspect::{self, Scanned};
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Response},
    Json,
};

use crate::{
    error::ApiError,
    extract::{ApiJson, Caller},
    state::AppState,
};

#[derive(Debug, serde::Deserialize)]
pub struct GuardQuery {
    /// A policy of `[guard.policies]`; default: the tenant's, else `guard.default_policy`,
    /// else built-in defaults.
    policy: Option<String>,
}

/// `POST /v1/guard/scan`: PII spans and injection scores of one text or a batch.
pub async fn guard_scan(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(q): Query<GuardQuery>,
    ApiJson(wire): ApiJson<api::guard::ScanRequest>,
) -> Result<Response, ApiError> {
    scan(&state, &ctx, q, wire, false).await
}

/// `POST /v1/guard/redact`: the same, plus the redacted text.
pub async fn guard_redact(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(q): Query<GuardQuery>,
    ApiJson(wire): ApiJson<api::guard::ScanRequest>,
) -> Result<Response, ApiError> {
    scan(&state, &ctx, q, wire, true).await
}

async fn scan(
    state: &AppState,
    ctx: &atalaya_service::context::RequestContext,
    q: GuardQuery,
    wire: api::guard::ScanRequest,
    redact: bool,
) -> Result<Response, ApiError> {
    Ok(
        match inspect::scan(&state.svc, ctx, q.policy.as_deref(), wire, redact).await? {
            Scanned::One(r) => Json(r).into_response(),
            Scanned::Batch(data) => Json(api::guard::ScanList {
                object: "list".into(),
                data,
            })
            .into_response(),
        },
    )
}

/// `POST /v1/classify`: the caller's tenant's classifier on one text or a list.
pub async fn classify(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    ApiJson(wire): ApiJson<api::classify::ClassifyRequest>,
) -> Result<Json<api::classify::ClassifyResponse>, ApiError> {
    let texts = match wire.input {
        api::classify::ClassifyInput::One(t) => vec![t],
        api::classify::ClassifyInput::Many(v) => v,
    };
    let predictions = inspect::classify(&state.svc, &ctx, wire.classifier.clone(), texts).await?;
    Ok(Json(atalaya_service::wire::classify_response(
        wire.classifier,
        predictions,
    )))
}
