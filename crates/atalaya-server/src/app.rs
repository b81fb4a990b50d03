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

use atalaya_tenancy::Tenancy;

use crate::{
    admin, error, guard::GuardService, handlers, kb_handlers, knowledge::KnowledgeService, observe,
    pipeline_handlers,
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
    /// Tenants, keys, limits, audit and inference logs.
    pub tenancy: Arc<Tenancy>,
    /// Tenants' trained classifiers (`/v1/classify`).
    pub classify: Arc<crate::classify::ClassifyService>,
    /// Pipelines and tickets.
    pub pipelines: Arc<crate::pipeline::PipelineService>,
    pub max_json_depth: usize,
    pub max_header_bytes: usize,
    /// Whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: atalaya_core::proxy::TrustedProxies,
    /// The digest of the key `/metrics` requires (`server.metrics_key`).
    pub metrics_key: Option<[u8; 32]>,
}

/// The services the application serves, built by [`crate::server::Server::build`].
pub struct Services {
    pub gateway: Arc<Gateway>,
    pub knowledge: Option<Arc<KnowledgeService>>,
    pub guard: Arc<GuardService>,
    pub tenancy: Arc<Tenancy>,
    pub classify: Arc<crate::classify::ClassifyService>,
    pub pipelines: Arc<crate::pipeline::PipelineService>,
    pub metrics_key: Option<[u8; 32]>,
}

impl AppState {
    pub fn new(config: &Config, services: Services, shutdown: CancellationToken) -> Arc<Self> {
        let Services {
            gateway,
            knowledge,
            guard,
            tenancy,
            classify,
            pipelines,
            metrics_key,
        } = services;
        Arc::new(AppState {
            gateway,
            max_body_bytes: config.server.max_body_bytes,
            limiter: Arc::new(Semaphore::new(config.server.max_concurrent_requests)),
            shutdown,
            knowledge,
            guard,
            tenancy,
            classify,
            pipelines,
            max_json_depth: config.server.max_json_depth,
            max_header_bytes: config.server.max_header_bytes,
            // Validated with the configuration.
            trusted_proxies: atalaya_core::proxy::TrustedProxies::parse(
                &config.server.trusted_proxies,
            )
            .unwrap_or_default(),
            metrics_key,
        })
    }
}

pub fn app(state: Arc<AppState>) -> Router {
    app_with_cors(state, &[])
}

/// The application, with CORS for `origins` (none = CORS off: no CORS headers, preflight
/// requests are not answered).
pub fn app_with_cors(state: Arc<AppState>, origins: &[String]) -> Router {
    let router = routes(state.clone());
    if origins.is_empty() {
        return router;
    }
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| axum::http::HeaderValue::from_str(o).ok()),
        )
    };
    router.layer(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                axum::http::Method::GET,
                axum::http::Method::POST,
                axum::http::Method::PATCH,
                axum::http::Method::DELETE,
            ])
            .allow_headers([
                axum::http::header::AUTHORIZATION,
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderName::from_static("x-request-id"),
                axum::http::HeaderName::from_static("x-atalaya-subject"),
            ])
            .expose_headers([
                axum::http::HeaderName::from_static("x-request-id"),
                axum::http::HeaderName::from_static("x-ratelimit-remaining-requests"),
                axum::http::HeaderName::from_static("x-ratelimit-remaining-tokens"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

fn routes(state: Arc<AppState>) -> Router {
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
        .route("/v1/classify", post(handlers::classify))
        .route("/v1/pipelines", get(pipeline_handlers::list_pipelines))
        .route("/v1/pipelines/{name}", get(pipeline_handlers::get_pipeline))
        .route(
            "/v1/pipelines/{name}/run",
            post(pipeline_handlers::run_pipeline),
        )
        .route(
            "/v1/tickets",
            post(pipeline_handlers::create_ticket).get(pipeline_handlers::list_tickets),
        )
        .route("/v1/tickets/{id}", get(pipeline_handlers::get_ticket))
        .route(
            "/v1/tickets/{id}/feedback",
            post(pipeline_handlers::ticket_feedback),
        )
        .route("/v1/guard/scan", post(handlers::guard_scan))
        .route("/v1/guard/redact", post(handlers::guard_redact))
        .route("/v1/tasks", get(kb_handlers::list_tasks))
        .route("/v1/tasks/{id}", get(kb_handlers::get_task))
        .route(
            "/admin/v1/tenants",
            post(admin::create_tenant).get(admin::list_tenants),
        )
        .route(
            "/admin/v1/tenants/{id}",
            get(admin::get_tenant)
                .patch(admin::update_tenant)
                .delete(admin::delete_tenant),
        )
        .route(
            "/admin/v1/tenants/{id}/keys",
            post(admin::create_key).get(admin::list_keys),
        )
        .route("/admin/v1/tenants/{id}/usage", get(admin::usage))
        .route(
            "/admin/v1/tenants/{id}/inference-log",
            get(admin::inference_log),
        )
        .route(
            "/admin/v1/keys/{id}",
            get(admin::get_key)
                .patch(admin::update_key)
                .delete(admin::revoke_key),
        )
        .route("/admin/v1/keys/{id}/rotate", post(admin::rotate_key))
        .route("/admin/v1/audit", get(admin::audit))
        .route("/admin/v1/audit/verify", get(admin::audit_verify))
        .route(
            "/admin/v1/subjects/{id}",
            get(admin::export_subject).delete(admin::erase_subject),
        )
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
