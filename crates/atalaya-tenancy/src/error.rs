use std::time::Duration;

/// Errors of the tenancy layer. The gateway maps each to its stable code and HTTP status
/// (`atalaya_core::Error`); messages never contain a key, a prompt or a subject's id.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing API key")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("API key {prefix}… was revoked")]
    KeyRevoked { prefix: String },
    #[error("API key {prefix}… expired")]
    KeyExpired { prefix: String },
    /// The key's role may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("model '{0}' is not available to this tenant")]
    ModelNotAllowed(String),
    /// A rate limit refused the request (429 with `Retry-After`).
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
        headers: Vec<(&'static str, String)>,
    },
    /// A budget is spent until the period ends (429).
    #[error("{message}")]
    BudgetExceeded {
        message: String,
        retry_after: Duration,
    },
    /// A feature that needs configuration the server was not given.
    #[error("{0}")]
    Unavailable(String),
    /// The shared limits (Redis) cannot be reached and `coordination.on_unavailable` is
    /// `fail_closed` (503).
    #[error("shared limits are unavailable ({0}); retry shortly")]
    CoordinationUnavailable(String),
    #[error("encryption error: {0}")]
    Crypto(String),
    #[error(transparent)]
    Store(#[from] atalaya_store::Error),
}

impl Error {
    pub fn invalid(message: impl Into<String>, param: Option<&str>) -> Self {
        Error::Invalid {
            message: message.into(),
            param: param.map(str::to_owned),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A tenancy error as the platform's API error (its status and stable code).
impl From<Error> for atalaya_core::Error {
    fn from(e: Error) -> Self {
        use atalaya_core::Error as E;
        use Error as T;
        match e {
            T::MissingKey => E::MissingApiKey,
            T::InvalidKey => E::InvalidApiKey,
            T::KeyRevoked { .. } | T::KeyExpired { .. } => E::KeyNotUsable(e.to_string()),
            T::Forbidden(m) => E::PermissionDenied(m),
            T::NotFound(what) => E::NotFound(what),
            T::Invalid { message, param } => E::InvalidRequest { message, param },
            T::Conflict(m) => E::Conflict(m),
            T::ModelNotAllowed(m) => E::ModelNotFound(m),
            T::RateLimited {
                message,
                retry_after,
                headers,
            } => E::RateLimited {
                message,
                retry_after,
                headers,
            },
            T::BudgetExceeded {
                message,
                retry_after,
            } => E::BudgetExceeded {
                message,
                retry_after,
            },
            T::Unavailable(m) => E::Unavailable(m),
            T::CoordinationUnavailable(_) => E::CoordinationUnavailable(e.to_string()),
            T::Store(crate::StoreError::Full(m)) => E::StorageFull(m),
            T::Crypto(_) | T::Store(_) => E::Internal(e.to_string()),
        }
    }
}
