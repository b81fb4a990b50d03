//! `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`.

use std::sync::Arc;

use atalaya_api as api;
use atalaya_service::{
    call::Facts,
    chat::{self, ChatCall, EmbedCall},
};
use axum::{
    extract::{Extension, State},
    http::HeaderMap,
    response::Response,
    Json,
};

use crate::{
    error::ApiError,
    extract::{ApiJson, Caller},
    respond::{chat_reply, json_bytes, subject},
    state::AppState,
};

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<api::ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let subject = subject(&headers, request.user.as_deref());
    let reply = chat::chat(&state.svc, &ctx, &facts, ChatCall { request, subject }).await?;
    Ok(chat_reply(reply, facts))
}

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<api::EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let user = request.extra.get("user").and_then(|u| u.as_str());
    let subject = subject(&headers, user);
    let (body, served) =
        chat::embeddings(&state.svc, &ctx, &facts, EmbedCall { request, subject }).await?;
    Ok(json_bytes(body, Some(&served)))
}

pub async fn list_models(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> Json<api::ModelList> {
    Json(chat::models(&state.svc, &ctx))
}
