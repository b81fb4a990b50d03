//! [`FileClassifiers`]: the embedded backend of [`ClassifierStore`], one file per
//! classifier under `<data_dir>/classifiers/TENANT/`.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::UNIX_EPOCH,
};

use async_trait::async_trait;

use crate::{
    store::{check, valid_name, ClassifierStore, Version, RULE},
    Classifier, Error, Result,
};

/// The embedded backend: one file per classifier under `<data_dir>/classifiers/TENANT/`,
/// written through a temporary file and a rename; a file's modification time and size are
/// its version. `atalaya classify train` writes here and the server reads here.
#[derive(Debug, Clone)]
pub struct FileClassifiers {
    root: PathBuf,
}

impl FileClassifiers {
    /// The classifiers of data directory `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        FileClassifiers {
            root: data_dir.join("classifiers"),
        }
    }

    /// Where `tenant`'s `name` is kept.
    pub fn path(&self, tenant: &str, name: &str) -> Result<PathBuf> {
        check(tenant, name)?;
        Ok(self.root.join(tenant).join(format!("{name}.atc")))
    }

    pub fn save(&self, tenant: &str, name: &str, c: &Classifier) -> Result<()> {
        c.save(&self.path(tenant, name)?)
    }

    pub fn stamp(&self, tenant: &str, name: &str) -> Result<Option<Version>> {
        let path = self.path(tenant, name)?;
        let Ok(m) = std::fs::metadata(&path) else {
            return Ok(None);
        };
        let at = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Ok(Some(Version(format!("{at}-{}", m.len()))))
    }

    pub fn load(&self, tenant: &str, name: &str) -> Result<Option<(Version, Classifier)>> {
        let Some(v) = self.stamp(tenant, name)? else {
            return Ok(None);
        };
        Classifier::load(&self.path(tenant, name)?).map(|c| Some((v, c)))
    }

    pub fn names(&self, tenant: &str) -> Result<Vec<String>> {
        if !valid_name(tenant) {
            return Err(Error::Param(format!("invalid tenant '{tenant}': {RULE}")));
        }
        let dir = self.root.join(tenant);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    path: dir.display().to_string(),
                    source,
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                (p.extension().and_then(|x| x.to_str()) == Some("atc"))
                    .then(|| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
                    .flatten()
            })
            .filter(|n| valid_name(n))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The tenants with a classifier directory (valid names only), sorted.
    pub fn tenants(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    path: self.root.display().to_string(),
                    source,
                })
            }
        };
        let mut tenants: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| valid_name(n))
            .collect();
        tenants.sort();
        Ok(tenants)
    }

    pub fn remove(&self, tenant: &str, name: &str) -> Result<bool> {
        let path = self.path(tenant, name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    pub fn remove_tenant(&self, tenant: &str) -> Result<bool> {
        if !valid_name(tenant) {
            return Ok(false);
        }
        let dir = self.root.join(tenant);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(Error::Io {
                path: dir.display().to_string(),
                source,
            }),
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&FileClassifiers) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| Error::Io {
                path: self.root.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?
    }
}

#[async_trait]
impl ClassifierStore for FileClassifiers {
    async fn put(&self, tenant: &str, name: &str, classifier: Arc<Classifier>) -> Result<()> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |s| s.save(&t, &n, &classifier)).await
    }

    async fn version(&self, tenant: &str, name: &str) -> Result<Option<Version>> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |s| s.stamp(&t, &n)).await
    }

    async fn get(&self, tenant: &str, name: &str) -> Result<Option<(Version, Classifier)>> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |s| s.load(&t, &n)).await
    }

    async fn list(&self, tenant: &str) -> Result<Vec<String>> {
        let t = tenant.to_owned();
        self.blocking(move |s| s.names(&t)).await
    }

    async fn delete(&self, tenant: &str, name: &str) -> Result<bool> {
        let (t, n) = (tenant.to_owned(), name.to_owned());
        self.blocking(move |s| s.remove(&t, &n)).await
    }

    async fn delete_tenant(&self, tenant: &str) -> Result<bool> {
        let t = tenant.to_owned();
        self.blocking(move |s| s.remove_tenant(&t)).await
    }
}
