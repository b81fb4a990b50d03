//! Keys configured in `auth.api_keys`: references (`env:NAME`, `file:PATH`, resolved at
//! start-up) or SHA-256 hashes. Only digests are kept; `atalaya-tenancy` compares a
//! presented key with all of them in constant time. Keys issued by the admin API live in the
//! store instead.

use sha2::{Digest, Sha256};

use atalaya_core::{secret, ConfigIssue, Error};

/// `sha256:<hex>` form of a key, as accepted in `auth.api_keys`.
pub fn hash_key(key: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// The SHA-256 digest of a key given as a reference (`env:NAME`, `file:PATH`) or as
/// `sha256:<64 hex digits>`.
pub fn key_digest(
    entry: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<[u8; 32], String> {
    match entry.strip_prefix("sha256:") {
        Some(h) => hex::decode(h)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| "a sha256: entry needs exactly 64 hex digits".to_owned()),
        None => {
            secret::resolve(entry, lookup).map(|s| Sha256::digest(s.expose().as_bytes()).into())
        }
    }
}

/// Whether `authorization` is `Bearer <key>` for the key whose digest is `digest` (compared
/// in constant time).
pub fn bearer_matches(authorization: Option<&str>, digest: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    authorization
        .and_then(atalaya_tenancy::service::bearer_token)
        .is_some_and(|token| atalaya_tenancy::keys::digest(token).ct_eq(digest).into())
}

/// The digests of `auth.api_keys` (its entries given as they are configured).
pub fn static_key_digests(
    api_keys: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<[u8; 32]>, Error> {
    let mut hashes = Vec::with_capacity(api_keys.len());
    let mut issues = Vec::new();
    for (i, entry) in api_keys.iter().enumerate() {
        match key_digest(entry, lookup) {
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
    use crate::AuthConfig;

    #[test]
    fn env_and_hash_entries() {
        let cfg = AuthConfig {
            api_keys: vec!["env:K".into(), hash_key("sk-hashed")],
            ..AuthConfig::default()
        };
        let d = static_key_digests(&cfg.api_keys, &|k| (k == "K").then(|| "sk-env".to_owned()))
            .unwrap();
        assert_eq!(d[0], <[u8; 32]>::from(Sha256::digest(b"sk-env")));
        assert_eq!(d[1], <[u8; 32]>::from(Sha256::digest(b"sk-hashed")));
        let bad = AuthConfig {
            api_keys: vec!["sha256:12".into(), "env:MISSING".into()],
            ..AuthConfig::default()
        };
        match static_key_digests(&bad.api_keys, &|_| None) {
            Err(Error::Config(issues)) => assert_eq!(issues.len(), 2),
            other => panic!("{other:?}"),
        }
    }
}
