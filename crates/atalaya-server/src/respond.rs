//! Reading request headers the services need and writing their results as responses: the
//! data subject, the routing and guard headers, JSON bodies, a framed chat reply.

use atalaya_service::call::{ChatReply, Facts, Served};
use axum::{
    http::{header, HeaderMap, HeaderValue},
    response::Response,
};
use bytes::Bytes;

use crate::sse::sse_response;

/// The data subject of a request: `x-atalaya-subject`, else the OpenAI `user` field (or the
/// ticket's customer).
pub fn subject(headers: &HeaderMap, user: Option<&str>) -> Option<String> {
    headers
        .get("x-atalaya-subject")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(user.filter(|u| !u.is_empty()))
        .map(str::to_owned)
}

/// `x-atalaya-target` and `x-atalaya-attempts`: where the gateway served the request.
fn served_headers(h: &mut HeaderMap, served: Option<&Served>) {
    let Some(s) = served else { return };
    if let Ok(v) = HeaderValue::from_str(&s.target) {
        h.insert("x-atalaya-target", v);
    }
    h.insert("x-atalaya-attempts", HeaderValue::from(s.attempts));
}

/// `x-atalaya-guard`: the guard's input-stage summary.
fn guard_header(h: &mut HeaderMap, value: Option<&str>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert("x-atalaya-guard", v);
    }
}

/// JSON bytes as they are (an upstream's answer is forwarded without a re-encoding).
pub fn json_bytes(body: Bytes, served: Option<&Served>) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    served_headers(r.headers_mut(), served);
    r
}

/// A chat reply: JSON, or Server-Sent Events.
pub fn chat_reply(reply: ChatReply, facts: Facts) -> Response {
    match reply {
        ChatReply::Json {
            body,
            served,
            guard,
        } => {
            let mut r = json_bytes(body, served.as_ref());
            guard_header(r.headers_mut(), guard.as_deref());
            r
        }
        ChatReply::Stream {
            stream,
            include_usage,
            served,
            guard,
        } => {
            let mut r = sse_response(stream, include_usage, facts);
            served_headers(r.headers_mut(), served.as_ref());
            guard_header(r.headers_mut(), guard.as_deref());
            r
        }
    }
}
