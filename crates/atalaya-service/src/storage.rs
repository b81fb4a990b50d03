//! The one place the storage backend is chosen from `[storage]`, and the schemas a Postgres
//! deployment migrates (`atalaya migrate`, start-up).

use std::sync::Arc;

use atalaya_config::{
    storage::{Backend, MigrateMode},
    Config,
};
use atalaya_core::Error;
use atalaya_store::Store;

/// Every component's Postgres schema, in the order they are migrated.
pub fn schemas() -> Vec<&'static atalaya_postgres::Schema> {
    vec![&atalaya_store::postgres::SCHEMA]
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
    atalaya_postgres::connect(&settings)
        .await
        .map(Some)
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

/// The platform store of the configured backend, its schema brought up to date (or checked,
/// with `storage.migrate = "manual"`).
pub async fn platform_store(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn Store>, Error> {
    match config.storage.backend {
        Backend::Sqlite => {
            let dir = config.server.data_dir.clone();
            let store =
                tokio::task::spawn_blocking(move || atalaya_store::SqliteStore::open_dir(&dir))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .map_err(|e| Error::config("server.data_dir", e.to_string()))?;
            Ok(Arc::new(store))
        }
        Backend::Postgres => {
            let pool = postgres_pool(config, lookup)
                .await?
                .ok_or_else(|| Error::config("storage.backend", "no Postgres settings"))?;
            match config.storage.migrate {
                MigrateMode::Auto => {
                    for s in migrate_up(&pool).await? {
                        tracing::info!(
                            component = %s.component,
                            from = s.applied,
                            to = s.known,
                            "storage schema migrated"
                        );
                    }
                }
                MigrateMode::Manual => {
                    let pending: Vec<String> = migration_status(&pool)
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
            tracing::warn!(
                "storage.backend = \"postgres\" holds the platform records (tenants, keys, usage, audit log, inference log); knowledge, tickets and classifiers are still kept in server.data_dir on this node"
            );
            Ok(Arc::new(atalaya_store::PostgresStore::new(pool)))
        }
    }
}
