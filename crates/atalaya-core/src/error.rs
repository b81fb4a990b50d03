use std::{fmt, time::Duration};

use atalaya_api::ErrorCode;

/// One problem found in the configuration, naming the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path of the offending key, e.g. `models.gpt-4o.targets[0].upstream`.
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

fn list(issues: &[ConfigIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("\n  - {i}"))
        .collect::<String>()
}

/// Every error of the gateway's domain. `atalaya-server` turns it into an HTTP response
/// (`code()` gives the stable code and status); `public_message()` is the only text a client
/// sees and never carries secrets or internals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration:{}", list(.0))]
    Config(Vec<ConfigIssue>),

    #[error("configuration could not be read: {0}")]
    ConfigSource(String),

    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },

    #[error("missing API key")]
    MissingApiKey,

    #[error("invalid API key")]
    InvalidApiKey,

    /// A genuine key that can no longer be used (revoked, expired); the message says which.
    #[error("{0}")]
    KeyNotUsable(String),

    /// The key's role may not do this.
    #[error("{0}")]
    PermissionDenied(String),

    /// A rate limit of the key or tenant (not the upstream's).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
        /// `x-ratelimit-*` headers.
        headers: Vec<(&'static str, String)>,
    },

    #[error("{message}")]
    BudgetExceeded {
        message: String,
        retry_after: Duration,
    },

    #[error("model '{0}' not found")]
    ModelNotFound(String),

    #[error("no route {method} {path}")]
    RouteNotFound { method: String, path: String },

    /// A resource of the API (a collection, a document, a task) that does not exist.
    #[error("{0} not found")]
    NotFound(String),

    #[error("{0}")]
    Conflict(String),

    /// A guardrail refused the request or the answer. `detector` is its name (`pii`,
    /// `injection`, `canary`, ...); the message never contains the offending value.
    #[error("blocked by guardrail '{detector}': {message}")]
    Guardrail {
        detector: String,
        message: String,
        param: Option<String>,
    },

    #[error("{0}")]
    UnsupportedMediaType(String),

    /// A feature that needs something the server was not started with (the message says
    /// what to configure).
    #[error("{0}")]
    Unavailable(String),

    /// The limits shared by replicas (Redis) cannot be reached, and the configuration says
    /// to refuse meanwhile (`coordination.on_unavailable = "fail_closed"`).
    #[error("{0}")]
    CoordinationUnavailable(String),

    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: String },

    #[error("request body exceeds {limit} bytes")]
    RequestTooLarge { limit: u64 },

    /// The client stopped sending its request body, or sent it too slowly.
    #[error("{0}")]
    RequestTimeout(String),

    #[error("upstream '{target}' rate limited the request: {detail}")]
    UpstreamRateLimited {
        target: String,
        detail: String,
        retry_after: Option<Duration>,
    },

    #[error("{detail}")]
    ContextLengthExceeded { target: String, detail: String },

    #[error("upstream '{target}' rejected the request: {detail}")]
    UpstreamRejected { target: String, detail: String },

    #[error("upstream '{target}' failed: {detail}")]
    Upstream { target: String, detail: String },

    #[error("upstream '{target}' timed out: {detail}")]
    UpstreamTimeout { target: String, detail: String },

    #[error(
        "no healthy target for model '{model}': every target is ejected by its circuit breaker"
    )]
    NoHealthyTarget {
        model: String,
        retry_after: Duration,
    },

    #[error("the gateway is at its concurrency limit")]
    Overloaded,

    #[error("the gateway is shutting down")]
    ShuttingDown,

    #[error("internal error: {0}")]
    Internal(String),

    /// A write failed because the data directory's disk is full (SQLite's `SQLITE_FULL`,
    /// `ENOSPC`): nothing was written, and what was stored before is intact.
    #[error("the data directory is full: {0}")]
    StorageFull(String),
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Error::InvalidRequest {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }

    pub fn config(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::Config(vec![ConfigIssue {
            key: key.into(),
            problem: problem.into(),
        }])
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidRequest { .. } | Error::UpstreamRejected { .. } => {
                ErrorCode::InvalidRequest
            }
            Error::ContextLengthExceeded { .. } => ErrorCode::ContextLengthExceeded,
            Error::MissingApiKey => ErrorCode::MissingApiKey,
            Error::InvalidApiKey | Error::KeyNotUsable(_) => ErrorCode::InvalidApiKey,
            Error::PermissionDenied(_) => ErrorCode::PermissionDenied,
            Error::RateLimited { .. } => ErrorCode::RateLimitExceeded,
            Error::BudgetExceeded { .. } => ErrorCode::BudgetExceeded,
            Error::ModelNotFound(_) => ErrorCode::ModelNotFound,
            Error::RouteNotFound { .. } | Error::NotFound(_) => ErrorCode::NotFound,
            Error::Conflict(_) => ErrorCode::Conflict,
            Error::Guardrail { .. } => ErrorCode::GuardrailViolation,
            Error::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Error::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Error::RequestTooLarge { .. } => ErrorCode::RequestTooLarge,
            Error::RequestTimeout(_) => ErrorCode::RequestTimeout,
            Error::UpstreamRateLimited { .. } => ErrorCode::RateLimitExceeded,
            Error::Upstream { .. } => ErrorCode::UpstreamError,
            Error::UpstreamTimeout { .. } => ErrorCode::UpstreamTimeout,
            Error::NoHealthyTarget { .. }
            | Error::Overloaded
            | Error::ShuttingDown
            | Error::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Error::CoordinationUnavailable(_) => ErrorCode::CoordinationUnavailable,
            Error::Config(_) | Error::ConfigSource(_) | Error::Internal(_) => {
                ErrorCode::InternalError
            }
            Error::StorageFull(_) => ErrorCode::InsufficientStorage,
        }
    }

    /// The message shown to API clients. Internal errors are not described.
    pub fn public_message(&self) -> String {
        match self {
            Error::Config(_) | Error::ConfigSource(_) | Error::Internal(_) => {
                "internal error; see the gateway log for the request id".to_owned()
            }
            Error::MissingApiKey => {
                "missing API key: send 'Authorization: Bearer <key>'".to_owned()
            }
            Error::InvalidApiKey => "invalid API key".to_owned(),
            Error::StorageFull(_) => "the server's data directory is full: the request was not stored (nothing stored before is lost); retry once the operator frees disk space".to_owned(),
            Error::ModelNotFound(m) => {
                format!("model '{m}' not found; GET /v1/models lists the available models")
            }
            other => other.to_string(),
        }
    }

    /// Extra response headers the error carries (`x-ratelimit-*`).
    pub fn headers(&self) -> &[(&'static str, String)] {
        match self {
            Error::RateLimited { headers, .. } => headers,
            _ => &[],
        }
    }

    pub fn param(&self) -> Option<&str> {
        match self {
            Error::InvalidRequest { param, .. } | Error::Guardrail { param, .. } => {
                param.as_deref()
            }
            Error::ModelNotFound(_) => Some("model"),
            Error::ContextLengthExceeded { .. } => Some("messages"),
            _ => None,
        }
    }

    /// The delay a client should wait before retrying, when the error implies one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::UpstreamRateLimited { retry_after, .. } => *retry_after,
            Error::NoHealthyTarget { retry_after, .. } => Some(*retry_after),
            Error::Overloaded | Error::CoordinationUnavailable(_) => Some(Duration::from_secs(1)),
            Error::StorageFull(_) => Some(Duration::from_secs(30)),
            Error::RateLimited { retry_after, .. } | Error::BudgetExceeded { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}
