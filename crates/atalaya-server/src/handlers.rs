//! Handlers: extract, convert wire → domain, call the gateway service, convert back.

use std::sync::Arc;

use atalaya_api as api;
use atalaya_core::{
    domain::{ChatRequest, EmbeddingRequest, StreamChunk, Usage},
    routing::{CircuitState, Routed},
};
use atalaya_knowledge::service::Hit;
use axum::{
    extract::{Extension, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::json;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{ApiJson, Caller},
    observe::Facts,
    sse::sse_response,
};

fn routed_headers(h: &mut HeaderMap, target: &str, attempts: u32) {
    if let Ok(v) = HeaderValue::from_str(target) {
        h.insert("x-atalaya-target", v);
    }
    h.insert("x-atalaya-attempts", HeaderValue::from(attempts));
}

/// Notes the requested model for the log line and metrics.
fn note_model(facts: &Facts, model: &str, stream: bool) {
    facts.update(|f| {
        f.model = Some(model.to_owned());
        f.stream = stream;
    });
}

/// Notes where and how a request was served.
fn note_routed<T>(facts: &Facts, routed: &Routed<T>, usage: Option<Usage>) {
    facts.update(|f| {
        f.target = Some(routed.target.clone());
        f.attempts = routed.attempts;
        f.upstream_time = Some(routed.upstream_time);
        if usage.is_some() {
            f.usage = usage;
        }
    });
}

/// The upstream's JSON, forwarded as is, with the routing headers.
fn routed_json<T>(body: Bytes, routed: &Routed<T>) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    routed_headers(r.headers_mut(), &routed.target, routed.attempts);
    r
}

/// The data subject of a request: `x-atalaya-subject`, else the OpenAI `user` field.
pub(crate) fn subject(headers: &HeaderMap, user: Option<&str>) -> Option<String> {
    headers
        .get("x-atalaya-subject")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(user.filter(|u| !u.is_empty()))
        .map(str::to_owned)
}

/// Tokens of a text, estimated before the call (about 4 characters a token; the upstream's
/// usage replaces the estimate when the response ends).
pub(crate) fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Admits a model call (budgets, concurrency, rate limits) and leaves its lease in the
/// request's facts, to be settled when the response ends.
pub(crate) fn admit(
    state: &AppState,
    ctx: &atalaya_core::context::RequestContext,
    facts: &Facts,
    estimate: atalaya_tenancy::Estimate,
    capture: impl FnOnce() -> atalaya_tenancy::Capture,
) -> Result<(), ApiError> {
    let lease = state.tenancy.admit(&ctx.principal, estimate, capture)?;
    facts.update(|f| f.lease = Some(lease));
    Ok(())
}

pub(crate) fn wants_answer(facts: &Facts) -> bool {
    let mut wants = false;
    facts.update(|f| wants = f.lease.as_ref().is_some_and(|l| l.wants_answer()));
    wants
}

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(mut wire): ApiJson<api::ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    if wire.model.starts_with(crate::pipeline::MODEL_PREFIX) {
        let subject = subject(&headers, wire.user.as_deref());
        return crate::pipeline_handlers::chat_pipeline(state, facts, ctx, wire, subject).await;
    }
    // Admission first (limits, budgets, the tenant's models): a refused request does no
    // retrieval or guard work. Retrieved sources are not in the estimate; the upstream's
    // usage settles it.
    {
        let chars = serde_json::to_vec(&wire.messages).map_or(0, |b| b.len());
        let completion = wire
            .max_completion_tokens
            .or(wire.max_tokens)
            .map(u64::from)
            .unwrap_or(state.tenancy.settings().limits.estimate_completion_tokens);
        let estimate = atalaya_tenancy::Estimate {
            model: Some(wire.model.clone()),
            prompt_tokens: estimate_tokens(chars),
            completion_tokens: completion,
        };
        // What the client sent, before retrieval and pseudonymization: the inference log is
        // the client's record, encrypted at rest.
        let capture = || atalaya_tenancy::Capture {
            subject: subject(&headers, wire.user.as_deref()),
            request: json!({"model": wire.model, "messages": wire.messages}),
        };
        admit(&state, &ctx, &facts, estimate, capture)?;
    }
    let policy = state
        .guard
        .policy_of(&state.tenancy, &ctx.principal.tenant, &wire.model);
    // Retrieval-augmented chat (`"atalaya": {"knowledge": {...}}`): never sent upstream.
    let mut rag = match wire.extra.remove("atalaya") {
        None => None,
        Some(ext) => {
            let p = policy.as_deref().map(|p| &p.policy);
            augment(&state, &ctx, &mut wire, ext, p).await?
        }
    };
    let mut req = ChatRequest::try_from(wire)?;
    note_model(&facts, &req.model, req.stream);
    let mut guard = match policy {
        Some(policy) => {
            let (dropped, sources_at) = rag
                .as_mut()
                .map(|r| (std::mem::take(&mut r.dropped), Some(r.at)))
                .unwrap_or_default();
            Some(state.guard.protect(policy, &mut req, dropped, sources_at)?)
        }
        None => None,
    };
    // The header reports the input stage, known before the answer.
    let guard_header = guard.as_ref().map(|g| g.header());
    if let Some(h) = &guard_header {
        facts.update(|f| f.guard = Some(h.clone()));
    }
    if req.stream {
        let mut routed = state.gateway.chat_stream(&ctx, &req).await?;
        if let Some(g) = guard.take() {
            routed.value = g.wrap_stream(routed.value, req.model.clone());
        }
        if let Some(rag) = rag {
            // The sources go first, in a chunk without choices (as a usage chunk is).
            let first = serde_json::json!({
                "object": "chat.completion.chunk",
                "model": req.model,
                "choices": [],
                "atalaya": {"sources": sources_json(rag.hits)},
            });
            let chunk = StreamChunk {
                data: Bytes::from(first.to_string()),
                usage: None,
                usage_only: false,
            };
            routed.value =
                Box::pin(futures::stream::once(async move { Ok(chunk) }).chain(routed.value));
        }
        let ttfc = ctx.received_at.elapsed();
        state
            .gateway
            .metrics()
            .time_to_first_token(&req.model, ttfc);
        note_routed(&facts, &routed, None);
        facts.update(|f| f.time_to_first_chunk = Some(ttfc));
        if wants_answer(&facts) {
            routed.value = record_streamed_answer(routed.value, facts.clone());
        }
        routed.value = end_if_revoked(routed.value, state.tenancy.clone(), ctx.principal.clone());
        let (target, attempts) = (routed.target.clone(), routed.attempts);
        let mut response = sse_response(routed.value, req.include_usage, facts);
        routed_headers(response.headers_mut(), &target, attempts);
        guard_headers(response.headers_mut(), guard_header.as_deref());
        Ok(response)
    } else {
        let routed = state.gateway.chat(&ctx, &req).await?;
        note_routed(&facts, &routed, routed.value.usage);
        let body = &routed.value.body;
        // Parsed once for the guard and the citations; with neither, forwarded as it came.
        let body = if guard.is_none() && rag.is_none() {
            body.clone()
        } else {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Err(e) if guard.is_some() => {
                    return Err(crate::guard::RequestGuard::not_json(&e).into())
                }
                Err(_) => body.clone(),
                Ok(v) if guard.is_none() && !v.is_object() => body.clone(),
                Ok(mut v) => {
                    if let Some(g) = guard.as_mut() {
                        g.finish(&mut v)?;
                    }
                    if let Some(rag) = rag {
                        add_citations(&mut v, rag.hits);
                    }
                    serde_json::to_vec(&v)
                        .map(Bytes::from)
                        .map_err(|e| atalaya_core::Error::Internal(e.to_string()))?
                }
            }
        };
        if wants_answer(&facts) {
            let answer = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&body).into_owned())
            });
            record_answer(&facts, answer);
        }
        let mut response = routed_json(body, &routed);
        guard_headers(response.headers_mut(), guard_header.as_deref());
        Ok(response)
    }
}

/// Keeps the answer as the client got it for the inference log (encrypted at rest).
pub(crate) fn record_answer(facts: &Facts, answer: serde_json::Value) {
    facts.update(|f| {
        if let Some(l) = f.lease.as_mut() {
            l.set_answer(answer);
        }
    });
}

/// Collects the streamed answer's text (as the client receives it) for the inference log.
pub(crate) fn record_streamed_answer(
    stream: atalaya_core::gateway::GatewayStream,
    facts: Facts,
) -> atalaya_core::gateway::GatewayStream {
    Box::pin(stream.inspect(move |item| {
        let Ok(chunk) = item else { return };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&chunk.data) else {
            return;
        };
        let Some(choices) = v.get("choices").and_then(|c| c.as_array()) else {
            return;
        };
        for c in choices {
            if let Some(text) = c
                .get("delta")
                .and_then(|d| d.get("content"))
                .and_then(|t| t.as_str())
            {
                let index = c.get("index").and_then(|i| i.as_u64()).unwrap_or(0);
                facts.update(|f| {
                    if let Some(l) = f.lease.as_mut() {
                        l.append_answer(index, text);
                    }
                });
            }
        }
    }))
}

fn guard_headers(h: &mut HeaderMap, value: Option<&str>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
        h.insert("x-atalaya-guard", v);
    }
}

/// What retrieval added to a chat request.
struct Rag {
    hits: Vec<Hit>,
    /// Sources dropped by the indirect-injection check.
    dropped: Vec<crate::guard::FlaggedDocument>,
    /// Index of the system message that carries the sources.
    at: usize,
}

/// Reads the `atalaya` extension; with `knowledge`, retrieves for the last user message and
/// gives the sources to the model in a system message (after the client's own).
async fn augment(
    state: &AppState,
    ctx: &atalaya_core::context::RequestContext,
    wire: &mut api::ChatCompletionRequest,
    ext: serde_json::Value,
    policy: Option<&atalaya_guard::Policy>,
) -> Result<Option<Rag>, ApiError> {
    let ext: api::knowledge::ChatExtension = serde_json::from_value(ext).map_err(|e| {
        atalaya_core::Error::invalid(format!("invalid 'atalaya' object: {e}"), Some("atalaya"))
    })?;
    let Some(k) = ext.knowledge else {
        return Ok(None);
    };
    let svc = state.knowledge.as_ref().ok_or_else(|| {
        atalaya_core::Error::Unavailable(
            "the knowledge base is disabled (knowledge.enabled = false)".into(),
        )
    })?;
    let query = wire
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .and_then(|m| match &m.content {
            Some(api::MessageContent::Text(t)) => Some(t.clone()),
            Some(api::MessageContent::Parts(parts)) => Some(
                parts
                    .iter()
                    .filter_map(|p| p.text.as_deref())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            None => None,
        })
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| {
            atalaya_core::Error::invalid(
                "retrieval needs a user message with text (the query)",
                Some("messages"),
            )
        })?;
    let params =
        crate::kb_handlers::search_params(k.retrieval(), svc.answer_sources, Some(query.as_str()))?;
    let rerank = k.rerank.unwrap_or(false);
    let mut hits = svc
        .retrieve(&state.gateway, ctx, &k.collection, query, params, rerank)
        .await?;
    // Indirect injection: a retrieved chunk that carries instructions never reaches the model.
    let dropped = policy.map_or_else(Vec::new, |p| state.guard.drop_flagged(p, &mut hits));
    let prompt = crate::rag::sources_prompt(&hits);
    let at = wire
        .messages
        .iter()
        .take_while(|m| m.role == "system" || m.role == "developer")
        .count();
    wire.messages.insert(
        at,
        api::Message {
            role: "system".into(),
            content: Some(api::MessageContent::Text(prompt)),
            name: None,
            tool_calls: None,
            tool_call_id: None,
            extra: serde_json::Map::new(),
        },
    );
    Ok(Some(Rag { hits, dropped, at }))
}

/// The sources as `/answer` lists them, numbered as cited.
fn sources_json(hits: Vec<Hit>) -> serde_json::Value {
    json!(hits
        .into_iter()
        .enumerate()
        .map(|(i, h)| crate::kb_handlers::chunk_result(h, Some(i + 1)))
        .collect::<Vec<_>>())
}

/// Adds `atalaya.citations` (the sources the answer cites) and `atalaya.sources` (all the
/// sources it was given) to a completion, merged into an `atalaya` object the guard may have
/// added.
fn add_citations(v: &mut serde_json::Value, hits: Vec<Hit>) {
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cited: Vec<usize> = crate::rag::cited(&text)
        .into_iter()
        .filter(|&n| n >= 1 && n <= hits.len())
        .collect();
    let citations = crate::kb_handlers::citations(&cited, &hits);
    if let Some(ext) = crate::guard::atalaya_ext(v) {
        ext.insert("citations".into(), json!(citations));
        ext.insert("sources".into(), sources_json(hits));
    }
}

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(wire): ApiJson<api::EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let chars = input_chars(&wire.input);
    let user = wire
        .extra
        .get("user")
        .and_then(|u| u.as_str())
        .map(str::to_owned);
    let input = wire.input.clone();
    let req = EmbeddingRequest::try_from(wire)?;
    note_model(&facts, &req.model, false);
    let estimate = atalaya_tenancy::Estimate {
        model: Some(req.model.clone()),
        prompt_tokens: chars,
        completion_tokens: 0,
    };
    let capture = || atalaya_tenancy::Capture {
        subject: subject(&headers, user.as_deref()),
        request: json!({"model": req.model, "input": input}),
    };
    admit(&state, &ctx, &facts, estimate, capture)?;
    let routed = state.gateway.embed(&ctx, &req).await?;
    note_routed(&facts, &routed, routed.value.usage);
    Ok(routed_json(routed.value.body.clone(), &routed))
}

/// Estimated tokens of an embeddings input: strings by their length, token arrays by count.
fn input_chars(input: &serde_json::Value) -> u64 {
    match input {
        serde_json::Value::String(s) => estimate_tokens(s.len()),
        serde_json::Value::Array(items) => items.iter().map(input_chars).sum(),
        serde_json::Value::Number(_) => 1,
        _ => 0,
    }
}

pub async fn list_models(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> Json<api::ModelList> {
    // A tenant limited to some models sees only those.
    let allowed = state.tenancy.allowed_models(&ctx.principal.tenant);
    Json(api::ModelList {
        object: "list".into(),
        data: state
            .gateway
            .models()
            .into_iter()
            .filter(|m| allowed.as_ref().is_none_or(|a| a.contains(&m.id)))
            .map(|m| api::ModelObject {
                id: m.id,
                object: "model".into(),
                created: m.created,
                owned_by: m.owned_by,
                atalaya: m.details,
            })
            .collect(),
    })
}

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Whether a request may see operational detail (`/metrics`, the readiness targets): always
/// without `server.metrics_key`, else only with that key as its bearer token.
fn metrics_access(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(digest) = &state.metrics_key {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if auth.is_none() {
            return Err(ApiError(atalaya_core::Error::MissingApiKey));
        }
        if !atalaya_core::auth::bearer_matches(auth, digest) {
            return Err(ApiError(atalaya_core::Error::InvalidApiKey));
        }
    }
    Ok(())
}

/// `GET /readyz`: ready when the configuration is loaded (it is, or the server would not
/// run), the server is not shutting down, and at least one target can take requests; with
/// why not. The per-target detail (models, upstream names, circuit states) only for a caller
/// that may read the metrics.
pub async fn readyz(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let (status, reason) = if state.shutdown.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, Some("shutting down"))
    } else if !state.gateway.ready() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("no target can take requests: circuits open or upstream health checks failing"),
        )
    } else {
        (StatusCode::OK, None)
    };
    let mut body = json!({
        "status": if status == StatusCode::OK { "ready" } else { "not_ready" },
        "reason": reason,
    });
    if metrics_access(&state, &headers).is_ok() {
        body["targets"] = state
            .gateway
            .health()
            .into_iter()
            .map(|t| {
                json!({
                    "model": t.model,
                    "target": t.target,
                    "state": match t.state {
                        CircuitState::Closed => "closed",
                        CircuitState::HalfOpen => "half_open",
                        CircuitState::Open => "open",
                    },
                    "upstream_up": t.upstream_up,
                })
            })
            .collect();
    }
    (status, Json(body)).into_response()
}

pub async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    metrics_access(&state, &headers)?;
    let text = state.gateway.metrics().encode().map_err(|e| {
        ApiError(atalaya_core::Error::Internal(format!(
            "metrics encoding: {e}"
        )))
    })?;
    let mut r = Response::new(axum::body::Body::from(text));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(r)
}

#[derive(Debug, serde::Deserialize)]
pub struct GuardQuery {
    /// A policy of `[guard.policies]`; default: `guard.default_policy`, else built-in defaults.
    policy: Option<String>,
}

/// `POST /v1/guard/scan`: PII spans and injection scores of one text or a batch.
pub async fn guard_scan(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    axum::extract::Query(q): axum::extract::Query<GuardQuery>,
    ApiJson(wire): ApiJson<api::guard::ScanRequest>,
) -> Result<Response, ApiError> {
    guard_run(&state, &ctx, q, wire, false).await
}

/// `POST /v1/classify`: the caller's tenant's classifier on one text or a list.
pub async fn classify(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    ApiJson(wire): ApiJson<api::classify::ClassifyRequest>,
) -> Result<Response, ApiError> {
    let texts = match wire.input {
        api::classify::ClassifyInput::One(t) => vec![t],
        api::classify::ClassifyInput::Many(v) => v,
    };
    let svc = state.classify.clone();
    let (tenant, name) = (ctx.principal.tenant.clone(), wire.classifier.clone());
    // Embedding and scoring are CPU work: off the async threads.
    let predictions = tokio::task::spawn_blocking(move || svc.classify(&tenant, &name, &texts))
        .await
        .map_err(|e| atalaya_core::Error::Internal(e.to_string()))??;
    let data = predictions
        .into_iter()
        .enumerate()
        .map(|(index, p)| api::classify::ClassifyResult {
            index,
            label: p.label,
            best: p.best,
            confidence: p.confidence,
            margin: p.margin,
            out_of_scope: p.out_of_scope,
            top: p
                .top
                .into_iter()
                .map(|(label, score)| api::classify::LabelScore { label, score })
                .collect(),
        })
        .collect();
    Ok(Json(api::classify::ClassifyResponse {
        object: "list".into(),
        classifier: wire.classifier,
        data,
    })
    .into_response())
}

/// `POST /v1/guard/redact`: the same, plus the redacted text.
pub async fn guard_redact(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    axum::extract::Query(q): axum::extract::Query<GuardQuery>,
    ApiJson(wire): ApiJson<api::guard::ScanRequest>,
) -> Result<Response, ApiError> {
    guard_run(&state, &ctx, q, wire, true).await
}

async fn guard_run(
    state: &Arc<AppState>,
    ctx: &atalaya_core::context::RequestContext,
    q: GuardQuery,
    wire: api::guard::ScanRequest,
    redact: bool,
) -> Result<Response, ApiError> {
    // `?policy=`, else the tenant's own policy (unless "off"), else the default.
    let tenant_policy = state
        .tenancy
        .guard_policy(&ctx.principal.tenant)
        .filter(|p| p != "off");
    let policy = state
        .guard
        .named_policy(q.policy.as_deref().or(tenant_policy.as_deref()))?;
    let (items, batch) = match wire {
        api::guard::ScanRequest::Batch { input } => (input, true),
        api::guard::ScanRequest::One(item) => (vec![item], false),
    };
    let svc = state.guard.clone();
    // Detection is CPU work: off the async threads for large batches.
    let results = if items.iter().map(|i| i.text.len()).sum::<usize>() > 64 * 1024 {
        tokio::task::spawn_blocking(move || svc.scan(&policy.policy, items, redact))
            .await
            .map_err(|e| atalaya_core::Error::Internal(e.to_string()))??
    } else {
        svc.scan(&policy.policy, items, redact)?
    };
    if batch {
        Ok(Json(api::guard::ScanList {
            object: "list".into(),
            data: results,
        })
        .into_response())
    } else {
        let one = results
            .into_iter()
            .next()
            .ok_or_else(|| atalaya_core::Error::Internal("scan returned no result".into()))?;
        Ok(Json(one).into_response())
    }
}

/// How often a stream checks that its key is still usable.
const KEY_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Ends a stream with an error event once its key is revoked (or expires, or its tenant is
/// deleted): checked at most every [`KEY_CHECK_EVERY`], as chunks arrive.
pub(crate) fn end_if_revoked(
    inner: atalaya_core::gateway::GatewayStream,
    tenancy: Arc<atalaya_tenancy::Tenancy>,
    principal: atalaya_tenancy::Principal,
) -> atalaya_core::gateway::GatewayStream {
    let checked = tokio::time::Instant::now();
    Box::pin(futures::stream::unfold(
        (inner, checked, false),
        move |(mut inner, mut checked, done)| {
            let (tenancy, principal) = (tenancy.clone(), principal.clone());
            async move {
                if done {
                    return None;
                }
                let item = inner.next().await?;
                if checked.elapsed() >= KEY_CHECK_EVERY {
                    checked = tokio::time::Instant::now();
                    if !tenancy.still_usable(&principal) {
                        let e = atalaya_core::Error::KeyNotUsable(format!(
                            "the API key {} was revoked or expired during the stream",
                            principal.display
                        ));
                        return Some((Err(e), (inner, checked, true)));
                    }
                }
                Some((item, (inner, checked, false)))
            }
        },
    ))
}
