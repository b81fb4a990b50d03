//! Trained classifiers served to their tenant: `POST /v1/classify`, pipeline `classify`
//! steps, and `atalaya classify predict`. A tenant's classifiers are read from a
//! [`ClassifierStore`] (the embedded one: `<data_dir>/classifiers/TENANT/NAME.atc`, written
//! by `atalaya classify train`); each is loaded on first use and again when its version
//! changes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use atalaya_classify::{Classifier, ClassifierStore, Prediction, Version};
use atalaya_core::Error;

use crate::knowledge::{blocking, EngineEmbedder};

/// Texts classified in one call at most.
pub const MAX_INPUTS: usize = 256;

/// Loaded classifiers by (tenant, name), with the version they were loaded at.
type Cache = HashMap<(String, String), (Version, Arc<Classifier>)>;

pub struct ClassifyService {
    store: Arc<dyn ClassifierStore>,
    cache: Mutex<Cache>,
    /// The embedding models this process serves, by name (a classifier trained with another
    /// one cannot be used here).
    embedders: HashMap<String, Arc<EngineEmbedder>>,
}

impl ClassifyService {
    pub fn new(
        store: Arc<dyn ClassifierStore>,
        embedders: HashMap<String, Arc<EngineEmbedder>>,
    ) -> Self {
        ClassifyService {
            store,
            cache: Mutex::new(HashMap::new()),
            embedders,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deletes the tenant's classifiers, from the store and from the cache.
    pub async fn delete_tenant(&self, tenant: &str) -> Result<bool, Error> {
        self.cache().retain(|(t, _), _| t != tenant);
        self.store
            .delete_tenant(tenant)
            .await
            .map_err(atalaya_core::Error::from)
    }

    /// The tenant's classifier, loaded again when its version changed.
    pub async fn get(&self, tenant: &str, name: &str) -> Result<Arc<Classifier>, Error> {
        let missing = || Error::NotFound(format!("classifier '{name}'"));
        let version = self
            .store
            .version(tenant, name)
            .await?
            .ok_or_else(missing)?;
        let key = (tenant.to_owned(), name.to_owned());
        if let Some((at, c)) = self.cache().get(&key) {
            if *at == version {
                return Ok(c.clone());
            }
        }
        // Read outside the lock: a large classifier does not hold up other tenants' requests.
        let (version, c) = self
            .store
            .get(tenant, name)
            .await
            .map_err(|e| Error::Unavailable(format!("classifier '{name}' cannot be loaded: {e}")))?
            .ok_or_else(missing)?;
        let c = Arc::new(c);
        self.cache().insert(key, (version, c.clone()));
        Ok(c)
    }

    /// Classifies `texts` with the tenant's classifier `name`: embeds them (on the blocking
    /// pool) when the classifier uses embeddings.
    pub async fn classify(
        &self,
        tenant: &str,
        name: &str,
        texts: Vec<String>,
    ) -> Result<Vec<Prediction>, Error> {
        if texts.is_empty() || texts.len() > MAX_INPUTS {
            return Err(Error::invalid(
                format!("'input' must hold 1 to {MAX_INPUTS} texts"),
                Some("input"),
            ));
        }
        let c = self.get(tenant, name).await?;
        let embedder = if c.needs_embedding() {
            let want = c.meta.embedding_model.as_deref().unwrap_or("?");
            let e = self.embedders.get(want).ok_or_else(|| {
                Error::Unavailable(format!(
                    "classifier '{name}' needs the embedding model '{want}', which is not loaded (configure it in [local_models])"
                ))
            })?;
            Some(e.clone())
        } else {
            None
        };
        blocking(move || {
            let embeddings = match embedder {
                Some(e) => {
                    // The embedding model failing is an upstream failure (retryable), not a
                    // bug.
                    let v = crate::knowledge::embed(e.as_ref(), &texts)?;
                    if v.len() != texts.len() {
                        return Err(Error::Internal(
                            "the embedding model returned a wrong number of vectors".into(),
                        ));
                    }
                    Some(v)
                }
                None => None,
            };
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    c.predict(t, embeddings.as_ref().map(|e| e[i].as_slice()))
                        .map_err(|e| Error::Internal(e.to_string()))
                })
                .collect()
        })
        .await
    }
}
