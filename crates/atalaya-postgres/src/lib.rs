//! What every Postgres backend of Atalaya shares:
//! - [`connect`]: a pool of connections (deadpool over tokio-postgres) with a connect timeout,
//!   a statement timeout set on every session, and an application name that shows in
//!   `pg_stat_activity`;
//! - [`migrate`] and [`status`]: versioned migrations per component (the platform records,
//!   knowledge, tickets, classifiers), applied in one transaction under an advisory lock, so
//!   that replicas starting together do not race;
//! - [`testing::Cluster`] (feature `testing`): a throwaway server for tests.
//!
//! Each backend crate owns its schema (a [`Schema`]) and its queries; this crate knows no
//! table but its own `atalaya_migrations`.

mod listen;
#[cfg(feature = "testing")]
pub mod testing;
pub use listen::listen;

use std::time::Duration;

pub use deadpool_postgres::{Object as Client, Pool};
pub use tokio_postgres;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL or a setting is unusable.
    #[error("{0}")]
    Config(String),
    /// No connection could be made or taken from the pool in time.
    #[error("cannot reach Postgres: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    /// The database has a newer schema than this build knows.
    #[error("{0}")]
    SchemaNewer(String),
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        Error::Database(describe(&e))
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Error::Unavailable(describe(&e)),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A driver error as text: the server's message (with its SQLSTATE) when there is one.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// How to reach the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A libpq-style URL or key=value string (`postgres://user:pass@host:5432/db`).
    pub url: String,
    /// Connections kept at most.
    pub pool_size: usize,
    pub connect_timeout: Duration,
    /// Every statement is cancelled by the server after this long (0 = no limit).
    pub statement_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
    /// With `sslmode=require` in the URL: the PEM file of the CA(s) that sign the server's
    /// certificate (a private CA, or the cloud provider's bundle); `None` = the Mozilla roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: String::new(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            application_name: "atalaya".into(),
            tls_ca_file: None,
        }
    }
}

/// Parses the URL into a driver config with the settings applied. Errors never repeat the
/// URL (it may carry a password).
pub fn driver_config(settings: &Settings) -> Result<tokio_postgres::Config> {
    let mut config: tokio_postgres::Config = settings
        .url
        .parse()
        .map_err(|e| Error::Config(format!("not a valid Postgres URL: {e}")))?;
    if config.get_hosts().is_empty() {
        return Err(Error::Config("the Postgres URL names no host".into()));
    }
    config.connect_timeout(settings.connect_timeout);
    config.application_name(&settings.application_name);
    let mut options = config.get_options().unwrap_or("").to_owned();
    if !options.is_empty() {
        options.push(' ');
    }
    options.push_str(&format!(
        "-c statement_timeout={}",
        settings.statement_timeout.as_millis()
    ));
    config.options(&options);
    Ok(config)
}

/// The TLS client of `sslmode=require`: the server's certificate must chain to `ca_file`'s
/// certificates (or, without one, to the Mozilla roots) and name the host connected to.
/// Stricter than libpq's `require`, which checks nothing: the same as its `verify-full`.
pub fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect())
                .map_err(|e| Error::Config(format!("the CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "the CA file {} holds no PEM certificate",
                    path.display()
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| Error::Config(format!("the CA file {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Opens a pool and checks that the database answers. With `sslmode=require` in the URL the
/// connection is TLS, the server's certificate verified ([`tls_connector`]); otherwise it is
/// plain (`prefer` does not try TLS: reach the database over a private network).
pub async fn connect(settings: &Settings) -> Result<Pool> {
    let config = driver_config(settings)?;
    let where_ = target(&config);
    let manager_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Fast,
    };
    let manager = if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        let tls = tls_connector(settings.tls_ca_file.as_deref())?;
        deadpool_postgres::Manager::from_config(config, tls, manager_config)
    } else {
        deadpool_postgres::Manager::from_config(config, tokio_postgres::NoTls, manager_config)
    };
    let pool = Pool::builder(manager)
        .max_size(settings.pool_size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(settings.connect_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(settings.connect_timeout))
        .build()
        .map_err(|e| Error::Config(format!("connection pool: {e}")))?;
    let client = pool.get().await.map_err(|e| {
        // The pool's reason itself, without this error's own "cannot reach" prefix.
        let reason = match e {
            deadpool_postgres::PoolError::Backend(e) => describe(&e),
            other => other.to_string(),
        };
        Error::Unavailable(format!("{where_}: {reason}"))
    })?;
    client
        .simple_query("SELECT 1")
        .await
        .map_err(|e| Error::Unavailable(format!("{where_}: {}", describe(&e))))?;
    Ok(pool)
}

/// `host:port/database` of a config, for messages (never the user or password).
fn target(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{}",
        config.get_dbname().unwrap_or("(default)")
    )
}

/// One schema change, applied once, in order of `version` (1, 2, 3, ...).
#[derive(Debug)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// A component's migrations.
#[derive(Debug)]
pub struct Schema {
    /// `platform`, `knowledge`, `tickets`, `classifiers`.
    pub component: &'static str,
    pub migrations: &'static [Migration],
}

/// Where a component's schema stands.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaStatus {
    pub component: String,
    /// The highest version applied (0: none).
    pub applied: i32,
    /// The highest version this build knows.
    pub known: i32,
    /// Versions and names this build would apply.
    pub pending: Vec<(i32, String)>,
}

/// Serialises migrations across processes (an arbitrary constant: "atalaya" in ASCII).
const MIGRATION_LOCK: i64 = 0x0061_7461_6c61_7961;

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS atalaya_migrations (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (component, version)
)";

/// Applies every pending migration of `schemas`, in one transaction under an advisory lock:
/// a replica that starts while another migrates waits, then finds nothing left to do. A
/// database whose schema is newer than this build is refused. Returns what was applied.
pub async fn migrate(pool: &Pool, schemas: &[&Schema]) -> Result<Vec<SchemaStatus>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(LEDGER).await?;
    let mut applied = Vec::new();
    for schema in schemas {
        let status = status_in(&tx, schema).await?;
        for m in schema
            .migrations
            .iter()
            .filter(|m| m.version > status.applied)
        {
            tracing::info!(
                component = schema.component,
                version = m.version,
                name = m.name,
                "applying a migration"
            );
            tx.batch_execute(m.sql).await.map_err(|e| {
                Error::Database(format!(
                    "migration {} {} ({}) failed: {}",
                    schema.component,
                    m.version,
                    m.name,
                    describe(&e)
                ))
            })?;
            tx.execute(
                "INSERT INTO atalaya_migrations (component, version, name) VALUES ($1, $2, $3)",
                &[&schema.component, &m.version, &m.name],
            )
            .await?;
        }
        if !status.pending.is_empty() {
            applied.push(status);
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// Where each schema stands, without changing anything.
pub async fn status(pool: &Pool, schemas: &[&Schema]) -> Result<Vec<SchemaStatus>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let exists: bool = tx
        .query_one("SELECT to_regclass('atalaya_migrations') IS NOT NULL", &[])
        .await?
        .get(0);
    let mut out = Vec::new();
    for schema in schemas {
        if exists {
            out.push(status_in(&tx, schema).await?);
        } else {
            out.push(SchemaStatus {
                component: schema.component.into(),
                applied: 0,
                known: known(schema),
                pending: schema
                    .migrations
                    .iter()
                    .map(|m| (m.version, m.name.to_owned()))
                    .collect(),
            });
        }
    }
    tx.rollback().await?;
    Ok(out)
}

fn known(schema: &Schema) -> i32 {
    schema
        .migrations
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

async fn status_in(
    tx: &deadpool_postgres::Transaction<'_>,
    schema: &Schema,
) -> Result<SchemaStatus> {
    let applied: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM atalaya_migrations WHERE component = $1",
            &[&schema.component],
        )
        .await?
        .get(0);
    let known = known(schema);
    if applied > known {
        return Err(Error::SchemaNewer(format!(
            "the database's {} schema is at version {applied}, newer than this build knows \
             ({known}); run a newer Atalaya",
            schema.component
        )));
    }
    Ok(SchemaStatus {
        component: schema.component.into(),
        applied,
        known,
        pending: schema
            .migrations
            .iter()
            .filter(|m| m.version > applied)
            .map(|m| (m.version, m.name.to_owned()))
            .collect(),
    })
}
