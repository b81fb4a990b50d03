//! The axum application: routes, shared state, middleware.

use std::sync::Arc;

use atalaya_core::{config::Config, gateway::Gateway};
use axum::{
    middleware,
    routing::{get, post},
    Router,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{error, handlers, observe};

pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub max_body_bytes: u64,
    /// Bounds the API requests served at once (`server.max_concurrent_requests`).
    pub limiter: Arc<Semaphore>,
    /// Cancelled when shutdown starts (readiness turns 503).
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(config: &Config, gateway: Arc<Gateway>, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(AppState {
            gateway,
            max_body_bytes: config.server.max_body_bytes,
            limiter: Arc::new(Semaphore::new(config.server.max_concurrent_requests)),
            shutdown,
        })
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/v1/embeddings", post(handlers::embeddings))
        .route("/v1/models", get(handlers::list_models))
        .route("/healthz", get(handlers::healthz))
        .route("/readyz", get(handlers::readyz))
        .route("/metrics", get(handlers::metrics))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
