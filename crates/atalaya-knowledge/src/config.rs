//! The `[knowledge]` section: the HTTP API's switch, the models it uses (checked against the
//! routes and local models by the root configuration), uploads and the parse sandbox.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Serve `/v1/knowledge/...` and `/v1/tasks/...` (the store lives in `server.data_dir`).
    pub enabled: bool,
    /// The `[local_models]` embedding model new collections use; unset = the only one.
    pub embedding_model: Option<String>,
    /// The model route `/answer` and RAG chat requests generate with when the request names
    /// none; unset = extractive answers (cited sentences of the sources, nothing generated).
    pub answer_model: Option<String>,
    /// Largest upload accepted by `POST /v1/knowledge/{collection}/documents`, in bytes.
    pub max_upload_bytes: u64,
    /// Sources retrieved for an answer when the request does not say.
    pub answer_sources: usize,
    /// The model route requests with `"rerank": true` go through: an upstream serving a
    /// cross-encoder at `/rerank` (TEI, vLLM, Jina, Cohere). Unset = reranking unavailable.
    pub rerank_model: Option<String>,
    /// Candidates retrieved for the reranker (at least `k`).
    pub rerank_candidates: usize,
    /// Parse uploaded documents in a child process (`atalaya parse-worker`, no environment)
    /// under the limits below, so that a hostile file fails alone instead of taking the
    /// server down. Off only for trusted documents.
    pub parse_sandbox: bool,
    /// Wall-clock time to parse one document before its worker is killed, in ms.
    pub parse_timeout_ms: u64,
    /// CPU time one document's parse worker may use, in seconds.
    pub parse_cpu_seconds: u64,
    /// Heap one document's parse worker may allocate, in MiB.
    pub parse_memory_mb: u64,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            enabled: true,
            embedding_model: None,
            answer_model: None,
            max_upload_bytes: 32 * 1024 * 1024,
            answer_sources: 5,
            rerank_model: None,
            rerank_candidates: 30,
            parse_sandbox: true,
            parse_timeout_ms: 30_000,
            parse_cpu_seconds: 20,
            parse_memory_mb: 1024,
        }
    }
}

impl KnowledgeConfig {
    /// Problems with this section's own values, as (key, problem).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut issues = Vec::new();
        let mut range = |key: &str, v: u64, lo: u64, hi: u64, what: &str| {
            if !(lo..=hi).contains(&v) {
                issues.push((format!("knowledge.{key}"), what.to_owned()));
            }
        };
        range(
            "rerank_candidates",
            self.rerank_candidates as u64,
            1,
            200,
            "must be between 1 and 200",
        );
        range(
            "max_upload_bytes",
            self.max_upload_bytes,
            1,
            u64::MAX,
            "must be greater than 0",
        );
        range(
            "parse_timeout_ms",
            self.parse_timeout_ms,
            100,
            3_600_000,
            "must be between 100 and 3600000 (one hour)",
        );
        range(
            "parse_cpu_seconds",
            self.parse_cpu_seconds,
            1,
            3600,
            "must be between 1 and 3600",
        );
        range(
            "parse_memory_mb",
            self.parse_memory_mb,
            64,
            65_536,
            "must be between 64 and 65536 (the worker needs room for the file and its text)",
        );
        range(
            "answer_sources",
            self.answer_sources as u64,
            1,
            50,
            "must be between 1 and 50",
        );
        issues
    }
}
