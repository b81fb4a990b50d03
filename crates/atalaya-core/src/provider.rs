//! The provider trait: every backend (OpenAI-compatible upstreams now, the local engine later)
//! implements `infer`, `infer_stream` and `embed`, so a route can mix them freely.

use std::{pin::Pin, time::Duration};

use async_trait::async_trait;
use futures::Stream;

use crate::domain::{
    ChatCompletion, ChatRequest, EmbeddingRequest, Embeddings, RerankRequest, Reranked, StreamChunk,
};

/// What a provider needs to know about one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Model name the upstream expects.
    pub upstream_model: &'a str,
    /// Time this attempt may take (already bounded by the request's total deadline).
    pub timeout: Duration,
    pub request_id: &'a str,
}

/// A streamed completion: chunks, then the end of the stream. An `Err` item means the stream
/// broke; nothing follows it.
pub type ChatStream = Pin<Box<dyn Stream<Item = Result<StreamChunk, UpstreamFailure>> + Send>>;

#[async_trait]
pub trait Provider: Send + Sync + 'static {
    async fn infer(
        &self,
        call: Call<'_>,
        req: &ChatRequest,
    ) -> Result<ChatCompletion, UpstreamFailure>;

    /// Opens a stream. Returns once the upstream accepted the request (response headers);
    /// the router then waits for the first chunk under the first-token deadline.
    async fn infer_stream(
        &self,
        call: Call<'_>,
        req: &ChatRequest,
    ) -> Result<ChatStream, UpstreamFailure>;

    async fn embed(
        &self,
        call: Call<'_>,
        req: &EmbeddingRequest,
    ) -> Result<Embeddings, UpstreamFailure>;

    /// Scores documents against a query. Backends without a reranker refuse (400), which the
    /// router treats as the client's error.
    async fn rerank(
        &self,
        call: Call<'_>,
        req: &RerankRequest,
    ) -> Result<Reranked, UpstreamFailure> {
        let _ = (call, req);
        Err(UpstreamFailure::Status {
            status: 400,
            message: "this backend has no reranker".into(),
            retry_after: None,
        })
    }

    /// What `/v1/models` shows about this backend beyond its name (architecture, context,
    /// quantization... for local models); `None` for remote upstreams.
    fn describe(&self) -> Option<serde_json::Value> {
        None
    }

    /// An active health probe. Providers with nothing to probe are always healthy.
    async fn health(&self, timeout: Duration) -> Result<(), UpstreamFailure> {
        let _ = timeout;
        Ok(())
    }
}

/// How one attempt against an upstream failed. Messages never contain credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamFailure {
    /// Could not connect, or the connection was closed or reset before a response.
    Connect(String),
    /// The attempt ran out of time.
    Timeout(String),
    /// The upstream answered with an error status.
    Status {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    /// The upstream answered 2xx with something that is not a valid response.
    InvalidResponse(String),
    /// A stream broke after it had started.
    StreamBroken(String),
    /// The prompt (plus the requested completion) does not fit the model's context.
    ContextLengthExceeded(String),
}

/// What the router does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Transient: retry this target (with backoff), then fall back. Counts against the breaker.
    Retryable,
    /// This target cannot serve it (e.g. its credentials are rejected): fall back at once.
    /// Counts against the breaker.
    Fallback,
    /// The request itself is bad: no retry, no fallback; the client gets a 4xx.
    ClientError,
}

impl UpstreamFailure {
    pub fn class(&self) -> FailureClass {
        match self {
            UpstreamFailure::Connect(_)
            | UpstreamFailure::Timeout(_)
            | UpstreamFailure::InvalidResponse(_)
            | UpstreamFailure::StreamBroken(_) => FailureClass::Retryable,
            UpstreamFailure::ContextLengthExceeded(_) => FailureClass::ClientError,
            UpstreamFailure::Status { status, .. } => match status {
                408 | 409 | 425 | 429 | 500..=599 => FailureClass::Retryable,
                401 | 403 | 404 => FailureClass::Fallback,
                _ => FailureClass::ClientError,
            },
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamFailure::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A short label for metrics: `connect`, `timeout`, `status_5xx`, ...
    pub fn outcome_label(&self) -> &'static str {
        match self {
            UpstreamFailure::Connect(_) => "connect_error",
            UpstreamFailure::Timeout(_) => "timeout",
            UpstreamFailure::InvalidResponse(_) => "invalid_response",
            UpstreamFailure::StreamBroken(_) => "stream_broken",
            UpstreamFailure::ContextLengthExceeded(_) => "context_length_exceeded",
            UpstreamFailure::Status { status: 429, .. } => "status_429",
            UpstreamFailure::Status { status, .. } if *status >= 500 => "status_5xx",
            UpstreamFailure::Status { .. } => "status_4xx",
        }
    }
}

impl std::fmt::Display for UpstreamFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamFailure::Connect(m) => write!(f, "connection failed: {m}"),
            UpstreamFailure::Timeout(m) => write!(f, "timed out: {m}"),
            UpstreamFailure::Status {
                status, message, ..
            } => {
                write!(f, "HTTP {status}: {message}")
            }
            UpstreamFailure::InvalidResponse(m) => write!(f, "invalid response: {m}"),
            UpstreamFailure::StreamBroken(m) => write!(f, "stream broke: {m}"),
            UpstreamFailure::ContextLengthExceeded(m) => f.write_str(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let s = |status| UpstreamFailure::Status {
            status,
            message: String::new(),
            retry_after: None,
        };
        assert_eq!(s(429).class(), FailureClass::Retryable);
        assert_eq!(s(503).class(), FailureClass::Retryable);
        assert_eq!(s(401).class(), FailureClass::Fallback);
        assert_eq!(s(400).class(), FailureClass::ClientError);
        assert_eq!(s(422).class(), FailureClass::ClientError);
        assert_eq!(
            UpstreamFailure::Connect("reset".into()).class(),
            FailureClass::Retryable
        );
    }
}
