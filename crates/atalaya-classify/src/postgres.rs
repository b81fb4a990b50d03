//! Classifiers in Postgres, shared by replicas: one row per tenant and name, the model as
//! bytes ([`Classifier::to_bytes`]). A replacement is one `UPDATE`: a reader gets the old
//! row or the new one. The version is a counter bumped by every write, so a replica's cache
//! sees another replica's retraining.

use std::sync::Arc;

use async_trait::async_trait;
use atalaya_postgres::{tokio_postgres, Client, Migration, Pool, Schema};

use crate::{
    store::{check, valid_name, ClassifierStore, Version, RULE},
    Classifier, Error, Result,
};

/// The classifiers schema.
pub static SCHEMA: Schema = Schema {
    component: "classifiers",
    migrations: &[Migration {
        version: 1,
        name: "classifier models",
        sql: r#"
CREATE SEQUENCE classifier_versions;
CREATE TABLE classifiers (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    version BIGINT NOT NULL,
    model BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, name)
);
"#,
    }],
};

fn db(e: tokio_postgres::Error) -> Error {
    Error::Store(atalaya_postgres::describe(&e))
}

/// The classifier store on a Postgres pool. Cheap to clone.
#[derive(Clone)]
pub struct PgClassifiers {
    pool: Pool,
}

impl PgClassifiers {
    /// Uses `pool` (its classifiers schema must be migrated: [`SCHEMA`]).
    pub fn new(pool: Pool) -> Self {
        PgClassifiers { pool }
    }

    /// Migrates the classifiers schema, then uses `pool`.
    pub async fn open(pool: Pool) -> Result<Self> {
        atalaya_postgres::migrate(&pool, &[&SCHEMA])
            .await
            .map_err(|e| Error::Store(e.to_string()))?;
        Ok(PgClassifiers { pool })
    }

    async fn client(&self) -> Result<Client> {
        self.pool
            .get()
            .await
            .map_err(|e| Error::Store(atalaya_postgres::Error::from(e).to_string()))
    }
}

fn tenant_ok(tenant: &str) -> Result<()> {
    if valid_name(tenant) {
        Ok(())
    } else {
        Err(Error::Param(format!("invalid tenant '{tenant}': {RULE}")))
    }
}

#[async_trait]
impl ClassifierStore for PgClassifiers {
    async fn put(&self, tenant: &str, name: &str, classifier: Arc<Classifier>) -> Result<()> {
        check(tenant, name)?;
        let bytes = classifier.to_bytes()?;
        let c = self.client().await?;
        c.execute(
            "INSERT INTO classifiers (tenant, name, version, model) VALUES ($1, $2, nextval('classifier_versions'), $3)
             ON CONFLICT (tenant, name) DO UPDATE SET version = excluded.version, model = excluded.model, updated_at = now()",
            &[&tenant, &name, &bytes],
        )
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn version(&self, tenant: &str, name: &str) -> Result<Option<Version>> {
        check(tenant, name)?;
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT version FROM classifiers WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await
            .map_err(db)?;
        row.map(|r| r.try_get::<_, i64>(0).map(|v| Version(v.to_string())))
            .transpose()
            .map_err(db)
    }

    async fn get(&self, tenant: &str, name: &str) -> Result<Option<(Version, Classifier)>> {
        check(tenant, name)?;
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT version, model FROM classifiers WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await
            .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(db)?;
        let bytes: Vec<u8> = row.try_get(1).map_err(db)?;
        let origin = format!("classifiers row {tenant}/{name}");
        // Checking a large model's numbers is CPU work: off the async threads.
        let model = tokio::task::spawn_blocking(move || Classifier::from_bytes(&bytes, &origin))
            .await
            .map_err(|e| Error::Store(format!("loading a classifier: {e}")))??;
        Ok(Some((Version(version.to_string()), model)))
    }

    async fn list(&self, tenant: &str) -> Result<Vec<String>> {
        tenant_ok(tenant)?;
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT name FROM classifiers WHERE tenant = $1 ORDER BY name",
                &[&tenant],
            )
            .await
            .map_err(db)?;
        rows.iter().map(|r| r.try_get(0).map_err(db)).collect()
    }

    async fn delete(&self, tenant: &str, name: &str) -> Result<bool> {
        check(tenant, name)?;
        let c = self.client().await?;
        let n = c
            .execute(
                "DELETE FROM classifiers WHERE tenant = $1 AND name = $2",
                &[&tenant, &name],
            )
            .await
            .map_err(db)?;
        Ok(n > 0)
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<bool> {
        if !valid_name(tenant) {
            return Ok(false);
        }
        let c = self.client().await?;
        let n = c
            .execute("DELETE FROM classifiers WHERE tenant = $1", &[&tenant])
            .await
            .map_err(db)?;
        Ok(n > 0)
    }
}
