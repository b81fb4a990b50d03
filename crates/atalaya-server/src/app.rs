//! The axum application: routes and middleware over the shared [`AppState`].

use std::sync::Arc;

use crate::{
    error,
    handlers::{admin, chat, inspect, knowledge, ops, pipelines, tickets},
    observe,
    state::AppState,
};
use axum::{
    middleware,
    routing::{delete, get, post},
    Router,
};

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
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/embeddings", post(chat::embeddings))
        .route("/v1/models", get(chat::list_models))
        .route(
            "/v1/knowledge",
            post(knowledge::create_collection).get(knowledge::list_collections),
        )
        .route(
            "/v1/knowledge/{collection}",
            get(knowledge::get_collection).delete(knowledge::delete_collection),
        )
        .route(
            "/v1/knowledge/{collection}/documents",
            post(knowledge::upload).get(knowledge::list_documents),
        )
        .route(
            "/v1/knowledge/{collection}/documents/{id}",
            delete(knowledge::delete_document),
        )
        .route("/v1/knowledge/{collection}/query", post(knowledge::query))
        .route("/v1/knowledge/{collection}/answer", post(knowledge::answer))
        .route("/v1/classify", post(inspect::classify))
        .route("/v1/pipelines", get(pipelines::list_pipelines))
        .route("/v1/pipelines/{name}", get(pipelines::get_pipeline))
        .route("/v1/pipelines/{name}/run", post(pipelines::run_pipeline))
        .route(
            "/v1/tickets",
            post(tickets::create_ticket).get(tickets::list_tickets),
        )
        .route("/v1/tickets/{id}", get(tickets::get_ticket))
        .route("/v1/tickets/{id}/feedback", post(tickets::ticket_feedback))
        .route("/v1/guard/scan", post(inspect::guard_scan))
        .route("/v1/guard/redact", post(inspect::guard_redact))
        .route("/v1/tasks", get(knowledge::list_tasks))
        .route("/v1/tasks/{id}", get(knowledge::get_task))
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
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            observe::observe,
        ))
        .with_state(state)
}
