//! `[storage]`: where the platform's records live.
//! - `backend = "sqlite"` (the default): embedded files in `server.data_dir`, for one node.
//! - `backend = "postgres"`: a shared database, so that several replicas serve one
//!   deployment. `url` is a reference (`env:DATABASE_URL`, `file:/run/secrets/db-url`) or a
//!   literal without a password.

use std::time::Duration;

use atalaya_core::{secret, Error};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sqlite,
    Postgres,
}

/// When pending schema migrations are applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MigrateMode {
    /// At start-up, under an advisory lock (replicas starting together do not race).
    #[default]
    Auto,
    /// Never by the server: it refuses to start while migrations are pending
    /// (`atalaya migrate up` applies them, e.g. from a deployment hook).
    Manual,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub backend: Backend,
    /// The Postgres URL (`postgres://user@host:5432/db`), as `env:NAME` or `file:PATH` when
    /// it carries a password.
    pub url: Option<String>,
    /// Connections per process at most.
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
    /// The server cancels any statement running longer (0 = no limit).
    pub statement_timeout_ms: u64,
    pub migrate: MigrateMode,
    /// How long a replica's claim on a knowledge task lasts without renewal: a replica that
    /// dies mid-task has its task resumed by another after this long.
    pub task_lease_ms: u64,
    /// With `sslmode=require` in the URL: the PEM file of the CA that signs the server's
    /// certificate (default: the Mozilla roots). The certificate and host name are verified.
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: Backend::Sqlite,
            url: None,
            pool_size: 16,
            connect_timeout_ms: 5_000,
            statement_timeout_ms: 30_000,
            migrate: MigrateMode::Auto,
            task_lease_ms: 30_000,
            tls_ca_file: None,
        }
    }
}

impl StorageConfig {
    /// Problems, each naming its key.
    pub fn check(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        if !(1..=1024).contains(&self.pool_size) {
            issues.push((
                "storage.pool_size".into(),
                "must be between 1 and 1024".into(),
            ));
        }
        if !(100..=600_000).contains(&self.connect_timeout_ms) {
            issues.push((
                "storage.connect_timeout_ms".into(),
                "must be between 100 and 600000".into(),
            ));
        }
        if !(1_000..=3_600_000).contains(&self.task_lease_ms) {
            issues.push((
                "storage.task_lease_ms".into(),
                "must be between 1000 and 3600000 (an hour)".into(),
            ));
        }
        if let Some(path) = &self.tls_ca_file {
            if let Err(e) = std::fs::metadata(path) {
                issues.push((
                    "storage.tls_ca_file".into(),
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        }
        if self.statement_timeout_ms > 86_400_000 {
            issues.push((
                "storage.statement_timeout_ms".into(),
                "must be between 0 (no limit) and 86400000 (a day)".into(),
            ));
        }
        match (self.backend, &self.url) {
            (Backend::Postgres, None) => issues.push((
                "storage.url".into(),
                "backend = \"postgres\" needs a URL, e.g. url = \"env:DATABASE_URL\"".into(),
            )),
            (Backend::Postgres, Some(_)) => {
                if let Err(e) = self.postgres_settings(lookup) {
                    issues.push(("storage.url".into(), e));
                }
            }
            (Backend::Sqlite, Some(_)) => issues.push((
                "storage.url".into(),
                "is only used with backend = \"postgres\" (the sqlite backend keeps its files in server.data_dir)".into(),
            )),
            (Backend::Sqlite, None) => {}
        }
        issues
    }

    /// The pool's settings with the URL resolved; `None` for the sqlite backend.
    pub fn postgres(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<atalaya_postgres::Settings>, Error> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => self
                .postgres_settings(lookup)
                .map(Some)
                .map_err(|p| Error::config("storage.url", p)),
        }
    }

    fn postgres_settings(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<atalaya_postgres::Settings, String> {
        let reference = self.url.as_deref().unwrap_or_default();
        let url = if secret::is_reference(reference) {
            secret::resolve(reference, lookup)?.expose().to_owned()
        } else {
            reference.to_owned()
        };
        let settings = atalaya_postgres::Settings {
            url,
            pool_size: self.pool_size,
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
            application_name: "atalaya".into(),
            tls_ca_file: self.tls_ca_file.clone(),
        };
        let parsed = atalaya_postgres::driver_config(&settings).map_err(|e| e.to_string())?;
        if !secret::is_reference(reference) && parsed.get_password().is_some() {
            return Err(
                "the URL carries a password: keep it out of the file, e.g. url = \"env:DATABASE_URL\""
                    .into(),
            );
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> StorageConfig {
        StorageConfig {
            backend: Backend::Postgres,
            url: Some(url.into()),
            ..StorageConfig::default()
        }
    }

    #[test]
    fn postgres_needs_a_usable_url_and_never_a_literal_password() {
        let env = |k: &str| (k == "DATABASE_URL").then(|| "postgres://a:pw@db:5432/x".to_owned());
        assert!(pg("env:DATABASE_URL").check(&env).is_empty());
        assert!(pg("postgres://atalaya@127.0.0.1/atalaya")
            .check(&env)
            .is_empty());
        let problems = |c: StorageConfig| c.check(&env);
        let p = problems(pg("postgres://a:secret@db/x"));
        assert!(
            p[0].0 == "storage.url" && p[0].1.contains("password"),
            "{p:?}"
        );
        assert!(!p[0].1.contains("secret"), "{p:?}");
        let p = problems(pg("env:MISSING"));
        assert_eq!(p[0].0, "storage.url");
        // TLS is accepted; a CA file that cannot be read is named.
        assert!(problems(pg("postgres://a@db/x?sslmode=require")).is_empty());
        let p = problems(StorageConfig {
            tls_ca_file: Some("/nonexistent/ca.pem".into()),
            ..pg("postgres://a@db/x?sslmode=require")
        });
        assert_eq!(p[0].0, "storage.tls_ca_file", "{p:?}");
        let p = problems(StorageConfig {
            backend: Backend::Postgres,
            ..StorageConfig::default()
        });
        assert!(p[0].1.contains("needs a URL"), "{p:?}");
        let p = problems(StorageConfig {
            url: Some("env:DATABASE_URL".into()),
            pool_size: 0,
            ..StorageConfig::default()
        });
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["storage.pool_size", "storage.url"]);
    }
}
