//! The assembled server: providers → gateway → app, plus the health-check loops. The binary
//! and the tests build it the same way.

use std::sync::Arc;

use atalaya_core::{config::Config, gateway::Gateway, metrics::Metrics, Error};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    app::{app, AppState},
    guard::GuardService,
    health::run_health_checks,
    knowledge::KnowledgeService,
    serve::{serve, ServerError, Shutdown},
};

pub struct Server {
    gateway: Arc<Gateway>,
    knowledge: Option<Arc<KnowledgeService>>,
    state: Arc<AppState>,
    shutdown: CancellationToken,
    grace: std::time::Duration,
}

impl Server {
    /// Builds everything from a validated configuration. `lookup` resolves `env:` secrets.
    pub fn build(
        config: &Config,
        lookup: &dyn Fn(&str) -> Option<String>,
        shutdown: CancellationToken,
    ) -> Result<Self, Error> {
        let metrics = Arc::new(Metrics::new());
        let mut providers = atalaya_providers::build_providers(config, lookup)?;
        // Local models load here, before the listener opens: a bad file stops start-up.
        let local = atalaya_engine::provider::build_local(config, Some(metrics.local.clone()))?;
        providers.extend(local.providers);
        let gateway = Arc::new(Gateway::new(config, &providers, metrics, lookup)?);
        let knowledge = if config.knowledge.enabled {
            Some(KnowledgeService::start(config, &local.embedders)?)
        } else {
            None
        };
        let guard = Arc::new(GuardService::new(config, gateway.metrics().clone())?);
        let state = AppState::new(
            config,
            gateway.clone(),
            knowledge.clone(),
            guard,
            shutdown.clone(),
        );
        Ok(Server {
            gateway,
            state,
            knowledge,
            shutdown,
            grace: config.shutdown_grace(),
        })
    }

    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Serves until the shutdown token is cancelled and in-flight requests have drained (or
    /// the grace period ran out); health checks run alongside and stop with it.
    pub async fn run(self, listener: TcpListener) -> Result<Shutdown, ServerError> {
        let health = run_health_checks(self.gateway.clone(), self.shutdown.clone());
        let serving = serve(listener, app(self.state), self.shutdown.clone(), self.grace);
        let knowledge = self.knowledge.clone();
        let (outcome, ()) = tokio::join!(
            async {
                let r = serving.await;
                // However serving ended, the health loops end with it.
                self.shutdown.cancel();
                r
            },
            health
        );
        if let Some(k) = knowledge {
            // The worker finishes its current step; what is left resumes at the next start.
            let _ = tokio::task::spawn_blocking(move || k.stop()).await;
        }
        outcome
    }
}
