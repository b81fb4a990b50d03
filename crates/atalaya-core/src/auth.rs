//! Client API-key verification. Keys are configured as references (`env:NAME`, resolved at
//! start-up) or as SHA-256 hashes; only hashes are kept in memory. A presented key is hashed
//! and compared with every configured hash in constant time.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{config::AuthConfig, context::Principal, secret, ConfigIssue, Error};

pub struct KeyVerifier {
    enabled: bool,
    hashes: Vec<[u8; 32]>,
}

/// `sha256:<hex>` form of a key, as accepted in `auth.api_keys`.
pub fn hash_key(key: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

impl KeyVerifier {
    pub fn from_config(
        cfg: &AuthConfig,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let mut hashes = Vec::with_capacity(cfg.api_keys.len());
        let mut issues = Vec::new();
        for (i, entry) in cfg.api_keys.iter().enumerate() {
            let parsed = match entry.strip_prefix("sha256:") {
                Some(h) => hex::decode(h)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| "a sha256: entry needs exactly 64 hex digits".to_owned()),
                None => secret::resolve(entry, lookup)
                    .map(|s| Sha256::digest(s.expose().as_bytes()).into()),
            };
            match parsed {
                Ok(h) => hashes.push(h),
                Err(problem) => issues.push(ConfigIssue {
                    key: format!("auth.api_keys[{i}]"),
                    problem,
                }),
            }
        }
        if !issues.is_empty() {
            return Err(Error::Config(issues));
        }
        Ok(KeyVerifier {
            enabled: cfg.enabled,
            hashes,
        })
    }

    /// Verifies the value of an `Authorization` header (or its absence).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, Error> {
        if !self.enabled {
            return Ok(Principal::anonymous());
        }
        let header = authorization.ok_or(Error::MissingApiKey)?;
        let key = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(Error::MissingApiKey)?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        // Compare against every entry, without an early exit, so timing says nothing about
        // which (or whether a) prefix matched.
        let mut found = subtle::Choice::from(0u8);
        for h in &self.hashes {
            found |= h.ct_eq(&digest);
        }
        if bool::from(found) {
            Ok(Principal {
                key_id: hex::encode(&digest[..4]),
                tenant: None,
            })
        } else {
            Err(Error::InvalidApiKey)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(keys: &[&str]) -> KeyVerifier {
        let cfg = AuthConfig {
            enabled: true,
            api_keys: keys.iter().map(|s| (*s).to_owned()).collect(),
        };
        KeyVerifier::from_config(&cfg, &|k| (k == "K").then(|| "sk-env".to_owned())).unwrap()
    }

    #[test]
    fn accepts_env_and_hash_keys() {
        let v = verifier(&["env:K", &hash_key("sk-hashed")]);
        assert!(v.authenticate(Some("Bearer sk-env")).is_ok());
        let p = v.authenticate(Some("Bearer sk-hashed")).unwrap();
        assert_eq!(p.key_id.len(), 8);
        assert!(!p.key_id.contains("sk-"));
    }

    #[test]
    fn rejects_missing_bad_and_malformed() {
        let v = verifier(&["env:K"]);
        assert!(matches!(v.authenticate(None), Err(Error::MissingApiKey)));
        assert!(matches!(
            v.authenticate(Some("Basic abc")),
            Err(Error::MissingApiKey)
        ));
        assert!(matches!(
            v.authenticate(Some("Bearer ")),
            Err(Error::MissingApiKey)
        ));
        assert!(matches!(
            v.authenticate(Some("Bearer sk-env2")),
            Err(Error::InvalidApiKey)
        ));
    }

    #[test]
    fn disabled_auth_is_anonymous() {
        let v = KeyVerifier::from_config(
            &AuthConfig {
                enabled: false,
                api_keys: vec![],
            },
            &|_| None,
        )
        .unwrap();
        assert_eq!(v.authenticate(None).unwrap(), Principal::anonymous());
    }
}
