//! The gateway's sections of the configuration and their checks: upstreams, local models
//! (with ONNX Runtime), and model routes with their retries and circuit breakers. The root
//! configuration, which aggregates every subsystem's section and layers TOML, environment and
//! CLI flags, is the `atalaya-config` crate; it hands the gateway a [`GatewaySections`].

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::{secret, ConfigIssue};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamConfig {
    /// OpenAI-compatible base URL, including the version path: `http://vllm:8000/v1`.
    pub base_url: String,
    /// Reference to the upstream's key (`env:NAME`), sent as `Authorization: Bearer`.
    pub api_key: Option<String>,
    /// Extra headers sent on every request. Values may be references; header names that look
    /// like credentials (authorization, *key*, *token*, *secret*) must be references.
    pub headers: BTreeMap<String, String>,
    /// Per-attempt timeout: until the full response (non-streaming) or the response headers.
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Idle keep-alive connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
    pub pool_idle_timeout_ms: u64,
    /// Ask the upstream for usage on streams (`stream_options.include_usage`) even when the
    /// client did not, so tokens are always counted; the extra chunk is not forwarded then.
    pub stream_usage: bool,
    /// Active health check every this many ms (0 = off): GET `{base_url}/{health_check_path}`.
    /// Its result feeds `/readyz` and `atalaya_upstream_up`; routing relies on the breakers.
    pub health_check_interval_ms: u64,
    pub health_check_path: String,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            base_url: String::new(),
            api_key: None,
            headers: BTreeMap::new(),
            timeout_ms: 60_000,
            connect_timeout_ms: 5_000,
            pool_max_idle_per_host: 256,
            pool_idle_timeout_ms: 90_000,
            stream_usage: true,
            health_check_interval_ms: 0,
            health_check_path: "models".into(),
        }
    }
}

/// ONNX Runtime is loaded at run time from its shared library, only when a local model is an
/// `.onnx` file. `make models` installs the library from the PyPI wheel `onnxruntime`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OnnxRuntimeConfig {
    /// Path of `libonnxruntime.so` (version 1.31 or newer).
    pub library: PathBuf,
}

impl Default for OnnxRuntimeConfig {
    fn default() -> Self {
        OnnxRuntimeConfig {
            library: PathBuf::from("models/onnxruntime/libonnxruntime.so"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KvCacheType {
    #[default]
    F16,
    F32,
    Q8_0,
    Q4_0,
}

/// llama.cpp's flash-attention kernels (chat): `auto` lets llama.cpp decide per backend.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlashAttention {
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LocalModelKind {
    /// A generative (chat) model: `/v1/chat/completions`.
    #[default]
    Chat,
    /// A sentence-embedding model (BERT-style, mean pooling): `/v1/embeddings`. An `.onnx`
    /// file runs on ONNX Runtime, a GGUF file on llama.cpp.
    Embedding,
}

/// A model run in-process: GGUF chat and embedding models by llama.cpp, `.onnx` embedding
/// models by ONNX Runtime. Fields marked "chat" or "embedding" apply to that kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LocalModelConfig {
    pub kind: LocalModelKind,
    /// The model file: GGUF, or `.onnx` for an embedding model (relative paths are relative to
    /// the working directory).
    pub path: PathBuf,
    /// The Hugging Face `tokenizer.json` of an `.onnx` embedding model; default:
    /// `tokenizer.json` in the model file's directory.
    pub tokenizer: Option<PathBuf>,
    /// Tokens one sequence may hold, prompt and completion together; 0 = the model's own
    /// training context, at most 8192 (chat). For embeddings: the longest input in tokens
    /// (longer inputs are truncated, as sentence-transformers does); 0 = the model's setting.
    pub context_length: u32,
    /// Sequences decoded together in one batch (chat): the continuous-batching width.
    pub parallel: u32,
    /// KV cache cells shared by all sequences (chat); 0 = context_length × parallel.
    pub kv_cache_tokens: u32,
    /// Precision of the KV cache (chat): f16 (default), f32 (exact, twice the memory), or the
    /// quantized q8_0 / q4_0 (less memory, slightly different outputs).
    pub kv_cache_type: KvCacheType,
    /// Flash attention (chat): auto (llama.cpp decides), on, off.
    pub flash_attention: FlashAttention,
    /// Largest number of tokens in one forward pass: prompt chunks and one token per
    /// generating sequence share it, so a long prompt never stalls the other streams.
    pub batch_size: u32,
    /// CPU threads for this model; 0 = all available cores. Do not oversubscribe the cores.
    pub threads: u32,
    /// Requests waiting for a free sequence (chat) or a batch (embedding); beyond, 429
    /// with `Retry-After`, so a route can fall back to another target.
    pub queue_size: usize,
    /// Layers offloaded to a GPU (needs a GPU-enabled build; 0 on CPU).
    pub gpu_layers: u32,
    /// A Jinja chat template replacing the one in the GGUF metadata (chat).
    pub chat_template: Option<String>,
    /// Same as `chat_template`, read from a file.
    pub chat_template_file: Option<PathBuf>,
    /// Completion tokens when the request sets no `max_tokens` (chat).
    pub max_tokens: u32,
    /// Default sampling, used for every field a request leaves out (chat).
    pub sampling: SamplingConfig,
    /// A LoRA adapter (GGUF) applied on top of the base weights, with its scale (chat). At
    /// most one entry.
    pub lora: Vec<LoraConfig>,
    /// Embedding micro-batching: requests queued while the engine is busy always share the
    /// next batch; a window > 0 also holds an idle engine this long for more (adds latency;
    /// measured slower on CPU, see docs/BENCHMARKS.md).
    pub batch_window_ms: u64,
}

impl Default for LocalModelConfig {
    fn default() -> Self {
        LocalModelConfig {
            kind: LocalModelKind::Chat,
            path: PathBuf::new(),
            tokenizer: None,
            context_length: 0,
            parallel: 4,
            kv_cache_tokens: 0,
            kv_cache_type: KvCacheType::F16,
            flash_attention: FlashAttention::Auto,
            batch_size: 512,
            threads: 0,
            queue_size: 64,
            gpu_layers: 0,
            chat_template: None,
            chat_template_file: None,
            max_tokens: 512,
            sampling: SamplingConfig::default(),
            lora: Vec::new(),
            batch_window_ms: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SamplingConfig {
    /// 0 = greedy decoding.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 = off.
    pub top_k: u32,
    /// 0 = off.
    pub min_p: f32,
    /// 1.0 = off.
    pub repeat_penalty: f32,
    /// Tokens the repetition penalties look back over.
    pub repeat_last_n: u32,
    /// Seed for requests that give none; unset = a fresh random seed per request.
    pub seed: Option<u32>,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            temperature: 0.8,
            top_p: 0.95,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    pub path: PathBuf,
    #[serde(default = "one")]
    pub scale: f32,
}

fn one() -> f32 {
    1.0
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Targets in fallback order: lower `priority` first; equal priorities share load by weight.
    pub targets: Vec<TargetConfig>,
    /// Total deadline for the request, across every retry and fallback (streams included).
    pub timeout_ms: u64,
    /// For streams: each attempt must produce its first chunk within this time.
    pub first_token_timeout_ms: u64,
    pub retry: RetryConfig,
    pub circuit_breaker: CircuitBreakerConfig,
    /// The guard policy (`[guard.policies.NAME]`) applied to this route's requests and
    /// answers; `"off"` disables `guard.default_policy` for this route.
    pub guard: Option<String>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            guard: None,
            targets: Vec::new(),
            timeout_ms: 120_000,
            first_token_timeout_ms: 30_000,
            retry: RetryConfig::default(),
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TargetConfig {
    /// Name of an entry in `[upstreams]`.
    pub upstream: String,
    /// Model name sent upstream; defaults to the route's name.
    pub model: Option<String>,
    pub weight: u32,
    pub priority: u32,
    /// Per-attempt timeout for this target; defaults to its upstream's `timeout_ms`.
    pub timeout_ms: Option<u64>,
}

impl Default for TargetConfig {
    fn default() -> Self {
        TargetConfig {
            upstream: String::new(),
            model: None,
            weight: 1,
            priority: 0,
            timeout_ms: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per target (1 = no retry) on connect errors, timeouts, 408, 429 and 5xx.
    pub attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// A `Retry-After` longer than this is not waited for: the next target is tried instead.
    pub max_retry_after_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            attempts: 2,
            backoff_base_ms: 100,
            backoff_max_ms: 2_000,
            max_retry_after_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures that eject a target.
    pub failure_threshold: u32,
    /// How long an ejected target rests before one probe request is let through.
    pub cooldown_ms: u64,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 5,
            cooldown_ms: 10_000,
        }
    }
}

/// The sections the gateway reads, borrowed from the root configuration.
#[derive(Debug, Clone, Copy)]
pub struct GatewaySections<'a> {
    pub upstreams: &'a BTreeMap<String, UpstreamConfig>,
    pub local_models: &'a BTreeMap<String, LocalModelConfig>,
    pub onnxruntime: &'a OnnxRuntimeConfig,
    pub models: &'a BTreeMap<String, ModelConfig>,
}

impl GatewaySections<'_> {
    /// Problems with these sections, each naming its key. `lookup` reads environment
    /// variables, so that a missing `env:NAME` secret is reported at start-up.
    pub fn check(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<ConfigIssue> {
        let mut issues = Vec::new();
        let mut issue = |key: String, problem: String| issues.push(ConfigIssue { key, problem });
        for (name, up) in self.upstreams {
            let base = format!("upstreams.{}", quote_key(name));
            if !(up.base_url.starts_with("http://") || up.base_url.starts_with("https://")) {
                issue(
                    format!("{base}.base_url"),
                    if up.base_url.is_empty() {
                        "missing; set the upstream's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1".into()
                    } else {
                        format!("'{}' must start with http:// or https://", up.base_url)
                    },
                );
            }
            let authority = up
                .base_url
                .split_once("://")
                .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
                .unwrap_or("");
            if authority.contains('@') {
                issue(
                    format!("{base}.base_url"),
                    "must not contain credentials (user:password@); use api_key or headers with an \"env:NAME\" reference".into(),
                );
            }
            if let Some(key) = &up.api_key {
                if let Err(p) = secret::resolve(key, lookup) {
                    issue(format!("{base}.api_key"), p);
                }
            }
            for (h, v) in &up.headers {
                // Header names and values are parsed (and reported) where the headers are built,
                // in the provider: `serve` and `config check` both build the providers.
                let key = format!("{base}.headers.{}", quote_key(h));
                if secret::is_reference(v) {
                    if let Err(p) = secret::resolve(v, lookup) {
                        issue(key, p);
                    }
                } else if looks_sensitive(h) {
                    issue(
                        key,
                        "looks like a credential: write it as a reference such as \"env:NAME\""
                            .into(),
                    );
                }
            }
            if up.health_check_interval_ms > 0 && up.health_check_interval_ms < 100 {
                issue(
                    format!("{base}.health_check_interval_ms"),
                    "must be 0 (off) or at least 100".into(),
                );
            }
            if up.health_check_path.contains("://") {
                issue(
                    format!("{base}.health_check_path"),
                    "a path relative to base_url, e.g. \"models\"".into(),
                );
            }
            for (field, v) in [
                ("timeout_ms", up.timeout_ms),
                ("connect_timeout_ms", up.connect_timeout_ms),
            ] {
                if v == 0 {
                    issue(format!("{base}.{field}"), "must be greater than 0".into());
                }
            }
        }
        let mut library_reported = false;
        for (name, lm) in self.local_models {
            let base = format!("local_models.{}", quote_key(name));
            if self.upstreams.contains_key(name) {
                issue(
                    base.clone(),
                    format!(
                        "'{name}' is also an upstream's name; targets could not tell them apart"
                    ),
                );
            }
            if lm.path.as_os_str().is_empty() {
                issue(
                    format!("{base}.path"),
                    "missing; set the model file to load".into(),
                );
            } else if !lm.path.is_file() {
                issue(
                    format!("{base}.path"),
                    format!(
                        "{} does not exist or is not a file{}",
                        lm.path.display(),
                        if lm.kind == LocalModelKind::Embedding {
                            " (run `make models` to fetch the embedding model)"
                        } else {
                            ""
                        }
                    ),
                );
            }
            let onnx = lm
                .path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
            if onnx && lm.kind == LocalModelKind::Chat {
                issue(
                    format!("{base}.path"),
                    "an .onnx file can only serve an embedding model (kind = \"embedding\"); chat models are GGUF".into(),
                );
            }
            if onnx {
                let tokenizer = lm
                    .tokenizer
                    .clone()
                    .unwrap_or_else(|| lm.path.with_file_name("tokenizer.json"));
                if !tokenizer.is_file() {
                    issue(
                        format!("{base}.tokenizer"),
                        format!(
                            "{} does not exist; an .onnx embedding model needs its tokenizer.json",
                            tokenizer.display()
                        ),
                    );
                }
                if !self.onnxruntime.library.is_file() && !library_reported {
                    library_reported = true;
                    issue(
                        "onnxruntime.library".into(),
                        format!(
                            "{} does not exist; local model '{name}' needs ONNX Runtime (run `make models`)",
                            self.onnxruntime.library.display()
                        ),
                    );
                }
            } else if lm.tokenizer.is_some() {
                issue(
                    format!("{base}.tokenizer"),
                    "only .onnx models take a tokenizer file; GGUF files carry their own".into(),
                );
            }
            let limits: [(&str, u64, u64, u64); 6] = [
                ("parallel", u64::from(lm.parallel), 1, 256),
                ("batch_size", u64::from(lm.batch_size), 16, 65_536),
                ("threads", u64::from(lm.threads), 0, 1024),
                ("queue_size", lm.queue_size as u64, 0, 1_000_000),
                ("max_tokens", u64::from(lm.max_tokens), 1, 1 << 20),
                ("batch_window_ms", lm.batch_window_ms, 0, 1000),
            ];
            for (field, v, lo, hi) in limits {
                if !(lo..=hi).contains(&v) {
                    issue(
                        format!("{base}.{field}"),
                        format!("must be between {lo} and {hi}, got {v}"),
                    );
                }
            }
            if lm.kv_cache_tokens != 0
                && lm.context_length != 0
                && lm.kv_cache_tokens < lm.context_length
            {
                issue(
                    format!("{base}.kv_cache_tokens"),
                    "must be 0 (context_length × parallel) or at least context_length".into(),
                );
            }
            if lm.chat_template.is_some() && lm.chat_template_file.is_some() {
                issue(
                    format!("{base}.chat_template_file"),
                    "set chat_template or chat_template_file, not both".into(),
                );
            }
            if let Some(f) = &lm.chat_template_file {
                if !f.is_file() {
                    issue(
                        format!("{base}.chat_template_file"),
                        format!("{} does not exist", f.display()),
                    );
                }
            }
            let sp = &lm.sampling;
            for (field, v, lo, hi) in [
                ("temperature", sp.temperature, 0.0, 2.0),
                ("top_p", sp.top_p, 0.0, 1.0),
                ("min_p", sp.min_p, 0.0, 1.0),
                ("repeat_penalty", sp.repeat_penalty, 0.0, 10.0),
            ] {
                if !(lo..=hi).contains(&v) {
                    issue(
                        format!("{base}.sampling.{field}"),
                        format!("must be between {lo} and {hi}, got {v}"),
                    );
                }
            }
            if lm.lora.len() > 1 {
                issue(
                    format!("{base}.lora"),
                    "one adapter per model for now (the engine applies a single adapter per context); merge adapters offline, e.g. with llama.cpp's llama-export-lora".into(),
                );
            }
            for (i, l) in lm.lora.iter().enumerate() {
                if !l.path.is_file() {
                    issue(
                        format!("{base}.lora[{i}].path"),
                        format!("{} does not exist", l.path.display()),
                    );
                }
            }
        }
        if self.models.is_empty() {
            issue(
                "models".into(),
                "no model configured: add a [models.NAME] table, or run `atalaya serve --upstream URL --model NAME`".into(),
            );
        }
        for (name, m) in self.models {
            let base = format!("models.{}", quote_key(name));
            if name.trim().is_empty() {
                issue(base.clone(), "model names cannot be empty".into());
            }
            if m.targets.is_empty() {
                issue(
                    format!("{base}.targets"),
                    "needs at least one target".into(),
                );
            }
            for (i, t) in m.targets.iter().enumerate() {
                let tk = format!("{base}.targets[{i}]");
                if !self.upstreams.contains_key(&t.upstream)
                    && !self.local_models.contains_key(&t.upstream)
                {
                    let known: Vec<&str> = self
                        .upstreams
                        .keys()
                        .chain(self.local_models.keys())
                        .map(String::as_str)
                        .collect();
                    issue(
                        format!("{tk}.upstream"),
                        format!(
                            "unknown upstream '{}' (configured: {})",
                            t.upstream,
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    );
                }
                if t.weight == 0 {
                    issue(format!("{tk}.weight"), "must be at least 1".into());
                }
                if t.timeout_ms == Some(0) {
                    issue(format!("{tk}.timeout_ms"), "must be greater than 0".into());
                }
            }
            if m.timeout_ms == 0 {
                issue(
                    format!("{base}.timeout_ms"),
                    "must be greater than 0".into(),
                );
            }
            if m.first_token_timeout_ms == 0 || m.first_token_timeout_ms > m.timeout_ms {
                issue(
                    format!("{base}.first_token_timeout_ms"),
                    "must be greater than 0 and at most timeout_ms".into(),
                );
            }
            if m.retry.attempts == 0 || m.retry.attempts > 10 {
                issue(
                    format!("{base}.retry.attempts"),
                    "must be between 1 and 10".into(),
                );
            }
            if m.retry.backoff_base_ms > m.retry.backoff_max_ms {
                issue(
                    format!("{base}.retry.backoff_base_ms"),
                    "must not exceed backoff_max_ms".into(),
                );
            }
            if m.circuit_breaker.failure_threshold == 0 {
                issue(
                    format!("{base}.circuit_breaker.failure_threshold"),
                    "must be at least 1".into(),
                );
            }
        }
        issues
    }
}

/// A config key segment as written in TOML: bare when it can be, quoted otherwise.
pub fn quote_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_owned()
    } else {
        toml::Value::String(k.to_owned()).to_string()
    }
}

/// Printable ASCII only (no spaces): an origin or a header value that goes out as is.
pub fn visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

pub fn looks_sensitive(header: &str) -> bool {
    let h = header.to_ascii_lowercase();
    ["authorization", "key", "token", "secret", "cookie"]
        .iter()
        .any(|w| h.contains(w))
}
