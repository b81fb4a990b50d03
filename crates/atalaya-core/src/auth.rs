//! Keys configured in `auth.api_keys`: references (`env:NAME`, `file:PATH`, resolved at
//! start-up) or SHA-256 hashes. Only digests are kept; `atalaya-tenancy` compares a
//! presented key with all of them in constant time. Keys issued by the admin API live in the
//! store instead.

use sha2::{Digest, Sha256};

use crate::{config::AuthConfig, secret, ConfigIssue, Error};

/// `sha256:<hex>` form of a key, as accepted in `auth.api_keys`.
pub fn hash_key(key: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// The SHA-256 digests of the configured keys.
pub fn static_key_digests(
    cfg: &AuthConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<[u8; 32]>, Error> {
    let mut hashes = Vec::with_capacity(cfg.api_keys.len());
    let mut issues = Vec::new();
    for (i, entry) in cfg.api_keys.iter().enumerate() {
        let parsed = match entry.strip_prefix("sha256:") {
            Some(h) => hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| "a sha256: entry needs exactly 64 hex digits".to_owned()),
            None => {
                secret::resolve(entry, lookup).map(|s| Sha256::digest(s.expose().as_bytes()).into())
            }
        };
        match parsed {
            Ok(h) => hashes.push(h),
            Err(problem) => issues.push(ConfigIssue {
                key: format!("auth.api_keys[{i}]"),
                problem,
            }),
        }
    }
    if issues.is_empty() {
        Ok(hashes)
    } else {
        Err(Error::Config(issues))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_hash_entries() {
        let cfg = AuthConfig {
            api_keys: vec!["env:K".into(), hash_key("sk-hashed")],
            ..AuthConfig::default()
        };
        let d = static_key_digests(&cfg, &|k| (k == "K").then(|| "sk-env".to_owned())).unwrap();
        assert_eq!(d[0], <[u8; 32]>::from(Sha256::digest(b"sk-env")));
        assert_eq!(d[1], <[u8; 32]>::from(Sha256::digest(b"sk-hashed")));
        let bad = AuthConfig {
            api_keys: vec!["sha256:12".into(), "env:MISSING".into()],
            ..AuthConfig::default()
        };
        match static_key_digests(&bad, &|_| None) {
            Err(Error::Config(issues)) => assert_eq!(issues.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
