//! Secret references. Configuration never holds a secret itself, only a reference to where
//! it lives: `env:NAME` (an environment variable) or `file:PATH` (a file's trimmed content).

use std::fmt;

/// A resolved secret. Its `Debug` output is redacted so it can never reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Whether `value` is written as a reference (`env:` or `file:`).
pub fn is_reference(value: &str) -> bool {
    value.starts_with("env:") || value.starts_with("file:")
}

/// Resolves a reference. `lookup` reads environment variables (injected for tests).
/// Errors are plain sentences that the caller attaches to the config key.
pub fn resolve(reference: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Secret, String> {
    if let Some(name) = reference.strip_prefix("env:") {
        if name.is_empty() {
            return Err("'env:' needs a variable name, e.g. \"env:OPENAI_API_KEY\"".into());
        }
        match lookup(name) {
            Some(v) if !v.is_empty() => Ok(Secret(v)),
            _ => Err(format!("environment variable {name} is not set or empty")),
        }
    } else if let Some(path) = reference.strip_prefix("file:") {
        match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_owned())),
            Ok(_) => Err(format!("secret file {path} is empty")),
            Err(e) => Err(format!("secret file {path} cannot be read: {e}")),
        }
    } else {
        Err("secrets must be references such as \"env:NAME\" or \"file:/path\"; literal secrets are not accepted in the config".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_env_and_rejects_literals() {
        let env = |k: &str| (k == "K").then(|| "v".to_owned());
        assert_eq!(resolve("env:K", &env).unwrap().expose(), "v");
        assert!(resolve("env:MISSING", &env)
            .unwrap_err()
            .contains("MISSING"));
        assert!(resolve("sk-live-123", &env)
            .unwrap_err()
            .contains("references"));
        assert_eq!(format!("{:?}", Secret::new("x".into())), "Secret(***)");
    }

    #[test]
    fn resolves_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "abc\n").unwrap();
        let r = format!("file:{}", p.display());
        assert_eq!(resolve(&r, &|_| None).unwrap().expose(), "abc");
    }
}
