//! Extractors: the JSON body (size and depth limits, malformed JSON and schema errors
//! reported with the field's path) and the authenticated caller (whose request is admitted
//! by its rate limits here, except model calls, which their handlers admit with their token
//! estimate).

use std::{net::SocketAddr, sync::Arc};

use atalaya_core::Error;
use atalaya_service::context::{Principal, RequestContext};
use atalaya_tenancy::{Action, Estimate};
use axum::{
    extract::{ConnectInfo, FromRequest, FromRequestParts, MatchedPath, Request},
    http::Method,
    http::{header, request::Parts},
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::{error::ApiError, observe::RequestId, state::AppState};

/// A JSON body of type `T`, read under `server.max_body_bytes`.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<AppState>> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let bytes = read_body(req, state.max_body_bytes).await?;
        check_depth(&bytes, state.max_json_depth)?;
        parse_json(&bytes).map(ApiJson).map_err(ApiError)
    }
}

/// Reads a request body of at most `limit` bytes: a larger declared or streamed body is 413.
pub async fn read_body(req: Request, limit: u64) -> Result<bytes::Bytes, ApiError> {
    let too_large = || ApiError(Error::RequestTooLarge { limit });
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let body = Limited::new(
        req.into_body(),
        usize::try_from(limit).unwrap_or(usize::MAX),
    );
    match body.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) if crate::serve::body_timeout(e.as_ref()).is_some() => {
            Err(ApiError(Error::RequestTimeout(
                crate::serve::body_timeout(e.as_ref())
                    .map_or_else(String::new, ToString::to_string),
            )))
        }
        Err(_) => Err(ApiError(Error::invalid(
            "the request body could not be read completely",
            None,
        ))),
    }
}

/// Refuses JSON nested deeper than `max` arrays and objects (a cheap scan before parsing).
pub fn check_depth(bytes: &[u8], max: usize) -> Result<(), ApiError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Err(ApiError(Error::invalid(
                        format!("JSON nested deeper than {max} levels (server.max_json_depth)"),
                        None,
                    )));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            "the request body is empty; send a JSON object",
            None,
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return Error::invalid(format!("malformed JSON: {inner}"), None);
        }
        let msg = inner.to_string();
        // "missing field `model` at line 1 column 9": name the missing field itself.
        let missing = msg
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(|field| {
                if path == "." {
                    field.to_owned()
                } else {
                    format!("{path}.{field}")
                }
            });
        match missing {
            Some(field) => Error::invalid(format!("'{field}' is required"), Some(&field)),
            None => Error::invalid(format!("invalid value at '{path}': {msg}"), Some(&path)),
        }
    })?;
    de.end()
        .map_err(|e| Error::invalid(format!("malformed JSON: {e}"), None))?;
    Ok(value)
}

/// Authenticates the request's `Authorization` header (failures are audited with the
/// client's address).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // The client's address is recorded only when authentication fails.
    let ip = || {
        parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| {
            let forwarded: Vec<&str> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            state
                .trusted_proxies
                .client(c.0.ip(), &forwarded)
                .to_string()
        })
    };
    let principal = state
        .svc
        .tenancy
        .authn()
        .authenticate_from(authorization, ip)
        .await?;
    if let Some(facts) = parts.extensions.get::<atalaya_service::call::Facts>() {
        facts.update(|f| f.key_id = Some(principal.display.clone()));
    }
    Ok(principal)
}

/// Routes whose handlers admit the request themselves, with the model they call (and its
/// token estimate): admitting them here too would take two units of a key's rate limit and two
/// of its concurrency slots per request.
const METERED: [(Method, &str); 6] = [
    (Method::POST, "/v1/chat/completions"),
    (Method::POST, "/v1/embeddings"),
    (Method::POST, "/v1/knowledge/{collection}/query"),
    (Method::POST, "/v1/knowledge/{collection}/answer"),
    (Method::POST, "/v1/pipelines/{name}/run"),
    (Method::POST, "/v1/tickets"),
];

/// The authenticated caller of the API: request id, principal and arrival time. Its role
/// must allow calling the API; requests to routes that call no model are admitted here.
pub struct Caller(pub RequestContext);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let principal = authenticate(parts, state).await?;
        principal.authorize(Action::UseApi, Some(&principal.tenant))?;
        let metered = parts.extensions.get::<MatchedPath>().is_some_and(|p| {
            METERED
                .iter()
                .any(|(m, path)| *m == parts.method && *path == p.as_str())
        });
        if !metered {
            let lease = state
                .svc
                .tenancy
                .admission()
                .admit(&principal, Estimate::default(), no_capture)
                .await?;
            if let Some(facts) = parts.extensions.get::<atalaya_service::call::Facts>() {
                facts.update(|f| f.lease = Some(lease));
            }
        }
        let (request_id, received_at) = parts
            .extensions
            .get::<RequestId>()
            .map(|r| (r.id.clone(), r.received_at))
            .unwrap_or_else(|| (String::new(), tokio::time::Instant::now()));
        Ok(Caller(RequestContext::new(
            request_id,
            principal,
            received_at,
        )))
    }
}

/// Requests that call no model are not written to the inference log.
fn no_capture() -> atalaya_tenancy::Capture {
    atalaya_tenancy::Capture {
        subject: None,
        request: serde_json::Value::Null,
    }
}

/// An authenticated caller of the admin API (no API role needed: each operation checks its
/// own).
pub struct AdminCaller(pub Principal);

impl FromRequestParts<Arc<AppState>> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if !state.svc.tenancy.settings().auth_enabled {
            return Err(Error::PermissionDenied(
                "the admin API needs authentication (auth.enabled = true)".into(),
            )
            .into());
        }
        let p = authenticate(parts, state).await?;
        Ok(AdminCaller(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_api::ChatCompletionRequest;
    use atalaya_core::domain::ChatRequest;
    use proptest::prelude::*;

    /// JSON-ish text built from fragments of real requests, so many cases get deep into the
    /// schema before going wrong.
    fn jsonish() -> impl Strategy<Value = String> {
        let frag = prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"model\"".to_owned()),
            Just("\"messages\"".to_owned()),
            Just("\"role\"".to_owned()),
            Just("\"content\"".to_owned()),
            Just("\"user\"".to_owned()),
            Just("\"stream\"".to_owned()),
            Just("\"temperature\"".to_owned()),
            Just("\"stop\"".to_owned()),
            Just("\"n\"".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("1e999".to_owned()),
            Just("-0".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            "[a-z0-9 ]{0,6}".prop_map(|s| format!("\"{s}\"")),
            any::<f64>().prop_map(|f| f.to_string()),
        ];
        proptest::collection::vec(frag, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        /// Whatever the body, parsing and validation return a value or an invalid_request
        /// error; they never panic.
        #[test]
        fn arbitrary_bodies_never_panic(body in jsonish(), raw in proptest::collection::vec(any::<u8>(), 0..64)) {
            for bytes in [body.as_bytes(), raw.as_slice()] {
                match parse_json::<ChatCompletionRequest>(bytes) {
                    Ok(wire) => {
                        if let Err(e) = ChatRequest::try_from(wire) {
                            prop_assert_eq!(e.code(), atalaya_api::ErrorCode::InvalidRequest);
                        }
                    }
                    Err(e) => prop_assert_eq!(e.code(), atalaya_api::ErrorCode::InvalidRequest),
                }
            }
        }
    }

    fn param(raw: &str) -> (Option<String>, String) {
        let e = parse_json::<ChatCompletionRequest>(raw.as_bytes()).unwrap_err();
        (e.param().map(str::to_owned), e.to_string())
    }

    #[test]
    fn names_the_field() {
        assert_eq!(param(r#"{"messages":[]}"#).0.as_deref(), Some("model"));
        assert_eq!(
            param(r#"{"model":"m","messages":[{"role":"user","content":5}]}"#)
                .0
                .as_deref(),
            Some("messages[0].content")
        );
        assert_eq!(
            param(r#"{"model":"m","messages":[],"temperature":"hot"}"#)
                .0
                .as_deref(),
            Some("temperature")
        );
        assert_eq!(
            param(r#"{"model":"m","messages":[{"content":"x"}]}"#)
                .0
                .as_deref(),
            Some("messages[0].role")
        );
    }

    #[test]
    fn malformed_json_and_trailing_garbage() {
        let (p, m) = param(r#"{"model": "m","#);
        assert!(p.is_none() && m.contains("malformed JSON"), "{m}");
        let (_, m) = param(r#"{"model":"m","messages":[]} x"#);
        assert!(m.contains("malformed JSON"), "{m}");
        let (_, m) = param("  ");
        assert!(m.contains("empty"), "{m}");
    }
}
