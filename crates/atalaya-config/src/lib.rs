//! Atalaya's configuration file: the root that aggregates every subsystem's section, layered
//! as built-in defaults < TOML file (`--config`) < `ATALAYA__SECTION__KEY` environment
//! variables < CLI flags. Every struct denies unknown fields, and [`Config::validate`]
//! reports every problem with the key it is about.
//!
//! Each section belongs to the crate that uses it and checks its own values:
//! the gateway's (`upstreams`, `local_models`, `onnxruntime`, `models`) in `atalaya-core`,
//! `guard` in `atalaya-guard`, `knowledge` in `atalaya-knowledge`, `pipelines` in
//! `atalaya-pipeline`, `audit`, `encryption`, `pricing` and `limits` in `atalaya-tenancy`.
//! This crate owns the process's own sections (`server`, `auth`, `log`), the checks that
//! span sections (a route's guard policy, the knowledge base's models), the layering, and
//! the key digests of `auth.api_keys` ([`auth`]).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use atalaya_core::{secret, ConfigIssue, Error};
use figment::{
    providers::{Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};

pub mod auth;
pub mod coordination;
pub mod storage;

pub use atalaya_core::config::{
    looks_sensitive, quote_key, visible_ascii, CircuitBreakerConfig, FlashAttention,
    GatewaySections, KvCacheType, LocalModelConfig, LocalModelKind, LoraConfig, ModelConfig,
    OnnxRuntimeConfig, RetryConfig, SamplingConfig, TargetConfig, UpstreamConfig,
};
pub use atalaya_guard::config::GuardConfig;
pub use atalaya_knowledge::config::KnowledgeConfig;
pub use atalaya_pipeline::config::PipelinesConfig;

/// Environment variable prefix for overrides: `ATALAYA__SERVER__LISTEN=0.0.0.0:8080`.
pub const ENV_PREFIX: &str = "ATALAYA__";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub log: LogConfig,
    /// Upstream servers by name.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// Models served in-process by the local engine (GGUF files), by name. Route targets
    /// name them like upstreams: `targets = [{ upstream = "NAME" }]`.
    pub local_models: BTreeMap<String, LocalModelConfig>,
    /// ONNX Runtime, which runs `.onnx` embedding models.
    pub onnxruntime: OnnxRuntimeConfig,
    /// Model routes by the name clients send in `"model"`.
    pub models: BTreeMap<String, ModelConfig>,
    /// The knowledge base's HTTP API (collections, uploads, search, grounded answers).
    pub knowledge: KnowledgeConfig,
    /// Guardrails: named policies that model routes refer to (`models.NAME.guard`).
    pub guard: GuardConfig,
    /// The tamper-evident audit log's anchors.
    pub audit: atalaya_tenancy::config::AuditConfig,
    /// Encryption at rest of the inference log.
    pub encryption: atalaya_tenancy::config::EncryptionConfig,
    /// Prices per model name (for cost budgets and usage reports).
    pub pricing: BTreeMap<String, atalaya_tenancy::config::Price>,
    /// How requests are estimated and budgets counted.
    pub limits: atalaya_tenancy::config::LimitsConfig,
    /// Declarative pipelines (`/v1/pipelines`, `pipeline:NAME` models, tickets).
    pub pipelines: PipelinesConfig,
    /// Where the platform's records live: embedded SQLite (one node) or Postgres (replicas).
    pub storage: storage::StorageConfig,
    /// Limits and budgets shared by replicas (Redis).
    pub coordination: coordination::CoordinationConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Directory for persistent state (the embedded store of later releases).
    pub data_dir: PathBuf,
    /// Largest accepted request body, in bytes (413 `request_too_large` beyond).
    pub max_body_bytes: u64,
    /// How long shutdown waits for in-flight requests and streams to finish.
    pub shutdown_grace_ms: u64,
    /// Requests served at once; beyond, 503 `service_unavailable` with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Async worker threads; 0 = one per CPU.
    pub worker_threads: usize,
    /// Origins allowed to call the API from a browser (CORS); empty = CORS off. `"*"`
    /// allows any origin (credentials are never allowed).
    pub cors_allowed_origins: Vec<String>,
    /// Deepest nesting of arrays and objects accepted in a JSON body.
    pub max_json_depth: usize,
    /// Largest total size of a request's headers, in bytes (400 beyond).
    pub max_header_bytes: usize,
    /// Reverse proxies (addresses or networks, `10.0.0.0/8`) whose `X-Forwarded-For` names
    /// the client in audit entries; empty = the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// The key `/metrics` requires as `Authorization: Bearer` (a reference, `env:NAME` or
    /// `file:PATH`, or `sha256:<hex>`); unset = `/metrics` is open, for a scraper on a
    /// private network.
    pub metrics_key: Option<String>,
    /// Connections open at once (authenticated or not); one more is closed at once.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, in ms.
    pub header_read_timeout_ms: u64,
    /// Longest gap while a request body arrives, in ms (408 `request_timeout`).
    pub body_read_timeout_ms: u64,
    /// Slowest average rate a request body may arrive at after its first 5 s, in bytes per
    /// second; 0 = none (408 `request_timeout`).
    pub min_body_bytes_per_sec: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            max_body_bytes: 1024 * 1024,
            shutdown_grace_ms: 30_000,
            max_concurrent_requests: 10_000,
            worker_threads: 0,
            cors_allowed_origins: Vec::new(),
            max_json_depth: 64,
            max_header_bytes: 32 * 1024,
            trusted_proxies: Vec::new(),
            metrics_key: None,
            max_connections: 4096,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            min_body_bytes_per_sec: 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When false, API requests need no key (only for local development).
    pub enabled: bool,
    /// Keys of the `default` tenant (role member), each either a reference (`env:NAME`,
    /// `file:PATH`) or a hash (`sha256:<64 hex digits>`, from `atalaya keys hash`). Never the
    /// key itself. Keys issued by the admin API or `atalaya keys create` live in the store.
    pub api_keys: Vec<String>,
    /// A platform-admin key (`atl_…`, from `atalaya keys generate`) added to the store on
    /// first start, when no platform admin exists. Unset or an unset variable = none.
    pub bootstrap_admin_key: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            api_keys: Vec::new(),
            bootstrap_admin_key: Some("env:ATALAYA_ADMIN_KEY".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Json,
        }
    }
}

/// Overrides given on the command line: they win over the file and the environment.
#[derive(Debug, Clone, Default)]
pub struct CliOverrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// `--upstream URL --model NAME`: route NAME to one upstream named `default`.
    pub quick_route: Option<(String, String)>,
    /// Accepted keys to add (from `ATALAYA_API_KEY` or a generated demo key).
    pub api_keys: Vec<String>,
    /// `--gguf PATH` / `--embedding-model PATH`: local models, each routed under its name.
    pub quick_local: Vec<QuickLocal>,
}

/// A local model added from the command line: `[local_models.NAME]` plus a route NAME → it.
#[derive(Debug, Clone, PartialEq)]
pub struct QuickLocal {
    pub name: String,
    pub path: PathBuf,
    pub kind: LocalModelKind,
}

impl Config {
    /// The guard policy of a route: its own `guard`, else `guard.default_policy`.
    pub fn guard_policy(&self, model: &str) -> Option<(&str, &atalaya_guard::Policy)> {
        let name = match self.models.get(model).and_then(|m| m.guard.as_deref()) {
            Some("off") => return None,
            Some(p) => p,
            None => self.guard.default_policy.as_deref()?,
        };
        self.guard
            .policies
            .get_key_value(name)
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The sections the gateway reads.
    pub fn gateway(&self) -> GatewaySections<'_> {
        GatewaySections {
            upstreams: &self.upstreams,
            local_models: &self.local_models,
            onnxruntime: &self.onnxruntime,
            models: &self.models,
        }
    }

    /// The layered configuration, not yet validated.
    fn extract(
        file: Option<&Path>,
        env: &[(String, String)],
        cli: &CliOverrides,
    ) -> Result<Config, Error> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Error::config(
                    "--config",
                    format!("file {} does not exist", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Overrides from the environment given (not the process's own, so tests are hermetic).
        let env_map: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .cloned()
            .collect();
        if !env_map.is_empty() {
            let mut toml_text = String::new();
            let mut issues = Vec::new();
            for (name, value) in &env_map {
                match env_to_toml_line(name, value) {
                    Ok(line) => toml_text.push_str(&line),
                    Err(problem) => issues.push(ConfigIssue {
                        key: name.clone(),
                        problem,
                    }),
                }
            }
            if !issues.is_empty() {
                return Err(Error::Config(issues));
            }
            figment = figment.merge(Toml::string(&toml_text));
        }
        // (figment's own Env provider is not used: its lower-casing and splitting cannot
        // address model names with dots or capitals; the quoted-key TOML form above can.)
        figment = apply_cli(figment, cli);
        let config: Config = figment.extract().map_err(|e| {
            Error::Config(
                e.into_iter()
                    .map(|e| ConfigIssue {
                        key: if e.path.is_empty() {
                            "(root)".into()
                        } else {
                            e.path.join(".")
                        },
                        problem: describe_figment_error(&e),
                    })
                    .collect(),
            )
        })?;
        Ok(config)
    }

    /// Loads the layered configuration and validates it.
    pub fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        cli: &CliOverrides,
    ) -> Result<Config, Error> {
        let config = Config::extract(file, env, cli)?;
        config.validate(&|k| lookup_in(env, k))?;
        Ok(config)
    }

    /// Like [`Config::load`] for offline tools (`atalaya kb`, `models list`) that serve no
    /// requests: everything is validated except the client-facing `auth` section and the
    /// requirement that some model route exists.
    pub fn load_for_tools(
        file: Option<&Path>,
        env: &[(String, String)],
        cli: &CliOverrides,
    ) -> Result<Config, Error> {
        let config = Config::extract(file, env, cli)?;
        let lookup = |k: &str| lookup_in(env, k);
        match config.validate(&lookup) {
            Err(Error::Config(issues)) => {
                let rest: Vec<ConfigIssue> = issues
                    .into_iter()
                    .filter(|i| i.key != "auth" && !i.key.starts_with("auth.") && i.key != "models")
                    .collect();
                if rest.is_empty() {
                    Ok(config)
                } else {
                    Err(Error::Config(rest))
                }
            }
            other => other.map(|()| config),
        }
    }

    /// Checks values and cross-references. `lookup` reads environment variables, so that a
    /// missing `env:NAME` secret is reported at start-up, naming the key.
    pub fn validate(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), Error> {
        let mut issues = Vec::new();
        let mut issue = |key: String, problem: String| issues.push(ConfigIssue { key, problem });

        if self.server.listen.parse::<SocketAddr>().is_err() {
            issue(
                "server.listen".into(),
                format!(
                    "'{}' is not an address like 127.0.0.1:8080",
                    self.server.listen
                ),
            );
        }
        if !(1..=1 << 30).contains(&self.server.max_body_bytes) {
            issue(
                "server.max_body_bytes".into(),
                "must be between 1 and 1073741824".into(),
            );
        }
        if self.server.worker_threads > 1024 {
            issue(
                "server.worker_threads".into(),
                "must be between 0 (one per CPU) and 1024".into(),
            );
        }
        if !(1..=1_000_000).contains(&self.server.max_concurrent_requests) {
            issue(
                "server.max_concurrent_requests".into(),
                "must be between 1 and 1000000".into(),
            );
        }
        for (i, key) in self.auth.api_keys.iter().enumerate() {
            let k = format!("auth.api_keys[{i}]");
            if let Some(hex_digest) = key.strip_prefix("sha256:") {
                if hex_digest.len() != 64 || hex::decode(hex_digest).is_err() {
                    issue(k, "a sha256: entry needs exactly 64 hex digits".into());
                }
            } else if let Err(p) = secret::resolve(key, lookup) {
                issue(k, p);
            }
        }
        if let Some(r) = &self.auth.bootstrap_admin_key {
            match secret::resolve(r, lookup) {
                Ok(k) if atalaya_tenancy::keys::prefix_of(k.expose()).is_none() => issue(
                    "auth.bootstrap_admin_key".into(),
                    "the key must be atl_ followed by at least 40 characters; `atalaya keys generate` prints one".into(),
                ),
                Ok(_) => {}
                // An unset variable means no bootstrap key; a literal is still an error.
                Err(_) if r.starts_with("env:") && r.len() > 4 => {}
                Err(p) => issue("auth.bootstrap_admin_key".into(), p),
            }
        }
        if !(1..=1024).contains(&self.server.max_json_depth) {
            issue(
                "server.max_json_depth".into(),
                "must be between 1 and 1024".into(),
            );
        }
        if !(1024..=1 << 20).contains(&self.server.max_header_bytes) {
            issue(
                "server.max_header_bytes".into(),
                "must be between 1024 and 1048576".into(),
            );
        }
        if let Err((i, problem)) =
            atalaya_core::proxy::TrustedProxies::parse(&self.server.trusted_proxies)
        {
            issue(format!("server.trusted_proxies[{i}]"), problem);
        }
        for (i, o) in self.server.cors_allowed_origins.iter().enumerate() {
            let ok = o == "*"
                || ((o.starts_with("http://") || o.starts_with("https://"))
                    && !o.ends_with('/')
                    && visible_ascii(o));
            if !ok {
                issue(
                    format!("server.cors_allowed_origins[{i}]"),
                    format!("'{o}' is not an origin like https://app.example.com (no path, no trailing slash) or \"*\""),
                );
            }
        }
        if self.server.max_connections == 0 {
            issue("server.max_connections".into(), "must be at least 1".into());
        }
        for (key, ms) in [
            (
                "server.header_read_timeout_ms",
                self.server.header_read_timeout_ms,
            ),
            (
                "server.body_read_timeout_ms",
                self.server.body_read_timeout_ms,
            ),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                issue(
                    key.into(),
                    "must be between 100 and 3600000 (one hour)".into(),
                );
            }
        }
        if !tracing_level_ok(&self.log.level) {
            issue(
                "log.level".into(),
                format!("'{}' is not a log level or filter", self.log.level),
            );
        }
        if let Some(m) = &self.knowledge.embedding_model {
            let ok = self
                .local_models
                .get(m)
                .is_some_and(|lm| lm.kind == LocalModelKind::Embedding);
            if !ok {
                issue(
                    "knowledge.embedding_model".into(),
                    format!(
                        "'{m}' is not an embedding model of [local_models] (kind = \"embedding\")"
                    ),
                );
            }
        }
        if let Some(m) = &self.knowledge.answer_model {
            if !self.models.contains_key(m) {
                issue(
                    "knowledge.answer_model".into(),
                    format!("'{m}' is not a model route of [models]"),
                );
            }
        }
        if let Some(m) = &self.knowledge.rerank_model {
            if !self.models.contains_key(m) {
                issue(
                    "knowledge.rerank_model".into(),
                    format!("'{m}' is not a model route of [models]"),
                );
            }
        }
        for (name, m) in &self.models {
            if let Some(p) = &m.guard {
                if p != "off" && !self.guard.policies.contains_key(p) {
                    issue(
                        format!("models.{}.guard", quote_key(name)),
                        format!("'{p}' is not a policy in [guard.policies] (or \"off\")"),
                    );
                }
            }
        }
        // Each subsystem's section checks itself; what spans sections is checked above.
        issues.extend(self.gateway().check(lookup));
        let resolve = |r: &str| secret::resolve(r, lookup).map(|s| s.expose().to_owned());
        let owned = self
            .guard
            .check(quote_key)
            .into_iter()
            .chain(self.knowledge.check())
            .chain(self.pipelines.check())
            .chain(self.storage.check(lookup))
            .chain(self.coordination.check(lookup))
            .chain(atalaya_tenancy::config::check(
                &self.audit,
                &self.encryption,
                &self.pricing,
                &self.limits,
                &resolve,
                quote_key,
            ));
        issues.extend(owned.map(|(key, problem)| ConfigIssue { key, problem }));
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(issues))
        }
    }

    /// The effective configuration as TOML, with credential-like header values masked.
    /// Secrets themselves are never in a `Config` (only references), so nothing else leaks.
    pub fn to_masked_toml(&self) -> Result<String, Error> {
        let mut masked = self.clone();
        for up in masked.upstreams.values_mut() {
            for (h, v) in up.headers.iter_mut() {
                if looks_sensitive(h) && !secret::is_reference(v) {
                    *v = "***".into();
                }
            }
        }
        toml::to_string_pretty(&masked).map_err(|e| Error::Internal(e.to_string()))
    }

    /// The tenancy service's settings, secrets resolved (call after [`Config::validate`]).
    pub fn tenancy_settings(
        &self,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<atalaya_tenancy::config::Settings, Error> {
        let resolve_key = |key: &str, r: &str| {
            secret::resolve(r, lookup)
                .and_then(|k| atalaya_tenancy::crypto::decode_key(k.expose()))
                .map_err(|p| Error::config(key, p))
        };
        let master_key = self
            .encryption
            .master_key
            .as_deref()
            .map(|r| resolve_key("encryption.master_key", r))
            .transpose()?;
        let previous_master_keys = self
            .encryption
            .previous_master_keys
            .iter()
            .enumerate()
            .map(|(i, r)| resolve_key(&format!("encryption.previous_master_keys[{i}]"), r))
            .collect::<Result<Vec<_>, _>>()?;
        let audit_signing_key = self
            .audit
            .signing_key
            .as_deref()
            .map(|r| {
                secret::resolve(r, lookup)
                    .map(|k| k.expose().as_bytes().to_vec())
                    .map_err(|p| Error::config("audit.signing_key", p))
            })
            .transpose()?;
        let bootstrap_admin_key = self
            .auth
            .bootstrap_admin_key
            .as_deref()
            .and_then(|r| secret::resolve(r, lookup).ok())
            .map(|k| k.expose().to_owned());
        Ok(atalaya_tenancy::config::Settings {
            auth_enabled: self.auth.enabled,
            static_keys: crate::auth::static_key_digests(&self.auth.api_keys, lookup)?,
            bootstrap_admin_key,
            audit_signing_key,
            anchor_every: self.audit.anchor_every,
            anchor_interval: Duration::from_secs(self.audit.anchor_interval_secs),
            anchor_sink: self
                .audit
                .anchor_sink
                .as_deref()
                .and_then(atalaya_tenancy::config::AnchorSink::parse)
                .unwrap_or_default(),
            master_key,
            previous_master_keys,
            pricing: self.pricing.clone(),
            limits: self.limits.clone(),
            guard_policies: self.guard.policies.keys().cloned().collect(),
        })
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, Error> {
        self.server
            .listen
            .parse()
            .map_err(|_| Error::config("server.listen", "not a socket address"))
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.server.shutdown_grace_ms)
    }
}

/// The value of environment variable `name` among `env` (the environment given, not the
/// process's own, so that tests are hermetic).
fn lookup_in(env: &[(String, String)], name: &str) -> Option<String> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn apply_cli(mut figment: Figment, cli: &CliOverrides) -> Figment {
    if let Some(listen) = &cli.listen {
        figment = figment.merge(Serialized::default("server.listen", listen));
    }
    if let Some(dir) = &cli.data_dir {
        figment = figment.merge(Serialized::default("server.data_dir", dir));
    }
    if let Some((url, model)) = &cli.quick_route {
        let mut ups = BTreeMap::new();
        ups.insert("default".to_owned(), serde_json::json!({ "base_url": url }));
        let mut models = BTreeMap::new();
        models.insert(
            model.clone(),
            serde_json::json!({ "targets": [{ "upstream": "default", "model": model }] }),
        );
        figment = figment
            .merge(Serialized::default("upstreams", ups))
            .merge(Serialized::default("models", models));
    }
    for q in &cli.quick_local {
        let mut locals = BTreeMap::new();
        locals.insert(
            q.name.clone(),
            serde_json::json!({ "path": q.path, "kind": q.kind }),
        );
        let mut models = BTreeMap::new();
        models.insert(
            q.name.clone(),
            serde_json::json!({ "targets": [{ "upstream": q.name }] }),
        );
        figment = figment
            .merge(Serialized::default("local_models", locals))
            .merge(Serialized::default("models", models));
    }
    if !cli.api_keys.is_empty() {
        figment = figment.merge(Serialized::default("auth.api_keys", &cli.api_keys));
    }
    figment
}

/// `ATALAYA__MODELS__GPT-4O__TIMEOUT_MS=5000` → `models."gpt-4o".timeout_ms = 5000`.
/// Section and field names are lower-cased; table names keep their case. The value is read
/// as a TOML value when it parses as one (numbers, booleans, arrays), else as a string.
fn env_to_toml_line(name: &str, value: &str) -> Result<String, String> {
    let rest = &name[ENV_PREFIX.len()..];
    let parts: Vec<&str> = rest.split("__").collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err("empty path segment; use ATALAYA__SECTION__KEY".into());
    }
    let n = parts.len();
    let path: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            // Maps keyed by user-chosen names: keep the name's case.
            let is_name = i == 1
                && matches!(
                    parts[0].to_ascii_lowercase().as_str(),
                    "upstreams" | "models" | "local_models"
                )
                && n > 2;
            let seg = if is_name {
                (*p).to_owned()
            } else {
                p.to_ascii_lowercase()
            };
            quote_key(&seg)
        })
        .collect();
    if value.contains(['\n', '\r']) {
        return Err("values cannot contain line breaks".into());
    }
    // A TOML value (number, boolean, array, quoted string) is taken as such, re-serialised so
    // nothing but one value can reach the document; anything else is a plain string.
    let rendered = match toml::from_str::<toml::Table>(&format!("v = {value}")) {
        Ok(t) if t.len() == 1 => t
            .get("v")
            .map(toml::Value::to_string)
            .unwrap_or_else(|| toml::Value::String(value.to_owned()).to_string()),
        _ => toml::Value::String(value.to_owned()).to_string(),
    };
    Ok(format!("{} = {}\n", path.join("."), rendered))
}

fn describe_figment_error(e: &figment::Error) -> String {
    let mut s = e.kind.to_string();
    if let Some(md) = &e.metadata {
        match &md.source {
            Some(src) => s.push_str(&format!(" (from {} {src})", md.name)),
            None => s.push_str(&format!(" (from {})", md.name)),
        }
    }
    s
}

/// Whether `s` can be sent as an HTTP header value (visible ASCII).
fn tracing_level_ok(level: &str) -> bool {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let l = level.trim();
    !l.is_empty()
        && l.split(',').all(|directive| {
            let lvl = directive.rsplit('=').next().unwrap_or("").trim();
            LEVELS.contains(&lvl.to_ascii_lowercase().as_str())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    const GOOD: &str = r#"
[auth]
api_keys = ["env:CLIENT_KEY"]
[upstreams.vllm]
base_url = "http://127.0.0.1:8000/v1"
api_key = "env:VLLM_KEY"
[models."llama-3.1"]
targets = [{ upstream = "vllm", model = "meta/llama" }]
"#;

    /// Loads `text` with the two secrets GOOD references set.
    fn load_with_keys(text: &str) -> Result<Config, Error> {
        let f = write(text);
        Config::load(
            Some(f.path()),
            &env(&[("CLIENT_KEY", "c"), ("VLLM_KEY", "v")]),
            &CliOverrides::default(),
        )
    }

    fn issues(err: Error) -> Vec<ConfigIssue> {
        match err {
            Error::Config(i) => i,
            other => panic!("expected config error, got {other}"),
        }
    }

    #[test]
    fn loads_a_good_file() {
        let f = write(GOOD);
        let c = Config::load(
            Some(f.path()),
            &env(&[("CLIENT_KEY", "c"), ("VLLM_KEY", "v")]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(
            c.models["llama-3.1"].targets[0].model.as_deref(),
            Some("meta/llama")
        );
        assert_eq!(c.server.max_body_bytes, 1024 * 1024);
    }

    #[test]
    fn knowledge_settings_name_their_routes_and_models() {
        let text = format!(
            "{GOOD}\n[knowledge]\nembedding_model = \"nope\"\nanswer_model = \"missing\"\nrerank_model = \"llama-3.1\"\nrerank_candidates = 0\nmax_upload_bytes = 0\nparse_timeout_ms = 5\nparse_memory_mb = 1\n"
        );
        let keys: Vec<String> = issues(load_with_keys(&text).unwrap_err())
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(
            keys,
            [
                "knowledge.embedding_model",
                "knowledge.answer_model",
                "knowledge.rerank_candidates",
                "knowledge.max_upload_bytes",
                "knowledge.parse_timeout_ms",
                "knowledge.parse_memory_mb",
            ]
        );
        let ok = format!(
            "{GOOD}\n[knowledge]\nanswer_model = \"llama-3.1\"\nrerank_model = \"llama-3.1\"\n"
        );
        let c = load_with_keys(&ok).unwrap();
        assert_eq!(c.knowledge.answer_model.as_deref(), Some("llama-3.1"));
        assert_eq!(c.knowledge.rerank_candidates, 30);
    }

    #[test]
    fn guard_policies_are_validated_with_their_keys() {
        let text = format!("{GOOD}\n[models.\"llama-3.1\".guard]\n");
        // A route's guard is a policy name, not a table.
        assert!(load_with_keys(&text).is_err());
        let text = format!(
            "{GOOD}\n[guard]\ndefault_policy = \"nope\"\n[guard.policies.strict.pii]\nentities = {{ PASSPORT = \"block\" }}\n[guard.policies.strict.injection]\nthreshold = 1.5\n"
        );
        let keys: Vec<String> = issues(load_with_keys(&text).unwrap_err())
            .into_iter()
            .map(|i| i.key)
            .collect();
        assert_eq!(keys, ["guard.policies.strict", "guard.default_policy"]);
        let text = format!(
            "{GOOD}\n[guard.policies.strict.pii]\nentities = {{ CREDIT_CARD = \"block\" }}\n[guard.policies.strict.pii.extra]\n"
        );
        assert!(load_with_keys(&text).is_err(), "unknown keys are refused");
        let ok = format!(
            "{GOOD}\n[guard]\ndefault_policy = \"strict\"\n[guard.policies.strict.pii]\nentities = {{ CREDIT_CARD = \"block\" }}\n"
        );
        let c = load_with_keys(&ok).unwrap();
        let (name, p) = c.guard_policy("llama-3.1").unwrap();
        assert_eq!(name, "strict");
        assert_eq!(
            p.action(atalaya_guard::EntityType::CreditCard),
            atalaya_guard::Action::Block
        );
    }

    #[test]
    fn local_models_are_validated_and_routable() {
        let model = write("not really a model, but a file");
        let path = model.path().display().to_string();
        let text = format!(
            "{GOOD}\n[local_models.tiny]\npath = \"{path}\"\nparallel = 2\nkv_cache_type = \"q8_0\"\nflash_attention = \"off\"\n[models.local]\ntargets = [{{ upstream = \"tiny\" }}, {{ upstream = \"vllm\", priority = 1 }}]\n"
        );
        let c = load_with_keys(&text).unwrap();
        assert_eq!(c.local_models["tiny"].parallel, 2);
        assert_eq!(c.local_models["tiny"].kind, LocalModelKind::Chat);
        assert_eq!(c.local_models["tiny"].kv_cache_type, KvCacheType::Q8_0);
        assert_eq!(c.local_models["tiny"].flash_attention, FlashAttention::Off);

        let bad = format!(
            "{GOOD}\n[local_models.vllm]\npath = \"/nonexistent.gguf\"\nparallel = 0\nsampling = {{ temperature = 5.0 }}\nlora = [{{ path = \"{path}\" }}, {{ path = \"{path}\" }}]\n"
        );
        let i = issues(load_with_keys(&bad).unwrap_err());
        let keys: Vec<&str> = i.iter().map(|i| i.key.as_str()).collect();
        for k in [
            "local_models.vllm",
            "local_models.vllm.path",
            "local_models.vllm.parallel",
            "local_models.vllm.sampling.temperature",
            "local_models.vllm.lora",
        ] {
            assert!(keys.contains(&k), "{k} not in {keys:?}");
        }
        let i = issues(
            load_with_keys(&format!(
                "{GOOD}\n[local_models.x]\npath = \"{path}\"\nkind = \"vision\"\n"
            ))
            .unwrap_err(),
        );
        assert!(i[0].key.contains("local_models"), "{i:?}");
    }

    #[test]
    fn onnx_embedding_models_need_a_tokenizer_and_the_runtime_library() {
        let dir = tempfile::tempdir().unwrap();
        let onnx = dir.path().join("model.onnx");
        std::fs::write(&onnx, "graph").unwrap();
        let lib = dir.path().join("libonnxruntime.so");
        let gguf = write("gguf");
        let cfg = |extra: &str| {
            format!(
                "{GOOD}\n[onnxruntime]\nlibrary = \"{}\"\n[local_models.e]\npath = \"{}\"\n{extra}\n",
                lib.display(),
                onnx.display()
            )
        };
        // No tokenizer.json beside the model, no library; and an .onnx chat model.
        let keys = |text: &str| -> Vec<String> {
            issues(load_with_keys(text).unwrap_err())
                .into_iter()
                .map(|i| i.key)
                .collect()
        };
        let k = keys(&cfg("kind = \"embedding\""));
        assert_eq!(
            k,
            ["local_models.e.tokenizer", "onnxruntime.library"],
            "{k:?}"
        );
        assert!(keys(&cfg("kind = \"chat\"")).contains(&"local_models.e.path".to_owned()));
        std::fs::write(dir.path().join("tokenizer.json"), "{}").unwrap();
        std::fs::write(&lib, "lib").unwrap();
        let c = load_with_keys(&cfg("kind = \"embedding\"")).unwrap();
        assert_eq!(c.onnxruntime.library, lib);
        // An explicit tokenizer path is checked too; GGUF models take none.
        let k = keys(&cfg(
            "kind = \"embedding\"\ntokenizer = \"/nonexistent/tokenizer.json\"",
        ));
        assert_eq!(k, ["local_models.e.tokenizer"], "{k:?}");
        let k = keys(&format!(
            "{GOOD}\n[local_models.g]\nkind = \"embedding\"\npath = \"{}\"\ntokenizer = \"{}\"\n",
            gguf.path().display(),
            onnx.display()
        ));
        assert_eq!(k, ["local_models.g.tokenizer"], "{k:?}");
    }

    #[test]
    fn local_model_env_overrides_keep_the_name() {
        let model = write("x");
        let text = format!(
            "{GOOD}\n[local_models.Tiny-1]\npath = \"{}\"\n",
            model.path().display()
        );
        let f = write(&text);
        let c = Config::load(
            Some(f.path()),
            &env(&[
                ("CLIENT_KEY", "c"),
                ("VLLM_KEY", "v"),
                ("ATALAYA__LOCAL_MODELS__Tiny-1__PARALLEL", "8"),
            ]),
            &CliOverrides::default(),
        )
        .unwrap();
        assert_eq!(c.local_models["Tiny-1"].parallel, 8);
    }

    #[test]
    fn unknown_key_is_named() {
        let i = issues(
            load_with_keys(&format!("{GOOD}\n[server]\nlisten_addr = \"x\"\n")).unwrap_err(),
        );
        assert!(
            i.iter()
                .any(|i| i.key.contains("server") && i.problem.contains("listen_addr")),
            "{i:?}"
        );
    }

    #[test]
    fn wrong_type_is_named() {
        let i = issues(
            load_with_keys(&format!("{GOOD}\n[server]\nmax_body_bytes = \"big\"\n")).unwrap_err(),
        );
        assert_eq!(i[0].key, "server.max_body_bytes", "{i:?}");
    }

    #[test]
    fn missing_secret_and_unknown_upstream_are_named() {
        let f = write(&GOOD.replace("upstream = \"vllm\"", "upstream = \"vlm\""));
        let i = issues(
            Config::load(
                Some(f.path()),
                &env(&[("CLIENT_KEY", "c")]),
                &CliOverrides::default(),
            )
            .unwrap_err(),
        );
        let keys: Vec<&str> = i.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&"upstreams.vllm.api_key"), "{keys:?}");
        assert!(
            keys.contains(&"models.\"llama-3.1\".targets[0].upstream"),
            "{keys:?}"
        );
        assert!(i.iter().any(|i| i.problem.contains("VLLM_KEY")));
    }

    #[test]
    fn literal_secret_is_rejected() {
        let f = write(&GOOD.replace("env:VLLM_KEY", "sk-live-abc"));
        let i = issues(
            Config::load(
                Some(f.path()),
                &env(&[("CLIENT_KEY", "c")]),
                &CliOverrides::default(),
            )
            .unwrap_err(),
        );
        assert!(i
            .iter()
            .any(|i| i.key == "upstreams.vllm.api_key" && i.problem.contains("references")));
        let rendered = Error::Config(i).to_string();
        assert!(!rendered.contains("sk-live-abc"), "{rendered}");
    }

    #[test]
    fn precedence_file_env_cli() {
        let f = write(&format!(
            "{GOOD}\n[server]\nlisten = \"127.0.0.1:1000\"\nmax_body_bytes = 10\n"
        ));
        let e = env(&[
            ("CLIENT_KEY", "c"),
            ("VLLM_KEY", "v"),
            ("ATALAYA__SERVER__LISTEN", "127.0.0.1:2000"),
            ("ATALAYA__SERVER__MAX_BODY_BYTES", "20"),
            ("ATALAYA__MODELS__llama-3.1__TIMEOUT_MS", "50000"),
        ]);
        let c = Config::load(Some(f.path()), &e, &CliOverrides::default()).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:2000");
        assert_eq!(c.server.max_body_bytes, 20);
        assert_eq!(c.models["llama-3.1"].timeout_ms, 50000);
        let cli = CliOverrides {
            listen: Some("127.0.0.1:3000".into()),
            ..Default::default()
        };
        let c = Config::load(Some(f.path()), &e, &cli).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:3000");
    }

    #[test]
    fn bad_env_override_is_named() {
        let e = env(&[("ATALAYA__SERVER__NOPE", "1")]);
        let cli = CliOverrides {
            quick_route: Some(("http://127.0.0.1:1/v1".into(), "m".into())),
            api_keys: vec!["sha256:".to_owned() + &"0".repeat(64)],
            ..Default::default()
        };
        let i = issues(Config::load(None, &e, &cli).unwrap_err());
        assert!(i.iter().any(|i| i.problem.contains("nope")), "{i:?}");
    }

    #[test]
    fn env_values_cannot_inject_toml() {
        let cli = CliOverrides {
            quick_route: Some(("http://127.0.0.1:9/v1".into(), "m".into())),
            api_keys: vec!["env:K".into()],
            ..Default::default()
        };
        let e = env(&[
            ("K", "k"),
            (
                "ATALAYA__LOG__LEVEL",
                "warn\n[server]\nlisten = \"0.0.0.0:1\"",
            ),
        ]);
        let i = issues(Config::load(None, &e, &cli).unwrap_err());
        assert!(i[0].problem.contains("line breaks"), "{i:?}");
        let e = env(&[
            ("K", "k"),
            ("ATALAYA__LOG__LEVEL", "debug"),
            ("ATALAYA__SERVER__MAX_BODY_BYTES", "2048"),
        ]);
        let c = Config::load(None, &e, &cli).unwrap();
        assert_eq!(
            (c.log.level.as_str(), c.server.max_body_bytes),
            ("debug", 2048)
        );
    }

    #[test]
    fn credentials_in_base_url_are_rejected() {
        let i = issues(
            load_with_keys(&GOOD.replace(
                "http://127.0.0.1:8000/v1",
                "http://user:pw@127.0.0.1:8000/v1",
            ))
            .unwrap_err(),
        );
        assert!(
            i.iter()
                .any(|i| i.key == "upstreams.vllm.base_url" && !i.problem.contains("pw")),
            "{i:?}"
        );
    }

    #[test]
    fn quick_route_needs_no_file() {
        let cli = CliOverrides {
            quick_route: Some(("http://127.0.0.1:9/v1".into(), "gpt.x".into())),
            api_keys: vec!["env:K".into()],
            ..Default::default()
        };
        let c = Config::load(None, &env(&[("K", "secret")]), &cli).unwrap();
        assert_eq!(c.upstreams["default"].base_url, "http://127.0.0.1:9/v1");
        assert_eq!(c.models["gpt.x"].targets[0].upstream, "default");
    }

    #[test]
    fn empty_config_explains_what_is_missing() {
        let i = issues(Config::load(None, &[], &CliOverrides::default()).unwrap_err());
        let keys: Vec<&str> = i.iter().map(|i| i.key.as_str()).collect();
        // Whether some key can authenticate depends on the store too: the server checks it
        // when it opens the store.
        assert_eq!(keys, ["models"], "{keys:?}");
    }

    #[test]
    fn tenancy_sections_are_validated_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(
            &path,
            r#"
[auth]
api_keys = ["env:K"]
bootstrap_admin_key = "env:ADMIN"
[server]
cors_allowed_origins = ["https://ok.example.com", "https://bad.example.com/"]
max_json_depth = 0
[audit]
signing_key = "env:SHORT"
anchor_every = 0
[encryption]
master_key = "env:MASTER"
previous_master_keys = ["env:MASTER"]
[pricing.m]
input_per_million = -1.0
[upstreams.u]
base_url = "http://127.0.0.1:9/v1"
[models.m]
targets = [{ upstream = "u" }]
"#,
        )
        .unwrap();
        let vars = env(&[
            ("K", "k"),
            ("ADMIN", "not-an-atalaya-key"),
            ("SHORT", "short"),
            ("MASTER", "c2hvcnQ="),
        ]);
        let i = issues(Config::load(Some(&path), &vars, &CliOverrides::default()).unwrap_err());
        let keys: Vec<&str> = i.iter().map(|i| i.key.as_str()).collect();
        for k in [
            "auth.bootstrap_admin_key",
            "server.cors_allowed_origins[1]",
            "server.max_json_depth",
            "audit.signing_key",
            "audit.anchor_every",
            "encryption.master_key",
            "encryption.previous_master_keys[0]",
            "pricing.m.input_per_million",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        assert!(
            !keys.contains(&"server.cors_allowed_origins[0]"),
            "{keys:?}"
        );
        // An unset bootstrap variable is simply no bootstrap key.
        let env2 = env(&[("K", "k"), ("SHORT", "0123456789abcdef0123456789abcdef")]);
        let i = issues(Config::load(Some(&path), &env2, &CliOverrides::default()).unwrap_err());
        assert!(
            !i.iter()
                .any(|i| i.key == "auth.bootstrap_admin_key" || i.key == "audit.signing_key"),
            "{i:?}"
        );
    }

    #[test]
    fn masks_credential_headers() {
        let mut c = Config::default();
        let mut up = UpstreamConfig {
            base_url: "http://x/v1".into(),
            ..Default::default()
        };
        up.headers.insert("X-Api-Key".into(), "plain".into());
        up.headers.insert("X-Team".into(), "support".into());
        c.upstreams.insert("u".into(), up);
        let t = c.to_masked_toml().unwrap();
        assert!(!t.contains("plain") && t.contains("support"), "{t}");
    }

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../atalaya.example.toml");
        let e = env(&[
            ("ATALAYA_API_KEY", "k"),
            ("OPENAI_API_KEY", "o"),
            ("MISTRAL_API_KEY", "m"),
            ("ATALAYA_AUDIT_KEY", "0123456789abcdef0123456789abcdef"),
            (
                "ATALAYA_MASTER_KEY",
                "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            ),
        ]);
        // Model files are the user's (or `make models` output): stand-ins for the check.
        let stand_in = write("stand-in model file");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut fixed = String::new();
        for line in text.lines() {
            match line.split_once("path = \"models/") {
                Some((before, _)) => {
                    fixed.push_str(&format!("{before}path = \"{}\"", stand_in.path().display()))
                }
                None => fixed.push_str(line),
            }
            fixed.push('\n');
        }
        assert!(
            fixed.contains("[local_models."),
            "the example shows local models"
        );
        let f = write(&fixed);
        Config::load(Some(f.path()), &e, &CliOverrides::default()).unwrap();
    }
}
