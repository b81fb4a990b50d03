use serde::{Deserialize, Serialize};

/// Stable error codes. The string form (`as_str`) is part of the public API: clients and
/// dashboards match on it, so a code is never renamed once shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Malformed JSON, a schema violation, or an invalid parameter (400).
    InvalidRequest,
    /// The prompt plus the requested completion does not fit the model's context (400).
    ContextLengthExceeded,
    /// No `Authorization: Bearer` header (401).
    MissingApiKey,
    /// The presented key is not valid, or is revoked or expired (401).
    InvalidApiKey,
    /// The key is valid but its role may not do this (403).
    PermissionDenied,
    /// The requested model is not configured (404).
    ModelNotFound,
    /// No such route (404).
    NotFound,
    /// The route exists but not with this method (405).
    MethodNotAllowed,
    /// The body is larger than `server.max_body_bytes` (413).
    RequestTooLarge,
    /// The client stopped sending the request body, or sent it too slowly (408).
    RequestTimeout,
    /// The resource exists already, e.g. a collection name (409).
    Conflict,
    /// A guardrail refused the request or the answer: personal data of a blocked type, a
    /// prompt injection, a blocked output check (400). The message names the detector.
    GuardrailViolation,
    /// An uploaded document's type is not one Atalaya reads (415).
    UnsupportedMediaType,
    /// The upstream (or, later, a limit of Atalaya) asked the client to slow down (429).
    RateLimitExceeded,
    /// A token or cost budget of the key or tenant is spent for the current day or month
    /// (429, OpenAI's `insufficient_quota` family).
    BudgetExceeded,
    /// An upstream failed: connection error, 5xx, or an invalid response (502).
    UpstreamError,
    /// Every target of the model is ejected by its circuit breaker, or the gateway is
    /// shedding load or shutting down (503).
    ServiceUnavailable,
    /// The limits shared by replicas (Redis) cannot be reached and the deployment is
    /// configured to refuse meanwhile (503); retry shortly.
    CoordinationUnavailable,
    /// The upstream did not answer within the deadline (504).
    UpstreamTimeout,
    /// A bug in Atalaya; the message never carries internals (500).
    InternalError,
    /// The data directory's disk is full: the write was not made, nothing stored was lost;
    /// retry once space is freed (507).
    InsufficientStorage,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 21] = [
        ErrorCode::InvalidRequest,
        ErrorCode::ContextLengthExceeded,
        ErrorCode::MissingApiKey,
        ErrorCode::InvalidApiKey,
        ErrorCode::PermissionDenied,
        ErrorCode::ModelNotFound,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTooLarge,
        ErrorCode::RequestTimeout,
        ErrorCode::Conflict,
        ErrorCode::GuardrailViolation,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::RateLimitExceeded,
        ErrorCode::BudgetExceeded,
        ErrorCode::UpstreamError,
        ErrorCode::ServiceUnavailable,
        ErrorCode::CoordinationUnavailable,
        ErrorCode::UpstreamTimeout,
        ErrorCode::InternalError,
        ErrorCode::InsufficientStorage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::ContextLengthExceeded => "context_length_exceeded",
            ErrorCode::MissingApiKey => "missing_api_key",
            ErrorCode::InvalidApiKey => "invalid_api_key",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::ModelNotFound => "model_not_found",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTooLarge => "request_too_large",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::Conflict => "conflict",
            ErrorCode::GuardrailViolation => "guardrail_violation",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::RateLimitExceeded => "rate_limit_exceeded",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::UpstreamError => "upstream_error",
            ErrorCode::ServiceUnavailable => "service_unavailable",
            ErrorCode::CoordinationUnavailable => "coordination_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::InsufficientStorage => "insufficient_storage",
        }
    }

    /// The HTTP status this code is always sent with.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::ContextLengthExceeded
            | ErrorCode::GuardrailViolation => 400,
            ErrorCode::MissingApiKey | ErrorCode::InvalidApiKey => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::ModelNotFound | ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::RequestTimeout => 408,
            ErrorCode::Conflict => 409,
            ErrorCode::RequestTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::RateLimitExceeded | ErrorCode::BudgetExceeded => 429,
            ErrorCode::InternalError => 500,
            ErrorCode::UpstreamError => 502,
            ErrorCode::ServiceUnavailable | ErrorCode::CoordinationUnavailable => 503,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::InsufficientStorage => 507,
        }
    }

    /// OpenAI's `error.type` family for this code.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest
            | ErrorCode::ContextLengthExceeded
            | ErrorCode::ModelNotFound
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::RequestTooLarge
            | ErrorCode::RequestTimeout
            | ErrorCode::Conflict
            | ErrorCode::GuardrailViolation
            | ErrorCode::UnsupportedMediaType => "invalid_request_error",
            ErrorCode::MissingApiKey | ErrorCode::InvalidApiKey => "authentication_error",
            ErrorCode::PermissionDenied => "permission_error",
            ErrorCode::RateLimitExceeded => "rate_limit_error",
            ErrorCode::BudgetExceeded => "insufficient_quota",
            ErrorCode::UpstreamError
            | ErrorCode::ServiceUnavailable
            | ErrorCode::UpstreamTimeout => "upstream_error",
            ErrorCode::InternalError
            | ErrorCode::InsufficientStorage
            | ErrorCode::CoordinationUnavailable => "api_error",
        }
    }
}

/// The OpenAI error envelope: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorObject {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub param: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>, param: Option<String>) -> Self {
        ErrorBody {
            error: ErrorObject {
                message: message.into(),
                kind: code.error_type().to_owned(),
                code: code.as_str().to_owned(),
                param,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code:?}");
        }
    }

    #[test]
    fn envelope_has_openai_shape() {
        let body = ErrorBody::new(
            ErrorCode::ModelNotFound,
            "no model 'x'",
            Some("model".into()),
        );
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["message"], "no model 'x'");
    }
}
