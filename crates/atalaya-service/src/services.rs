//! Everything the transports call, assembled from a validated configuration: providers →
//! gateway, local models, knowledge, guard, tenancy, classifiers, pipelines. The server and
//! the CLI build it the same way.

use std::{path::PathBuf, sync::Arc};

use atalaya_config::Config;
use atalaya_core::{gateway::Gateway, metrics::Metrics, Error};
use atalaya_tenancy::Tenancy;

use crate::{
    classify::ClassifyService,
    guard::GuardService,
    knowledge::{EngineEmbedder, KnowledgeService},
    pipeline::{load_pipelines, PipelineService},
};

/// The services of one process.
pub struct Services {
    pub gateway: Arc<Gateway>,
    /// The knowledge base (`None` when `knowledge.enabled = false`).
    pub knowledge: Option<Arc<KnowledgeService>>,
    /// Guardrails (policies per route, `/v1/guard/*`).
    pub guard: Arc<GuardService>,
    /// Tenants, keys, limits, audit and inference logs.
    pub tenancy: Arc<Tenancy>,
    /// Tenants' trained classifiers.
    pub classify: Arc<ClassifyService>,
    /// Pipelines and tickets.
    pub pipelines: Arc<PipelineService>,
    /// Where the stores live (`server.data_dir`).
    pub data_dir: PathBuf,
}

impl Services {
    /// Builds everything from a validated configuration. `lookup` resolves `env:` secrets.
    /// Local models load here: a bad file stops start-up.
    pub async fn build(
        config: &Config,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<Self>, Error> {
        let metrics = Arc::new(Metrics::new());
        let mut providers = atalaya_providers::build_providers(config.gateway(), lookup)?;
        let local =
            atalaya_engine::provider::build_local(config.gateway(), Some(metrics.local.clone()))?;
        providers.extend(local.providers);
        let gateway = Arc::new(Gateway::new(config.gateway(), &providers, metrics)?);
        let storage = crate::storage::Storage::open(config, lookup).await?;
        let knowledge = if config.knowledge.enabled {
            Some(KnowledgeService::start(config, &local.embedders, &storage)?)
        } else {
            None
        };
        let pipelines = load_pipelines(config)?;
        let guard = Arc::new(GuardService::new(config, gateway.metrics().clone())?);
        let tenancy =
            open_tenancy(config, lookup, &storage, Some(gateway.metrics().clone())).await?;
        let classify = Arc::new(ClassifyService::new(
            storage.classifiers(),
            local
                .embedders
                .iter()
                .map(|(n, e)| (n.clone(), Arc::new(EngineEmbedder::new(n, e.clone()))))
                .collect(),
        ));
        let pipelines = Arc::new(PipelineService::new(
            config,
            pipelines,
            gateway.clone(),
            knowledge.clone(),
            classify.clone(),
            guard.clone(),
            tenancy.clone(),
            storage.tickets(),
        )?);
        Ok(Arc::new(Services {
            gateway,
            knowledge,
            guard,
            tenancy,
            classify,
            pipelines,
            data_dir: config.server.data_dir.clone(),
        }))
    }

    /// The knowledge base, or why not.
    pub fn knowledge(&self) -> Result<&Arc<KnowledgeService>, Error> {
        self.knowledge.as_ref().ok_or_else(|| {
            Error::Unavailable("the knowledge base is disabled (knowledge.enabled = false)".into())
        })
    }
}

/// Opens the platform store (`[storage]`) and the tenancy service, its limits and budgets
/// shared through Redis when `[coordination]` names one (reported in `metrics`). With
/// authentication on, some key must be able to authenticate.
pub async fn open_tenancy(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
    storage: &crate::storage::Storage,
    metrics: Option<Arc<Metrics>>,
) -> Result<Arc<Tenancy>, Error> {
    let settings = config.tenancy_settings(lookup)?;
    let store = storage.platform().await?;
    let opened = match crate::coordination::open(config, lookup, store.clone()).await? {
        None => Tenancy::open(store, settings).await,
        Some(shared) => {
            if let Some(m) = metrics {
                crate::coordination::report(&shared.redis, m);
            }
            Tenancy::open_with(store, settings, shared.limiter, Some(shared.budgets)).await
        }
    };
    let tenancy = opened.map_err(|e| match e {
        atalaya_tenancy::Error::Invalid { message, param } => {
            Error::config(param.unwrap_or_default(), message)
        }
        atalaya_tenancy::Error::Crypto(m) => Error::config("encryption.master_key", m),
        other => Error::from(other),
    })?;
    // Replicas on Postgres hear each other's changes at once (LISTEN/NOTIFY); the change
    // counter, polled every 250 ms, stays as the backstop.
    if let Some(signal) = storage.listen_changes()? {
        tenancy.watch_changes(signal);
    }
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
