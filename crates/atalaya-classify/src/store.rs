//! Where trained classifiers are kept: the [`ClassifierStore`] trait, its embedded backend
//! [`FileClassifiers`] (`<data_dir>/classifiers/TENANT/NAME.atc`), and [`conformance`], the
//! suite every backend passes. A shared backend (Postgres, the model as a row) implements
//! the same trait.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::UNIX_EPOCH,
};

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

const RULE: &str = "use 1–64 letters, digits, '-' or '_'";

fn check(tenant: &str, name: &str) -> Result<()> {
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

pub mod conformance {
    //! The conformance suite of [`ClassifierStore`], generic over the backend. Each case gets
    //! a fresh, empty store from `make`; a failed check is an `Err` naming what differed.

    use std::{future::Future, sync::Arc};

    use atalaya_conformance::{check, ok, run_cases, Outcome};

    use super::ClassifierStore;
    use crate::{Classifier, Error, Example, TrainOptions};

    /// Runs every case; returns the failures (empty: the backend conforms).
    pub async fn run_all<S, F, Fut>(make: F) -> Vec<String>
    where
        S: ClassifierStore,
        F: Fn() -> Fut,
        Fut: Future<Output = S>,
    {
        run_cases!(make().await =>
            a_stored_classifier_comes_back_the_same_with_a_version,
            replacing_one_changes_its_version,
            classifiers_are_kept_to_their_tenant,
            names_that_are_paths_are_refused,
            deleting_one_or_a_tenant_removes_only_those,
        )
    }

    /// A small n-gram classifier of two labels, trained in microseconds.
    pub fn tiny(labels: [&str; 2]) -> Result<Arc<Classifier>, String> {
        let texts = [
            ("refund my card please", 0),
            ("charged twice refund", 0),
            ("money back refund now", 0),
            ("where is my parcel", 1),
            ("parcel tracking late", 1),
            ("delivery parcel missing", 1),
        ];
        let examples: Vec<Example> = texts
            .iter()
            .map(|(t, l)| Example {
                text: (*t).to_owned(),
                label: labels[*l].to_owned(),
            })
            .collect();
        let options = TrainOptions {
            min_df: 1,
            ..TrainOptions::default()
        };
        Classifier::train("tiny", &examples, None, None, &options, vec![], |_| {})
            .map(Arc::new)
            .map_err(|e| format!("training: {e}"))
    }

    fn label(c: &Classifier, text: &str) -> Result<String, String> {
        c.predict(text, None)
            .map(|p| p.best)
            .map_err(|e| format!("predict: {e}"))
    }

    async fn a_stored_classifier_comes_back_the_same_with_a_version<S: ClassifierStore>(
        s: &S,
    ) -> Outcome {
        check!(
            ok("get", s.get("t1", "intents").await)?.is_none(),
            "a missing classifier is found"
        );
        check!(
            ok("version", s.version("t1", "intents").await)?.is_none(),
            "a missing classifier has a version"
        );
        let c = tiny(["billing", "shipping"])?;
        ok("put", s.put("t1", "intents", c.clone()).await)?;
        let Some((v, back)) = ok("get", s.get("t1", "intents").await)? else {
            return Err("the stored classifier is not found".into());
        };
        check!(
            ok("version", s.version("t1", "intents").await)? == Some(v),
            "get and version disagree"
        );
        check!(
            back.meta.labels == c.meta.labels,
            "labels {:?}",
            back.meta.labels
        );
        for text in ["I was charged twice", "my parcel is late"] {
            let (a, b) = (label(&c, text)?, label(&back, text)?);
            check!(a == b, "'{text}': {a} before, {b} after the round trip");
            let (pa, pb) = (
                c.predict(text, None).map_err(|e| e.to_string())?,
                back.predict(text, None).map_err(|e| e.to_string())?,
            );
            let same = (pa.confidence - pb.confidence).abs() < 1e-6;
            check!(
                same,
                "'{text}': confidence {} vs {}",
                pa.confidence,
                pb.confidence
            );
        }
        check!(
            ok("list", s.list("t1").await)? == ["intents"],
            "list after one put"
        );
        Ok(())
    }

    async fn replacing_one_changes_its_version<S: ClassifierStore>(s: &S) -> Outcome {
        ok("put", s.put("t1", "intents", tiny(["a", "b"])?).await)?;
        let v1 = ok("version", s.version("t1", "intents").await)?;
        // A classifier of other labels (and another size): the version must change.
        ok(
            "put",
            s.put("t1", "intents", tiny(["billing-x", "shipping-y"])?)
                .await,
        )?;
        let v2 = ok("version", s.version("t1", "intents").await)?;
        check!(v1.is_some() && v1 != v2, "version {v1:?} then {v2:?}");
        let Some((_, now)) = ok("get", s.get("t1", "intents").await)? else {
            return Err("gone after the replacement".into());
        };
        check!(
            now.meta.labels.contains(&"billing-x".to_owned()),
            "the old one is served: {:?}",
            now.meta.labels
        );
        Ok(())
    }

    async fn classifiers_are_kept_to_their_tenant<S: ClassifierStore>(s: &S) -> Outcome {
        ok("put", s.put("t1", "intents", tiny(["a", "b"])?).await)?;
        ok("put", s.put("t1", "priority", tiny(["low", "high"])?).await)?;
        check!(
            ok("get", s.get("t2", "intents").await)?.is_none(),
            "t2 reads t1's classifier"
        );
        check!(ok("list", s.list("t2").await)?.is_empty(), "t2 lists t1's");
        check!(
            ok("list", s.list("t1").await)? == ["intents", "priority"],
            "t1's, sorted"
        );
        Ok(())
    }

    async fn names_that_are_paths_are_refused<S: ClassifierStore>(s: &S) -> Outcome {
        let c = tiny(["a", "b"])?;
        for (tenant, name) in [
            ("t1", "../t2/intents"),
            ("t1", ""),
            ("..", "intents"),
            ("t1", "a/b"),
        ] {
            check!(
                matches!(s.put(tenant, name, c.clone()).await, Err(Error::Param(_))),
                "put {tenant:?} {name:?} is not refused"
            );
            check!(
                matches!(s.get(tenant, name).await, Err(Error::Param(_))),
                "get {tenant:?} {name:?} is not refused"
            );
        }
        Ok(())
    }

    async fn deleting_one_or_a_tenant_removes_only_those<S: ClassifierStore>(s: &S) -> Outcome {
        for (t, n) in [("t1", "intents"), ("t1", "priority"), ("t2", "intents")] {
            ok("put", s.put(t, n, tiny(["a", "b"])?).await)?;
        }
        check!(
            ok("delete", s.delete("t1", "intents").await)?,
            "delete says none"
        );
        check!(
            !ok("delete", s.delete("t1", "intents").await)?,
            "a second delete says there was one"
        );
        check!(
            ok("list", s.list("t1").await)? == ["priority"],
            "t1 after the delete"
        );
        check!(
            ok("delete_tenant", s.delete_tenant("t1").await)?,
            "delete_tenant says none"
        );
        check!(
            ok("list", s.list("t1").await)?.is_empty(),
            "t1 after delete_tenant"
        );
        check!(
            !ok("delete_tenant", s.delete_tenant("t1").await)?,
            "deleting an empty tenant says there were some"
        );
        check!(
            ok("get", s.get("t2", "intents").await)?.is_some(),
            "t2's classifier went with t1"
        );
        Ok(())
    }
}
