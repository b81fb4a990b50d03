//! Operations: `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;

use atalaya_core::routing::CircuitState;
use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::{error::ApiError, state::AppState};

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Whether a request may see operational detail (`/metrics`, the readiness targets): always
/// without `server.metrics_key`, else only with that key as its bearer token.
fn metrics_access(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(digest) = &state.metrics_key {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if auth.is_none() {
            return Err(ApiError(atalaya_core::Error::MissingApiKey));
        }
        if !atalaya_config::auth::bearer_matches(auth, digest) {
            return Err(ApiError(atalaya_core::Error::InvalidApiKey));
        }
    }
    Ok(())
}

/// `GET /readyz`: ready when the configuration is loaded (it is, or the server would not
/// run), the server is not shutting down, and at least one target can take requests; with
/// why not. The per-target detail (models, upstream names, circuit states) only for a caller
/// that may read the metrics.
pub async fn readyz(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let (status, reason) = if state.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting down"))
    } else if !state.svc.gateway.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("no target can take requests: circuits open or upstream health checks failing"),
        )
    } else {
        (StatusCode::OK, None)
    };
    let mut body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "reason": reason,
    });
    if metrics_access(&state, &headers).is_ok() {
        body["targets"] = state
            .svc
            .gateway
            .health()
            .into_iter()
            .map(|t| {
                json!({
                    "model": t.model,
                    "target": t.target,
                    "state": match t.state {
                        CircuitState::Closed => "closed",
                        CircuitState::HalfOpen => "half_open",
                        CircuitState::Open => "open",
                    },
                    "upstream_up": t.upstream_up,
                })
            })
            .collect();
    }
    (status, Json(body)).into_response()
}

pub async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    metrics_access(&state, &headers)?;
    let text = state.svc.gateway.metrics().encode().map_err(|e| {
        ApiError(atalaya_core::Error::Internal(format!(
            "metrics encoding: {e}"
        )))
    })?;
    let mut r = Response::new(axum::body::Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(r)
}
