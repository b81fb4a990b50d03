//! `[coordination]`: what replicas share besides the records: rate limits, concurrency
//! gates and budgets. Without `redis_url`, every process counts its own (exact for one
//! replica); with it, limits and budgets are counted once across every replica.

use std::time::Duration;

use atalaya_core::{secret, Error};
use serde::{Deserialize, Serialize};

/// What the limits do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Count in each replica, limits divided by `expected_replicas` (budgets checked against
    /// the last totals seen); a warning and the `atalaya_coordination_*` metrics say so.
    #[default]
    FailOpen,
    /// Refuse requests with a limit or budget (503 `coordination_unavailable`).
    FailClosed,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinationConfig {
    /// `redis://host:6379` (or `rediss://` for TLS), as `env:NAME` or `file:PATH` when it
    /// carries a password. Unset: limits are counted in each process.
    pub redis_url: Option<String>,
    /// How long one Redis call may take before Redis counts as unreachable.
    pub timeout_ms: u64,
    pub on_unavailable: OnUnavailable,
    /// How many replicas serve the deployment (fail_open divides each limit by it).
    pub expected_replicas: u32,
    /// The hash tag of every key (`{prefix}:…`): deployments sharing a Redis need their own.
    pub key_prefix: String,
    /// How long a crashed replica's concurrency slots stay taken.
    pub lease_ms: u64,
}

impl Default for CoordinationConfig {
    fn default() -> Self {
        CoordinationConfig {
            redis_url: None,
            timeout_ms: 250,
            on_unavailable: OnUnavailable::FailOpen,
            expected_replicas: 1,
            key_prefix: "atalaya".into(),
            lease_ms: 30_000,
        }
    }
}

impl CoordinationConfig {
    /// Problems, each naming its key.
    pub fn check(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        if !(10..=10_000).contains(&self.timeout_ms) {
            issues.push((
                "coordination.timeout_ms".into(),
                "must be between 10 and 10000".into(),
            ));
        }
        if !(1..=1000).contains(&self.expected_replicas) {
            issues.push((
                "coordination.expected_replicas".into(),
                "must be between 1 and 1000".into(),
            ));
        }
        if !(1_000..=3_600_000).contains(&self.lease_ms) {
            issues.push((
                "coordination.lease_ms".into(),
                "must be between 1000 and 3600000 (an hour)".into(),
            ));
        }
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || !self
                .key_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            issues.push((
                "coordination.key_prefix".into(),
                "must be 1 to 64 letters, digits, '-' or '_'".into(),
            ));
        }
        if self.redis_url.is_some() {
            if let Err(e) = self.url(lookup) {
                issues.push(("coordination.redis_url".into(), e));
            }
        }
        issues
    }

    fn url(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let reference = self.redis_url.as_deref().unwrap_or_default();
        let url = if secret::is_reference(reference) {
            secret::resolve(reference, lookup)?.expose().to_owned()
        } else {
            reference.to_owned()
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(
                "must be a redis:// or rediss:// URL, e.g. redis_url = \"env:REDIS_URL\"".into(),
            );
        };
        if scheme != "redis" && scheme != "rediss" {
            return Err(format!(
                "must be a redis:// or rediss:// URL, not {scheme}://"
            ));
        }
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        if !secret::is_reference(reference) && authority.contains('@') {
            return Err(
                "the URL carries credentials: keep them out of the file, e.g. redis_url = \"env:REDIS_URL\""
                    .into(),
            );
        }
        if authority.rsplit('@').next().unwrap_or_default().is_empty() {
            return Err("names no host".into());
        }
        Ok(url)
    }

    /// The connection's settings with the URL resolved; `None` without Redis.
    pub fn redis(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<atalaya_redis::Settings>, Error> {
        if self.redis_url.is_none() {
            return Ok(None);
        }
        let url = self
            .url(lookup)
            .map_err(|p| Error::config("coordination.redis_url", p))?;
        Ok(Some(atalaya_redis::Settings {
            url,
            timeout: Duration::from_millis(self.timeout_ms),
            on_unavailable: match self.on_unavailable {
                OnUnavailable::FailOpen => atalaya_redis::OnUnavailable::FailOpen,
                OnUnavailable::FailClosed => atalaya_redis::OnUnavailable::FailClosed,
            },
            expected_replicas: self.expected_replicas,
            prefix: self.key_prefix.clone(),
            lease: Duration::from_millis(self.lease_ms),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(url: &str) -> CoordinationConfig {
        CoordinationConfig {
            redis_url: Some(url.into()),
            ..CoordinationConfig::default()
        }
    }

    #[test]
    fn redis_urls_are_checked_and_never_carry_a_literal_password() {
        let env = |k: &str| (k == "REDIS_URL").then(|| "redis://:pw@cache:6379/0".to_owned());
        assert!(with("env:REDIS_URL").check(&env).is_empty());
        assert!(with("redis://127.0.0.1:6379").check(&env).is_empty());
        assert!(with("rediss://cache.internal:6380/2")
            .check(&env)
            .is_empty());
        let p = with("redis://:secret@cache:6379").check(&env);
        assert!(
            p[0].0 == "coordination.redis_url" && p[0].1.contains("credentials"),
            "{p:?}"
        );
        assert!(!p[0].1.contains("secret"));
        assert_eq!(
            with("http://cache").check(&env)[0].0,
            "coordination.redis_url"
        );
        assert_eq!(
            with("env:MISSING").check(&env)[0].0,
            "coordination.redis_url"
        );
        let resolved = with("env:REDIS_URL").redis(&env).unwrap().unwrap();
        assert_eq!(resolved.url, "redis://:pw@cache:6379/0");
        assert!(!format!("{resolved:?}").contains("pw"));
        assert!(CoordinationConfig::default().redis(&env).unwrap().is_none());
    }

    #[test]
    fn numbers_and_the_prefix_are_bounded() {
        let c = CoordinationConfig {
            timeout_ms: 0,
            expected_replicas: 0,
            lease_ms: 10,
            key_prefix: "a b".into(),
            ..CoordinationConfig::default()
        };
        let keys: Vec<String> = c.check(&|_| None).into_iter().map(|p| p.0).collect();
        assert_eq!(
            keys,
            [
                "coordination.timeout_ms",
                "coordination.expected_replicas",
                "coordination.lease_ms",
                "coordination.key_prefix"
            ]
        );
    }
}
