//! `/v1/pipelines`: list, describe, run. (`"model": "pipeline:NAME"` on chat completions is
//! served by the chat service.)

use std::sync::Arc;

use atalaya_api::pipeline as wire;
use atalaya_service::{call::Facts, runs, wire as convert};
use axum::{
    extract::{Extension, Path, State},
    http::HeaderMap,
    Json,
};

use crate::{
    error::ApiError,
    extract::{ApiJson, Caller},
    respond::subject,
    state::AppState,
};

pub async fn list_pipelines(
    State(state): State<Arc<AppState>>,
    Caller(_ctx): Caller,
) -> Json<wire::PipelineList> {
    Json(wire::PipelineList {
        object: "list".into(),
        data: state
            .svc
            .pipelines
            .list()
            .iter()
            .map(|p| convert::info(p))
            .collect(),
    })
}

pub async fn get_pipeline(
    State(state): State<Arc<AppState>>,
    Caller(_ctx): Caller,
    Path(name): Path<String>,
) -> Result<Json<wire::PipelineInfo>, ApiError> {
    let p = state.svc.pipelines.get(&name)?;
    Ok(Json(convert::info(&p)))
}

/// `POST /v1/pipelines/{name}/run`.
pub async fn run_pipeline(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(w): ApiJson<wire::RunRequest>,
) -> Result<Json<wire::RunResponse>, ApiError> {
    state.svc.pipelines.get(&name)?;
    let subject = subject(&headers, w.input.customer_id.as_deref());
    let input = convert::run_input(w.input)?;
    let outcome = runs::run(&state.svc, &ctx, &facts, &name, input, subject).await?;
    Ok(Json(convert::run_response(outcome)))
}
