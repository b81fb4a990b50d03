//! Handlers: extract, convert wire → domain, call the gateway service, convert back.

use std::sync::Arc;

use atalaya_api as api;
use atalaya_core::{
    domain::{ChatRequest, EmbeddingRequest, Usage},
    routing::{CircuitState, Routed},
};
use axum::{
    extract::{Extension, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use serde_json::json;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{ApiJson, Caller},
    observe::Facts,
    sse::sse_response,
};

fn routed_headers(h: &mut HeaderMap, target: &str, attempts: u32) {
    if let Ok(v) = HeaderValue::from_str(target) {
        h.insert("x-atalaya-target", v);
    }
    h.insert("x-atalaya-attempts", HeaderValue::from(attempts));
}

/// Notes the requested model for the log line and metrics.
fn note_model(facts: &Facts, model: &str, stream: bool) {
    facts.update(|f| {
        f.model = Some(model.to_owned());
        f.stream = stream;
    });
}

/// Notes where and how a request was served.
fn note_routed<T>(facts: &Facts, routed: &Routed<T>, usage: Option<Usage>) {
    facts.update(|f| {
        f.target = Some(routed.target.clone());
        f.attempts = routed.attempts;
        f.upstream_time = Some(routed.upstream_time);
        if usage.is_some() {
            f.usage = usage;
        }
    });
}

/// The upstream's JSON, forwarded as is, with the routing headers.
fn routed_json<T>(body: Bytes, routed: &Routed<T>) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    routed_headers(r.headers_mut(), &routed.target, routed.attempts);
    r
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    ApiJson(wire): ApiJson<api::ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let req = ChatRequest::try_from(wire)?;
    note_model(&facts, &req.model, req.stream);
    if req.stream {
        let routed = state.gateway.chat_stream(&ctx, &req).await?;
        let ttfc = ctx.received_at.elapsed();
        state
            .gateway
            .metrics()
            .time_to_first_token(&req.model, ttfc);
        note_routed(&facts, &routed, None);
        facts.update(|f| f.time_to_first_chunk = Some(ttfc));
        let (target, attempts) = (routed.target.clone(), routed.attempts);
        let mut response = sse_response(routed.value, req.include_usage, facts);
        routed_headers(response.headers_mut(), &target, attempts);
        Ok(response)
    } else {
        let routed = state.gateway.chat(&ctx, &req).await?;
        note_routed(&facts, &routed, routed.value.usage);
        Ok(routed_json(routed.value.body.clone(), &routed))
    }
}

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    ApiJson(wire): ApiJson<api::EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let req = EmbeddingRequest::try_from(wire)?;
    note_model(&facts, &req.model, false);
    let routed = state.gateway.embed(&ctx, &req).await?;
    note_routed(&facts, &routed, routed.value.usage);
    Ok(routed_json(routed.value.body.clone(), &routed))
}

pub async fn list_models(
    State(state): State<Arc<AppState>>,
    Caller(_ctx): Caller,
) -> Json<api::ModelList> {
    Json(api::ModelList {
        object: "list".into(),
        data: state
            .gateway
            .models()
            .into_iter()
            .map(|m| api::ModelObject {
                id: m.id,
                object: "model".into(),
                created: m.created,
                owned_by: m.owned_by,
                atalaya: m.details,
            })
            .collect(),
    })
}

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready when the configuration is loaded (it is, or the server would not run), the server
/// is not shutting down, and at least one target can take requests.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let targets: Vec<_> = state
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
    let (status, reason) = if state.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting down"))
    } else if !state.gateway.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("no target can take requests: circuits open or upstream health checks failing"),
        )
    } else {
        (StatusCode::OK, None)
    };
    let body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "reason": reason,
        "targets": targets,
    });
    (status, Json(body)).into_response()
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let text = state.gateway.metrics().encode().map_err(|e| {
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
