//! The `[guard]` section: named policies and the default one. Routes name a policy
//! (`models.NAME.guard`); the root configuration checks those names against this section.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    /// The policy of routes that name none; unset = routes without `guard` are not guarded.
    pub default_policy: Option<String>,
    /// Policies by name: `[guard.policies.strict]` with `pii`, `injection`, `output` tables.
    pub policies: BTreeMap<String, crate::Policy>,
}

impl GuardConfig {
    /// Problems with this section, as (key, problem); `quote` writes a name as a TOML key.
    pub fn check(&self, quote: fn(&str) -> String) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        for (name, policy) in &self.policies {
            if let Err(e) = policy.validate() {
                issues.push((format!("guard.policies.{}", quote(name)), e.to_string()));
            }
        }
        if let Some(p) = &self.default_policy {
            if !self.policies.contains_key(p) {
                issues.push((
                    "guard.default_policy".into(),
                    format!("'{p}' is not a policy in [guard.policies]"),
                ));
            }
        }
        issues
    }
}
