//! The one place the storage backend is chosen from `[storage]`: [`Storage`] opens it once
//! per process (for Postgres: one pool, every schema migrated or checked) and hands out each
//! subsystem's backend.

use std::sync::Arc;

use atalaya_config::{storage::MigrateMode, Config};
use atalaya_core::Error;
use atalaya_store::Store;

/// Every component's Postgres schema, in the order they are migrated.
pub fn schemas() -> Vec<&'static atalaya_postgres::Schema> {
    vec![
        &atalaya_store::postgres::SCHEMA,
        &atalaya_knowledge::postgres::SCHEMA,
        &atalaya_pipeline::pg_tickets::SCHEMA,
        &atalaya_classify::postgres::SCHEMA,
    ]
}

fn postgres_error(e: atalaya_postgres::Error) -> Error {
    match e {
        atalaya_postgres::Error::Config(m) => Error::config("storage.url", m),
        atalaya_postgres::Error::SchemaNewer(m) => Error::config("storage", m),
        atalaya_postgres::Error::Unavailable(m) => {
            Error::Unavailable(format!("storage: cannot reach Postgres ({m})"))
        }
        atalaya_postgres::Error::Database(m) => Error::Internal(format!("storage: {m}")),
    }
}

/// A pool on the configured database (`None` for the sqlite backend), checked.
pub async fn postgres_pool(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<atalaya_postgres::Pool>, Error> {
    let Some(settings) = config.storage.postgres(lookup)? else {
        return Ok(None);
    };
    connect(&settings).await.map(Some)
}

async fn connect(settings: &atalaya_postgres::Settings) -> Result<atalaya_postgres::Pool, Error> {
    atalaya_postgres::connect(settings)
        .await
        .map_err(postgres_error)
}

/// Where every schema stands.
pub async fn migration_status(
    pool: &atalaya_postgres::Pool,
) -> Result<Vec<atalaya_postgres::SchemaStatus>, Error> {
    atalaya_postgres::status(pool, &schemas())
        .await
        .map_err(postgres_error)
}

/// Applies pending migrations (under the advisory lock); returns what was pending.
pub async fn migrate_up(
    pool: &atalaya_postgres::Pool,
) -> Result<Vec<atalaya_postgres::SchemaStatus>, Error> {
    atalaya_postgres::migrate(pool, &schemas())
        .await
        .map_err(postgres_error)
}

/// The configured storage, opened.
#[derive(Clone)]
pub struct Storage {
    data_dir: std::path::PathBuf,
    pool: Option<atalaya_postgres::Pool>,
    /// The pool's settings (the URL resolved), for the change listener.
    postgres: Option<atalaya_postgres::Settings>,
    task_lease: std::time::Duration,
}

impl Storage {
    /// Opens the configured backend: for Postgres, connects and brings every schema up to
    /// date (or, with `storage.migrate = "manual"`, refuses pending migrations).
    pub async fn open(
        config: &Config,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Storage, Error> {
        let postgres = config.storage.postgres(lookup)?;
        let pool = match &postgres {
            Some(settings) => Some(connect(settings).await?),
            None => None,
        };
        if let Some(pool) = &pool {
            match config.storage.migrate {
                MigrateMode::Auto => {
                    for s in migrate_up(pool).await? {
                        tracing::info!(
                            component = %s.component,
                            from = s.applied,
                            to = s.known,
                            "storage schema migrated"
                        );
                    }
                }
                MigrateMode::Manual => {
                    let pending: Vec<String> = migration_status(pool)
                        .await?
                        .into_iter()
                        .filter(|s| !s.pending.is_empty())
                        .map(|s| format!("{} {} → {}", s.component, s.applied, s.known))
                        .collect();
                    if !pending.is_empty() {
                        return Err(Error::config(
                            "storage.migrate",
                            format!(
                                "migrations are pending ({}); run `atalaya migrate up`, or set storage.migrate = \"auto\"",
                                pending.join(", ")
                            ),
                        ));
                    }
                }
            }
        }
        Ok(Storage {
            data_dir: config.server.data_dir.clone(),
            pool,
            postgres,
            task_lease: std::time::Duration::from_millis(config.storage.task_lease_ms),
        })
    }

    /// On Postgres, a signal woken whenever another process changes platform records
    /// (LISTEN/NOTIFY on a dedicated connection); `None` for the embedded backend.
    pub fn listen_changes(&self) -> Result<Option<Arc<tokio::sync::Notify>>, Error> {
        let Some(settings) = &self.postgres else {
            return Ok(None);
        };
        let signal = Arc::new(tokio::sync::Notify::new());
        atalaya_postgres::listen(
            settings,
            atalaya_store::postgres::CHANGES_CHANNEL,
            signal.clone(),
        )
        .map_err(postgres_error)?;
        Ok(Some(signal))
    }

    /// The node's data directory (the embedded stores, the classifier files).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The shared ticket store (`None`: the embedded one, `<data_dir>/tickets.db`).
    pub fn tickets(&self) -> Option<Arc<dyn atalaya_pipeline::tickets::TicketRecords>> {
        self.pool.as_ref().map(|pool| {
            Arc::new(atalaya_pipeline::pg_tickets::PgTickets::new(pool.clone()))
                as Arc<dyn atalaya_pipeline::tickets::TicketRecords>
        })
    }

    /// The classifier store: shared, or the files under `<data_dir>/classifiers`.
    pub fn classifiers(&self) -> Arc<dyn atalaya_classify::ClassifierStore> {
        match &self.pool {
            Some(pool) => Arc::new(atalaya_classify::PgClassifiers::new(pool.clone())),
            None => Arc::new(atalaya_classify::FileClassifiers::new(&self.data_dir)),
        }
    }

    /// Whether records are shared with other replicas (Postgres).
    pub fn is_shared(&self) -> bool {
        self.pool.is_some()
    }

    /// The platform records.
    pub async fn platform(&self) -> Result<Arc<dyn Store>, Error> {
        match &self.pool {
            Some(pool) => Ok(Arc::new(atalaya_store::PostgresStore::new(pool.clone()))),
            None => {
                let dir = self.data_dir.clone();
                let store =
                    tokio::task::spawn_blocking(move || atalaya_store::SqliteStore::open_dir(&dir))
                        .await
                        .map_err(|e| Error::Internal(e.to_string()))?
                        .map_err(|e| Error::config("server.data_dir", e.to_string()))?;
                Ok(Arc::new(store))
            }
        }
    }

    /// The shared knowledge backend (`None`: the embedded one, opened by the knowledge
    /// service in `server.data_dir`).
    pub fn knowledge(
        &self,
        parser: atalaya_knowledge::parse::Parser,
    ) -> Option<atalaya_knowledge::postgres::PgKnowledge> {
        self.pool.as_ref().map(|pool| {
            atalaya_knowledge::postgres::PgKnowledge::new(pool.clone(), parser)
                .with_lease(self.task_lease)
        })
    }
}

/// The platform store of the configured backend (for the CLI's one-off commands).
pub async fn platform_store(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Store>, Error> {
    Storage::open(config, lookup).await?.platform().await
}

fn store_err(e: atalaya_store::Error) -> Error {
    Error::from(atalaya_tenancy::Error::from(e))
}

/// What `atalaya migrate copy` moved, and what each side holds after it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CopyReport {
    pub platform: PlatformCopy,
    pub knowledge: Vec<CollectionCopy>,
    pub tickets: CountCopy,
    pub classifiers: CountCopy,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PlatformCopy {
    pub source: atalaya_store::PlatformCounts,
    pub target: atalaya_store::PlatformCounts,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CollectionCopy {
    pub tenant: String,
    pub collection: String,
    /// Documents in the source; written by this run; in the target after it.
    pub source: usize,
    pub written: usize,
    pub target: usize,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CountCopy {
    pub source: u64,
    pub written: u64,
    pub target: u64,
}

impl CopyReport {
    /// Whether the target holds at least every record of the source (it may hold more: a
    /// server may already have written to it).
    pub fn complete(&self) -> bool {
        let (s, t) = (&self.platform.source, &self.platform.target);
        t.tenants >= s.tenants
            && t.deleted_tenants >= s.deleted_tenants
            && t.keys >= s.keys
            && t.usage >= s.usage
            && t.audit >= s.audit
            && t.anchors >= s.anchors
            && t.data_keys >= s.data_keys
            && t.subject_keys >= s.subject_keys
            && t.inference >= s.inference
            && self.knowledge.iter().all(|c| c.target >= c.source)
            && self.tickets.target >= self.tickets.source
            && self.classifiers.target >= self.classifiers.source
    }
}

/// Copies a single-node installation (`from`, an sqlite data directory) into the shared
/// backend of `storage`: the platform records (audit chain verbatim), knowledge collections
/// with their documents, chunks and vectors (not parsed or embedded again), tickets with
/// feedback and subject tags, and classifiers. Every part skips what the target already
/// holds, so the copy can be run again after an interruption. Pending knowledge tasks are
/// not copied (let them finish first).
pub async fn copy_directory(
    from: &std::path::Path,
    storage: &Storage,
) -> Result<CopyReport, Error> {
    let Some(pool) = storage.pool.clone() else {
        return Err(Error::config(
            "storage.backend",
            "the copy's target is the Postgres backend: set storage.backend = \"postgres\" and storage.url (or pass --to)",
        ));
    };
    if !from.join("platform.db").is_file() {
        return Err(Error::invalid(
            format!(
                "{} holds no platform.db: not an Atalaya data directory",
                from.display()
            ),
            Some("from"),
        ));
    }
    let mut report = CopyReport::default();

    // Platform records.
    let dir = from.to_owned();
    let source = tokio::task::spawn_blocking(move || atalaya_store::SqliteStore::open_dir(&dir))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::invalid(format!("{}: {e}", from.display()), Some("from")))?;
    let snapshot = source.snapshot().await.map_err(store_err)?;
    let target = atalaya_store::PostgresStore::new(pool.clone());
    target.import(&snapshot).await.map_err(store_err)?;
    report.platform = PlatformCopy {
        source: snapshot.counts(),
        target: target.counts().await.map_err(store_err)?,
    };

    // Knowledge collections, documents and chunks.
    use atalaya_knowledge::records::KnowledgeRecords;
    if from.join("knowledge").join("knowledge.db").is_file() {
        let dir = from.to_owned();
        let kb = tokio::task::spawn_blocking(move || {
            let kb = atalaya_knowledge::service::KnowledgeBase::open(&dir)?;
            let mut out = Vec::new();
            for c in kb.store().all_collections()? {
                let docs = kb.store().export_documents(c.id)?;
                out.push((c, docs));
            }
            Ok::<_, atalaya_knowledge::Error>(out)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
        let shared = atalaya_knowledge::postgres::PgKnowledge::new(
            pool.clone(),
            atalaya_knowledge::parse::Parser::InProcess,
        );
        for (c, docs) in kb {
            let written = shared.import_collection(&c, &docs).await?;
            let target = shared.collection(&c.tenant, &c.name).await?;
            let target = shared.documents(&target).await?.len();
            report.knowledge.push(CollectionCopy {
                tenant: c.tenant,
                collection: c.name,
                source: docs.len(),
                written,
                target,
            });
        }
    }

    // Tickets.
    if from.join("tickets.db").is_file() {
        let source = atalaya_pipeline::sqlite_tickets::SqliteTickets::open(from)?;
        let (tickets, subjects) = source.export_all().await?;
        let shared = atalaya_pipeline::pg_tickets::PgTickets::new(pool.clone());
        let written = shared.import(&tickets, &subjects).await?;
        report.tickets = CountCopy {
            source: u64::try_from(tickets.len()).unwrap_or(u64::MAX),
            written,
            target: shared.count().await?,
        };
    }

    // Classifiers.
    use atalaya_classify::ClassifierStore;
    let files = atalaya_classify::FileClassifiers::new(from);
    let shared = atalaya_classify::PgClassifiers::new(pool);
    for tenant in files.tenants()? {
        for name in files.list(&tenant).await? {
            report.classifiers.source += 1;
            let Some((_, c)) = files.get(&tenant, &name).await? else {
                continue;
            };
            let same = match shared.get(&tenant, &name).await? {
                Some((_, existing)) => existing.to_bytes()? == c.to_bytes()?,
                None => false,
            };
            if !same {
                shared.put(&tenant, &name, Arc::new(c)).await?;
                report.classifiers.written += 1;
            }
            if shared.version(&tenant, &name).await?.is_some() {
                report.classifiers.target += 1;
            }
        }
    }
    Ok(report)
}
