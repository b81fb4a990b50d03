//! The assembled server: the services, the app over them, the listener, plus the health-check
//! loops. The binary and the tests build it the same way.

use std::sync::Arc;

use atalaya_config::Config;
use atalaya_core::{gateway::Gateway, Error};
use atalaya_service::{pipeline::PipelineService, Services};
use atalaya_tenancy::Tenancy;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    app::app_with_cors,
    health::run_health_checks,
    serve::{serve, ServerError, Shutdown},
    state::AppState,
};

pub struct Server {
    svc: Arc<Services>,
    cors: Vec<String>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    grace: std::time::Duration,
    conn_limits: crate::serve::ConnLimits,
}

impl Server {
    /// Builds everything from a validated configuration. `lookup` resolves `env:` secrets.
    pub async fn build(
        config: &Config,
        lookup: &dyn Fn(&str) -> Option<String>,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        // Local models load here, before the listener opens: a bad file stops start-up.
        let svc = Services::build(config, lookup).await?;
        let metrics_key = config
            .server
            .metrics_key
            .as_deref()
            .map(|k| atalaya_config::auth::key_digest(k, lookup))
            .transpose()
            .map_err(|problem| Error::config("server.metrics_key", problem))?;
        let state = AppState::new(config, svc.clone(), metrics_key, shutdown.clone());
        Ok(Server {
            svc,
            state,
            cors: config.server.cors_allowed_origins.clone(),
            shutdown,
            grace: config.shutdown_grace(),
            conn_limits: crate::serve::ConnLimits {
                max_connections: config.server.max_connections,
                header_read_timeout: std::time::Duration::from_millis(
                    config.server.header_read_timeout_ms,
                ),
                body_read_timeout: std::time::Duration::from_millis(
                    config.server.body_read_timeout_ms,
                ),
                min_body_bytes_per_sec: config.server.min_body_bytes_per_sec,
            },
        })
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.svc.gateway
    }

    pub fn tenancy(&self) -> &Arc<Tenancy> {
        &self.svc.tenancy
    }

    pub fn pipelines(&self) -> &Arc<PipelineService> {
        &self.svc.pipelines
    }

    /// Serves until the shutdown token is cancelled and in-flight requests have drained (or
    /// the grace period ran out); health checks run alongside and stop with it.
    pub async fn run(self, listener: TcpListener) -> Result<Shutdown, ServerError> {
        let health = run_health_checks(self.svc.gateway.clone(), self.shutdown.clone());
        let app = app_with_cors(self.state, &self.cors);
        let serving = serve(
            listener,
            app,
            self.shutdown.clone(),
            self.grace,
            self.conn_limits,
        );
        let knowledge = self.svc.knowledge.clone();
        // Upkeep stops when serving has ended (after the last request settled), then flushes.
        let upkeep_stop = CancellationToken::new();
        let upkeep = self.svc.tenancy.clone().run(upkeep_stop.clone());
        // The shared knowledge backend's task worker (nothing to run with the embedded one).
        let worker = async {
            if let Some(k) = self.svc.knowledge.clone() {
                k.run_worker(upkeep_stop.clone()).await;
            }
        };
        let (outcome, (), (), ()) = tokio::join!(
            async {
                let r = serving.await;
                // However serving ended, the health loops end with it.
                self.shutdown.cancel();
                upkeep_stop.cancel();
                r
            },
            health,
            upkeep,
            worker
        );
        if let Some(k) = knowledge {
            // The worker finishes its current step; what is left resumes at the next start.
            let _ = tokio::task::spawn_blocking(move || k.stop()).await;
        }
        outcome
    }
}
