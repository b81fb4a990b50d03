//! Authentication: who is calling, from an `Authorization` header, and whether that key may
//! still be used. A view of the shared [`Tenancy`] state ([`Tenancy::authn`]).

use std::{ops::Deref, sync::Arc};

use atalaya_store::{Limits, Role};
use subtle::ConstantTimeEq;

use crate::{
    access::{Principal, DEFAULT_TENANT},
    clock::now_millis,
    keys,
    service::{bearer_token, lock, CachedKey, Tenancy, MAX_MISSING_PREFIXES},
    Error, Result,
};

/// Authentication, over the shared tenancy state.
pub struct Authn<'a>(pub(crate) &'a Tenancy);

impl Deref for Authn<'_> {
    type Target = Tenancy;

    fn deref(&self) -> &Tenancy {
        self.0
    }
}

impl Tenancy {
    /// Authentication: keys to principals.
    pub fn authn(&self) -> Authn<'_> {
        Authn(self)
    }
}

impl Authn<'_> {
    /// Verifies the value of an `Authorization` header. Failures are audited (without the
    /// key) and say why: missing, invalid, revoked or expired.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        source_ip: Option<&str>,
    ) -> Result<Principal> {
        self.authenticate_from(authorization, || source_ip.map(str::to_owned))
            .await
    }

    /// [`Tenancy::authenticate`] with the client's address worked out only for a failure.
    pub async fn authenticate_from(
        &self,
        authorization: Option<&str>,
        source_ip: impl FnOnce() -> Option<String>,
    ) -> Result<Principal> {
        if !self.settings.auth_enabled {
            return Ok(Principal::anonymous());
        }
        let result = self.check_key(authorization).await;
        if let Err(e) = &result {
            self.audit_failure(e, authorization, source_ip().as_deref());
        }
        result
    }

    async fn check_key(&self, authorization: Option<&str>) -> Result<Principal> {
        let header = authorization.ok_or(Error::MissingKey)?;
        let key = bearer_token(header).ok_or(Error::MissingKey)?;
        let digest = keys::digest(key);
        // Keys of `auth.api_keys` first (they may look like store keys): compared with every
        // entry, without an early exit.
        let mut hit = subtle::Choice::from(0u8);
        for h in &self.settings.static_keys {
            hit |= h.ct_eq(&digest);
        }
        if bool::from(hit) {
            let id = format!("static:{}", hex::encode(&digest[..4]));
            return Ok(Principal {
                display: id.clone(),
                key_id: id,
                tenant: DEFAULT_TENANT.into(),
                role: Role::Member,
                limits: Limits::default(),
            });
        }
        if let Some(prefix) = keys::prefix_of(key) {
            let found = match self.lookup_cached(prefix, &digest) {
                Some(k) => Some(k),
                // Unknown prefix: perhaps created by another process since the last reload.
                None if lock(&self.missing_prefixes).contains(prefix) => None,
                None => {
                    let stored = self.store.keys_by_prefix(prefix).await?;
                    let hit = stored
                        .into_iter()
                        .find(|k| bool::from(k.hash.ct_eq(&digest)));
                    if hit.is_some() {
                        self.reload().await?;
                    } else {
                        let mut missing = lock(&self.missing_prefixes);
                        if missing.len() >= MAX_MISSING_PREFIXES {
                            missing.clear();
                        }
                        missing.insert(prefix.to_owned());
                    }
                    hit.map(|record| Arc::new(CachedKey { record }))
                }
            };
            if let Some(k) = found {
                return self.principal_of(&k.record);
            }
        }
        Err(Error::InvalidKey)
    }

    /// Whether the key behind `principal` may still be used (not revoked, expired or
    /// deleted, its tenant still there), from the cache that a revocation reaches within a
    /// second, in this process or another: long streams check it as they go.
    pub fn still_usable(&self, principal: &Principal) -> bool {
        if !self.settings.auth_enabled || principal.key_id.starts_with("static:") {
            return true;
        }
        let now = now_millis();
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let Some(k) = cache
            .by_prefix
            .get(&principal.display)
            .and_then(|ks| ks.iter().find(|k| k.record.id == principal.key_id))
        else {
            return false;
        };
        let r = &k.record;
        !(r.revoked_at.is_some_and(|t| t <= now) || r.expires_at.is_some_and(|t| t <= now))
            && cache.tenants.contains_key(&r.tenant_id)
    }
}
