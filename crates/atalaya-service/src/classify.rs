//! Trained classifiers served to their tenant: `POST /v1/classify`, and the service
//! `atalaya classify predict` uses. A tenant's classifiers are the files
//! `<data_dir>/classifiers/TENANT/NAME.atc` written by `atalaya classify train`; each is
//! loaded on first use and again when its file changes.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use atalaya_classify::{Classifier, Prediction};
use atalaya_core::Error;

use crate::knowledge::EngineEmbedder;

/// Texts classified in one call at most.
pub const MAX_INPUTS: usize = 256;

type Cached = (SystemTime, Arc<Classifier>);

pub struct ClassifyService {
    data_dir: PathBuf,
    cache: Mutex<HashMap<(String, String), Cached>>,
    /// The embedding models this process serves, by name (a classifier trained with another
    /// one cannot be used here).
    embedders: HashMap<String, Arc<EngineEmbedder>>,
}

/// Tenant ids and classifier names: 1–64 letters, digits, `-` or `_` (no paths).
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Where `tenant`'s classifier `name` is kept: `<data_dir>/classifiers/TENANT/NAME.atc`
/// (the CLI writes there, the service reads there).
pub fn classifier_path(data_dir: &Path, tenant: &str, name: &str) -> Result<PathBuf, Error> {
    let rule = "use 1–64 letters, digits, '-' or '_'";
    if !valid_name(name) {
        return Err(Error::invalid(
            format!("invalid classifier name '{name}': {rule}"),
            Some("classifier"),
        ));
    }
    if !valid_name(tenant) {
        return Err(Error::invalid(
            format!("invalid tenant '{tenant}': {rule}"),
            None,
        ));
    }
    Ok(data_dir
        .join("classifiers")
        .join(tenant)
        .join(format!("{name}.atc")))
}

/// Deletes every classifier of `tenant` (`<data_dir>/classifiers/TENANT/`). Returns whether
/// there were any.
pub fn delete_tenant_classifiers(data_dir: &Path, tenant: &str) -> Result<bool, Error> {
    if !valid_name(tenant) {
        return Ok(false);
    }
    let dir = data_dir.join("classifiers").join(tenant);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::Internal(format!(
            "cannot delete {}: {e}",
            dir.display()
        ))),
    }
}

impl ClassifyService {
    /// Deletes the tenant's classifiers, from disk and from the cache.
    pub fn delete_tenant(&self, tenant: &str) -> Result<bool, Error> {
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(t, _), _| t != tenant);
        }
        delete_tenant_classifiers(&self.data_dir, tenant)
    }

    pub fn new(data_dir: &Path, embedders: HashMap<String, Arc<EngineEmbedder>>) -> Self {
        ClassifyService {
            data_dir: data_dir.to_owned(),
            cache: Mutex::new(HashMap::new()),
            embedders,
        }
    }

    /// The tenant's classifier, loaded again when its file changed.
    pub fn get(&self, tenant: &str, name: &str) -> Result<Arc<Classifier>, Error> {
        let path = classifier_path(&self.data_dir, tenant, name)?;
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|_| Error::NotFound(format!("classifier '{name}'")))?;
        let key = (tenant.to_owned(), name.to_owned());
        let lock = || self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, c)) = lock().get(&key) {
            if *at == modified {
                return Ok(c.clone());
            }
        }
        // Read outside the lock: a large file does not hold up other tenants' requests.
        let c = Arc::new(Classifier::load(&path).map_err(|e| {
            Error::Unavailable(format!("classifier '{name}' cannot be loaded: {e}"))
        })?);
        lock().insert(key, (modified, c.clone()));
        Ok(c)
    }

    /// Classifies `texts` with the tenant's classifier `name` (blocking: embeds the texts
    /// when the classifier uses embeddings).
    pub fn classify(
        &self,
        tenant: &str,
        name: &str,
        texts: &[String],
    ) -> Result<Vec<Prediction>, Error> {
        if texts.is_empty() || texts.len() > MAX_INPUTS {
            return Err(Error::invalid(
                format!("'input' must hold 1 to {MAX_INPUTS} texts"),
                Some("input"),
            ));
        }
        let c = self.get(tenant, name)?;
        let embeddings = if c.needs_embedding() {
            let want = c.meta.embedding_model.as_deref().unwrap_or("?");
            let e = self.embedders.get(want).ok_or_else(|| {
                Error::Unavailable(format!(
                    "classifier '{name}' needs the embedding model '{want}', which is not loaded (configure it in [local_models])"
                ))
            })?;
            // The embedding model failing is an upstream failure (retryable), not a bug.
            let v = crate::knowledge::embed(e.as_ref(), texts)?;
            if v.len() != texts.len() {
                return Err(Error::Internal(
                    "the embedding model returned a wrong number of vectors".into(),
                ));
            }
            Some(v)
        } else {
            None
        };
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                c.predict(t, embeddings.as_ref().map(|e| e[i].as_slice()))
                    .map_err(|e| Error::Internal(e.to_string()))
            })
            .collect()
    }
}
