//! Per-request observability. The middleware gives every request an id (`x-request-id`,
//! accepted from the client when well-formed), enforces the concurrency limit, and wraps the
//! response body so that one access-log line and the request metrics are emitted when the
//! body has been sent, or dropped: streams are logged when they end, with their tokens.
//! Prompt and completion text are never logged.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use atalaya_api::ErrorCode;
use atalaya_core::Error;
use atalaya_service::call::Facts;
use axum::{
    body::Body,
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::{sync::OwnedSemaphorePermit, time::Instant};

use crate::{
    error::{ApiError, ErrorCodeTag},
    state::AppState,
};

pub const REQUEST_ID: &str = "x-request-id";

/// The request's id and arrival time, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId {
    pub id: String,
    pub received_at: Instant,
}

fn valid_request_id(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    (!s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    .then(|| s.to_owned())
}

pub async fn observe(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let received_at = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(valid_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    // The API and the admin API are logged and count against the concurrency limit (health
    // checks and metrics scrapes are not).
    let api = route.starts_with("/v1/") || route.starts_with("/admin/");
    let method = req.method().clone();
    let facts = Facts::default();
    req.extensions_mut().insert(RequestId {
        id: id.clone(),
        received_at,
    });
    req.extensions_mut().insert(facts.clone());

    // The record exists before the handler runs: a client that disconnects before the
    // response drops the handler's future, and the record still logs it (as 499).
    state.svc.gateway.metrics().in_flight().inc();
    let mut record = Record {
        state: state.clone(),
        id: id.clone(),
        method,
        route,
        log: api,
        status: CLIENT_CLOSED_REQUEST,
        error_code: None,
        received_at,
        facts,
        completed: false,
        _permit: None,
    };
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > state.max_header_bytes {
        let mut response = ApiError(Error::invalid(
            format!(
                "request headers total {header_bytes} bytes, more than server.max_header_bytes ({})",
                state.max_header_bytes
            ),
            None,
        ))
        .into_response();
        set_id(&mut response, &id);
        return settle(response, record);
    }
    if api {
        match state.limiter.clone().try_acquire_owned() {
            Ok(p) => record._permit = Some(p),
            Err(_) => {
                let mut response = ApiError(Error::Overloaded).into_response();
                set_id(&mut response, &id);
                return settle(response, record);
            }
        }
    }
    let mut response = next.run(req).await;
    set_id(&mut response, &id);
    settle(response, record)
}

/// Status logged for a request whose client went away before the response (nginx's 499).
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// Moves the record into the response body, to be emitted when the body ends.
fn settle(mut response: Response, mut record: Record) -> Response {
    record.status = response.status().as_u16();
    record.facts.update(|f| {
        if let Some(lease) = &mut f.lease {
            for (name, value) in lease.take_headers() {
                if let Ok(v) = HeaderValue::try_from(value) {
                    response.headers_mut().insert(name, v);
                }
            }
        }
    });
    record.error_code = response.extensions().get::<ErrorCodeTag>().map(|t| t.0);
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(Logged {
            inner: body,
            record: Some(record),
        }),
    )
}

fn set_id(r: &mut Response, id: &str) {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut().insert(REQUEST_ID, v);
    }
}

struct Record {
    state: Arc<AppState>,
    id: String,
    method: Method,
    route: String,
    log: bool,
    status: u16,
    error_code: Option<ErrorCode>,
    received_at: Instant,
    facts: Facts,
    completed: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Record {
    fn drop(&mut self) {
        let total = self.received_at.elapsed();
        let metrics = self.state.svc.gateway.metrics();
        metrics.in_flight().dec();
        self.facts.update(|f| {
            if let Some(lease) = f.lease.take() {
                lease.finish(atalaya_tenancy::Outcome {
                    status: self.status,
                    prompt_tokens: f.usage.map(|u| u.prompt_tokens),
                    completion_tokens: f.usage.map(|u| u.completion_tokens),
                    target: f.target.clone(),
                    latency_ms: u64::try_from(total.as_millis()).unwrap_or(u64::MAX),
                    guard: f.guard.clone(),
                });
            }
            let model = f.model.as_deref().unwrap_or("");
            // Only configured models become label values, so clients cannot grow the series. The
            // router is the one judge of that: an unconfigured model ends in `model_not_found`.
            let model_label = if self.error_code == Some(ErrorCode::ModelNotFound) {
                "unknown"
            } else {
                model
            };
            metrics.request_finished(&self.route, model_label, self.status, total);
            if let Some(u) = f.usage {
                metrics.tokens(model_label, u.prompt_tokens, u.completion_tokens);
            }
            if f.stream_error.is_some() {
                metrics.stream_error(model_label);
            }
            if (200..300).contains(&self.status) && !f.stream {
                if let Some(up) = f.upstream_time {
                    metrics.overhead(total.saturating_sub(up));
                }
            }
            if !self.log {
                return;
            }
            let error_code = self
                .error_code
                .or(f.stream_error.as_ref().map(|(code, _)| *code))
                .map(ErrorCode::as_str);
            let stream_error = f.stream_error.as_ref().map(|(_, detail)| detail.as_str());
            let completed = !f.stream || self.completed;
            tracing::info!(
                target: "atalaya::access",
                request_id = %self.id,
                method = %self.method,
                route = %self.route,
                status = self.status,
                latency_ms = total.as_secs_f64() * 1000.0,
                model,
                upstream_target = f.target.as_deref().unwrap_or(""),
                attempts = f.attempts,
                stream = f.stream,
                completed,
                time_to_first_chunk_ms = f.time_to_first_chunk.map(|d| d.as_secs_f64() * 1000.0),
                upstream_ms = f.upstream_time.map(|d| d.as_secs_f64() * 1000.0),
                prompt_tokens = f.usage.map(|u| u.prompt_tokens),
                completion_tokens = f.usage.map(|u| u.completion_tokens),
                error_code,
                stream_error,
                key_id = f.key_id.as_deref(),
                guard = f.guard.as_deref(),
                "request"
            );
        });
    }
}

/// A response body that settles its `Record` when it ends or is dropped.
struct Logged {
    inner: Body,
    record: Option<Record>,
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            if let Some(mut r) = this.record.take() {
                r.completed = true;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
