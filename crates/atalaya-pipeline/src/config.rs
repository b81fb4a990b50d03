//! The `[pipelines]` section: pipeline files, the built-in one, where `http` steps may
//! connect, the tickets pipeline and operators' values for pipelines' `vars` (checked against
//! the loaded pipelines by the service).

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelinesConfig {
    /// Pipeline files (`.toml`, `.yaml`, `.yml`) or directories of them, loaded and
    /// validated at start-up.
    pub paths: Vec<PathBuf>,
    /// Serve the built-in `support` pipeline (a file naming a pipeline `support` replaces it).
    pub builtin: bool,
    /// Hosts every `http` step may call: `host` or `*.domain` (on the scheme's default port),
    /// or `host:port`.
    pub http_allowed_hosts: Vec<String>,
    /// Allowed hosts that may resolve to loopback, private, link-local or cloud-metadata
    /// addresses (an internal API). Any other host that resolves there is refused.
    pub http_private_hosts: Vec<String>,
    /// The pipeline `POST /v1/tickets` and `atalaya tickets triage` run.
    pub tickets_pipeline: String,
    /// Values replacing a pipeline's `vars`, by pipeline: `[pipelines.vars.support]`
    /// `collection = "help"`.
    pub vars: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl Default for PipelinesConfig {
    fn default() -> Self {
        PipelinesConfig {
            paths: Vec::new(),
            builtin: true,
            http_allowed_hosts: Vec::new(),
            http_private_hosts: Vec::new(),
            tickets_pipeline: "support".into(),
            vars: BTreeMap::new(),
        }
    }
}

impl PipelinesConfig {
    /// Problems with this section's own values, as (key, problem).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        for (key, hosts) in [
            ("http_allowed_hosts", &self.http_allowed_hosts),
            ("http_private_hosts", &self.http_private_hosts),
        ] {
            for (i, h) in hosts.iter().enumerate() {
                let host = h.strip_prefix("*.").unwrap_or(h);
                if host.is_empty()
                    || !host.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
                {
                    issues.push((
                        format!("pipelines.{key}[{i}]"),
                        format!("'{h}' is not a host, host:port or *.domain"),
                    ));
                }
            }
        }
        if self.tickets_pipeline.trim().is_empty() {
            issues.push((
                "pipelines.tickets_pipeline".into(),
                "name a pipeline".into(),
            ));
        }
        issues
    }
}
