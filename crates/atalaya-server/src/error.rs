//! Domain errors to HTTP: status and stable code from `ErrorCode`, body in OpenAI's shape,
//! `Retry-After` when the error implies one. Nothing else in the server builds error bodies.

use atalaya_api::{ErrorBody, ErrorCode};
use atalaya_core::Error;
use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};

/// The error code of a response, left in its extensions for the access log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCodeTag(pub ErrorCode);

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<atalaya_tenancy::Error> for ApiError {
    fn from(e: atalaya_tenancy::Error) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        match code {
            ErrorCode::InternalError => tracing::error!(error = %self.0, "internal error"),
            // The operator must act: say which store is full.
            ErrorCode::InsufficientStorage => {
                tracing::error!(error = %self.0, "a write failed: the disk is full")
            }
            _ => {}
        }
        let body = ErrorBody::new(
            code,
            self.0.public_message(),
            self.0.param().map(str::to_owned),
        );
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        if let Some(after) = self.0.retry_after() {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        for (name, value) in self.0.headers() {
            if let Ok(v) = HeaderValue::from_str(value) {
                response.headers_mut().insert(*name, v);
            }
        }
        response.extensions_mut().insert(ErrorCodeTag(code));
        response
    }
}

/// The SSE event that ends a stream which failed after it started.
pub fn error_event(e: &Error) -> Vec<u8> {
    let body = ErrorBody::new(e.code(), e.public_message(), None);
    let mut out = b"data: ".to_vec();
    // Serialising a struct of strings cannot fail; fall back to a fixed event regardless.
    match serde_json::to_writer(&mut out, &body) {
        Ok(()) => {}
        Err(_) => {
            out.truncate(6);
            out.extend_from_slice(br#"{"error":{"message":"stream failed","type":"api_error","code":"internal_error","param":null}}"#);
        }
    }
    out.extend_from_slice(b"\n\n");
    out
}

/// 404 for unknown routes.
pub async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError(Error::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    })
}

/// 405 for known routes called with the wrong method.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError(Error::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    })
}
