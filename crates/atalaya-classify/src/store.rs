//! Where trained classifiers are kept: the [`ClassifierStore`] trait. Its embedded backend
//! is [`crate::files::FileClassifiers`] (`<data_dir>/classifiers/TENANT/NAME.atc`), and
//! [`crate::store_conformance`] is the suite every backend passes. The shared backend is
//! [`crate::postgres::PgClassifiers`] (the model as a row).

use std::sync::Arc;

use async_trait::async_trait;

use crate::{Classifier, Error, Result};

/// A stored classifier's version: it changes whenever the classifier is replaced, so that a
/// cache knows when to load it again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

/// A tenant's trained classifiers, by name. Names and tenants are 1–64 letters, digits, `-`
/// or `_`: anything else is refused (never a path).
#[async_trait]
pub trait ClassifierStore: Send + Sync {
    /// Stores `classifier` as `tenant`'s `name`, replacing it atomically: a reader gets the
    /// old one or the new one, never a mix.
    async fn put(&self, tenant: &str, name: &str, classifier: Arc<Classifier>) -> Result<()>;
    /// The version of `tenant`'s `name`, or `None` when there is none (a cheap check).
    async fn version(&self, tenant: &str, name: &str) -> Result<Option<Version>>;
    /// `tenant`'s `name` with its version, or `None`.
    async fn get(&self, tenant: &str, name: &str) -> Result<Option<(Version, Classifier)>>;
    /// The names of `tenant`'s classifiers, sorted.
    async fn list(&self, tenant: &str) -> Result<Vec<String>>;
    /// Deletes `tenant`'s `name`; whether there was one.
    async fn delete(&self, tenant: &str, name: &str) -> Result<bool>;
    /// Deletes every classifier of `tenant`; whether there were any.
    async fn delete_tenant(&self, tenant: &str) -> Result<bool>;
}

/// Tenant ids and classifier names: 1–64 letters, digits, `-` or `_` (no paths).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(crate) const RULE: &str = "use 1–64 letters, digits, '-' or '_'";

pub(crate) fn check(tenant: &str, name: &str) -> Result<()> {
    if !valid_name(name) {
        return Err(Error::Param(format!(
            "invalid classifier name '{name}': {RULE}"
        )));
    }
    if !valid_name(tenant) {
        return Err(Error::Param(format!("invalid tenant '{tenant}': {RULE}")));
    }
    Ok(())
}
