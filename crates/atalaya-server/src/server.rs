//! The assembled server: providers → gateway → app, plus the health-check loops. The binary
//! and the tests build it the same way.

use std::sync::Arc;

use atalaya_core::{config::Config, gateway::Gateway, metrics::Metrics, Error};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use atalaya_tenancy::Tenancy;

use crate::{
    app::{app_with_cors, AppState},
    guard::GuardService,
    health::run_health_checks,
    knowledge::KnowledgeService,
    serve::{serve, ServerError, Shutdown},
};

pub struct Server {
    gateway: Arc<Gateway>,
    knowledge: Option<Arc<KnowledgeService>>,
    tenancy: Arc<Tenancy>,
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
        let metrics = Arc::new(Metrics::new());
        let mut providers = atalaya_providers::build_providers(config, lookup)?;
        // Local models load here, before the listener opens: a bad file stops start-up.
        let local = atalaya_engine::provider::build_local(config, Some(metrics.local.clone()))?;
        providers.extend(local.providers);
        let gateway = Arc::new(Gateway::new(config, &providers, metrics)?);
        let knowledge = if config.knowledge.enabled {
            Some(KnowledgeService::start(config, &local.embedders)?)
        } else {
            None
        };
        let pipelines = crate::pipeline::load_pipelines(config)?;
        let guard = Arc::new(GuardService::new(config, gateway.metrics().clone())?);
        let tenancy = open_tenancy(config, lookup).await?;
        let classify = Arc::new(crate::classify::ClassifyService::new(
            &config.server.data_dir,
            local
                .embedders
                .iter()
                .map(|(n, e)| {
                    (
                        n.clone(),
                        Arc::new(crate::knowledge::EngineEmbedder::new(n, e.clone())),
                    )
                })
                .collect(),
        ));
        let pipelines = Arc::new(crate::pipeline::PipelineService::new(
            config,
            pipelines,
            gateway.clone(),
            knowledge.clone(),
            classify.clone(),
            guard.clone(),
            tenancy.clone(),
        )?);
        let metrics_key = config
            .server
            .metrics_key
            .as_deref()
            .map(|k| atalaya_core::auth::key_digest(k, lookup))
            .transpose()
            .map_err(|problem| Error::config("server.metrics_key", problem))?;
        let state = AppState::new(
            config,
            crate::app::Services {
                metrics_key,
                gateway: gateway.clone(),
                knowledge: knowledge.clone(),
                guard,
                tenancy: tenancy.clone(),
                classify,
                pipelines,
            },
            shutdown.clone(),
        );
        Ok(Server {
            gateway,
            state,
            knowledge,
            tenancy,
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
        &self.gateway
    }

    pub fn tenancy(&self) -> &Arc<Tenancy> {
        &self.tenancy
    }

    /// The pipelines (the CLI's `atalaya tickets triage` runs them in-process).
    pub fn pipelines(&self) -> &Arc<crate::pipeline::PipelineService> {
        &self.state.pipelines
    }

    /// Serves until the shutdown token is cancelled and in-flight requests have drained (or
    /// the grace period ran out); health checks run alongside and stop with it.
    pub async fn run(self, listener: TcpListener) -> Result<Shutdown, ServerError> {
        let health = run_health_checks(self.gateway.clone(), self.shutdown.clone());
        let app = app_with_cors(self.state, &self.cors);
        let serving = serve(
            listener,
            app,
            self.shutdown.clone(),
            self.grace,
            self.conn_limits,
        );
        let knowledge = self.knowledge.clone();
        // Upkeep stops when serving has ended (after the last request settled), then flushes.
        let upkeep_stop = CancellationToken::new();
        let upkeep = self.tenancy.clone().run(upkeep_stop.clone());
        let (outcome, (), ()) = tokio::join!(
            async {
                let r = serving.await;
                // However serving ended, the health loops end with it.
                self.shutdown.cancel();
                upkeep_stop.cancel();
                r
            },
            health,
            upkeep
        );
        if let Some(k) = knowledge {
            // The worker finishes its current step; what is left resumes at the next start.
            let _ = tokio::task::spawn_blocking(move || k.stop()).await;
        }
        outcome
    }
}

/// Opens the platform store (`<data_dir>/platform.db`) and the tenancy service. With
/// authentication on, some key must be able to authenticate.
pub async fn open_tenancy(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<Tenancy>, Error> {
    let settings = config.tenancy_settings(lookup)?;
    let dir = config.server.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || atalaya_store::SqliteStore::open_dir(&dir))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::config("server.data_dir", e.to_string()))?;
    let tenancy = Tenancy::open(Arc::new(store), settings)
        .await
        .map_err(|e| match e {
            atalaya_tenancy::Error::Invalid { message, param } => {
                Error::config(param.unwrap_or_default(), message)
            }
            atalaya_tenancy::Error::Crypto(m) => Error::config("encryption.master_key", m),
            other => Error::from(other),
        })?;
    if config.auth.enabled && !tenancy.has_usable_key() {
        return Err(Error::config(
            "auth.api_keys",
            "no key can authenticate: add \"env:NAME\" or \"sha256:<hex>\" entries (`atalaya keys hash` prints one), set ATALAYA_ADMIN_KEY to an `atalaya keys generate` key for a first platform admin, create keys with `atalaya keys create`, or set auth.enabled = false for local development",
        ));
    }
    if config.audit.signing_key.is_none() {
        tracing::warn!("audit.signing_key is not set: the audit chain is not anchored (a rewritten chain or a cut-off end would go unnoticed)");
    }
    Ok(tenancy)
}
