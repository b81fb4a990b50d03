//! The axum application: routes, shared state, middleware.

use std::sync::Arc;

use atalaya_core::{config::Config, gateway::Gateway};
use axum::{
    middleware,
    routing::{delete, get, post},
    Router,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::{
    error, guard::GuardService, handlers, kb_handlers, knowledge::KnowledgeService, observe,
};

pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub max_body_bytes: u64,
    /// Bounds the API requests served at once (`server.max_concurrent_requests`).
    pub limiter: Arc<Semaphore>,
    /// Cancelled when shutdown starts (readiness turns 503).
    pub shutdown: CancellationToken,
    /// The knowledge API (`None` when `knowledge.enabled = false`).
    pub knowledge: Option<Arc<KnowledgeService>>,
    /// Guardrails (policies per route, `/v1/guard/*`).
    pub guard: Arc<GuardService>,
}

impl AppState {
    pub fn new(
        config: &Config,
        gateway: Arc<Gateway>,
        knowledge: Option<Arc<KnowledgeService>>,
        guard: Arc<GuardService>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(AppState {
            gateway,
            max_body_bytes: config.server.max_body_bytes,
            limiter: Arc::new(Semaphore::new(config.server.max_concurrent_requests)),
            shutdown,
            knowledge,
            guard,
        })
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(handlers::chat_completions))
        .route("/v1/embeddings", post(handlers::embeddings))
        .route("/v1/models", get(handlers::list_models))
        .route(
            "/v1/knowledge",
            post(kb_handlers::create_collection).get(kb_handlers::list_collections),
        )
        .route(
            "/v1/knowledge/{collection}",
            get(kb_handlers::get_collection).delete(kb_handlers::delete_collection),
        )
        .route(
            "/v1/knowledge/{collection}/documents",
            post(kb_handlers::upload).get(kb_handlers::list_documents),
        )
        .route(
            "/v1/knowledge/{collection}/documents/{id}",
            delete(kb_handlers::delete_document),
        )
        .route("/v1/knowledge/{collection}/query", post(kb_handlers::query))
        .route(
            "/v1/knowledge/{collection}/answer",
            post(kb_handlers::answer),
        )
        .route("/v1/guard/scan", post(handlers::guard_scan))
        .route("/v1/guard/redact", post(handlers::guard_redact))
        .route("/v1/tasks", get(kb_handlers::list_tasks))
        .route("/v1/tasks/{id}", get(kb_handlers::get_task))
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
