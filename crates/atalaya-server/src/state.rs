//! The application's shared state: the services, and what the HTTP layer itself needs
//! (body and header limits, the concurrency limit, shutdown, trusted proxies).

use std::sync::Arc;

use atalaya_config::Config;
use atalaya_service::Services;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

pub struct AppState {
    /// Everything the handlers call.
    pub svc: Arc<Services>,
    pub max_body_bytes: u64,
    /// Bounds the API requests served at once (`server.max_concurrent_requests`).
    pub limiter: Arc<Semaphore>,
    /// Cancelled when shutdown starts (readiness turns 503).
    pub shutdown: CancellationToken,
    pub max_json_depth: usize,
    pub max_header_bytes: usize,
    /// Whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: atalaya_core::proxy::TrustedProxies,
    /// The digest of the key `/metrics` requires (`server.metrics_key`).
    pub metrics_key: Option<[u8; 32]>,
}

impl AppState {
    pub fn new(
        config: &Config,
        svc: Arc<Services>,
        metrics_key: Option<[u8; 32]>,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(AppState {
            svc,
            max_body_bytes: config.server.max_body_bytes,
            limiter: Arc::new(Semaphore::new(config.server.max_concurrent_requests)),
            shutdown,
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
