//! Thin handlers of `/v1/pipelines` and `/v1/tickets`, and of `"model": "pipeline:NAME"` on
//! `/v1/chat/completions`: wire → service input, [`PipelineService`] call, result → wire.

use std::{collections::HashMap, sync::Arc};

use atalaya_api::pipeline as wire;
use atalaya_core::{domain::StreamChunk, gateway::GatewayStream, Error};
use atalaya_pipeline::tickets::{self, Feedback, Ticket};
use axum::{
    extract::{Extension, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use crate::{
    app::AppState,
    error::ApiError,
    extract::{ApiJson, Caller},
    handlers::{
        admit, estimate_tokens, record_answer, record_streamed_answer, subject, wants_answer,
    },
    knowledge,
    observe::Facts,
    pipeline::{
        input_from_messages, pipeline_error, PipelineService, RunInput, RunOutcome, TicketInput,
        MODEL_PREFIX,
    },
    sse::sse_response,
};

fn service(state: &AppState) -> &Arc<PipelineService> {
    &state.pipelines
}

fn info(p: &atalaya_pipeline::Pipeline) -> wire::PipelineInfo {
    wire::PipelineInfo {
        name: p.name.clone(),
        version: p.version,
        description: p.description.clone(),
        source: p.source.clone(),
        model: format!("{MODEL_PREFIX}{}", p.name),
        steps: p
            .steps
            .iter()
            .map(|s| wire::StepInfo {
                id: s.id.clone(),
                kind: s.kind.name().to_owned(),
                when: s.when.clone(),
            })
            .collect(),
    }
}

pub async fn list_pipelines(
    State(state): State<Arc<AppState>>,
    Caller(_ctx): Caller,
) -> Json<wire::PipelineList> {
    Json(wire::PipelineList {
        object: "list".into(),
        data: service(&state).list().iter().map(|p| info(p)).collect(),
    })
}

pub async fn get_pipeline(
    State(state): State<Arc<AppState>>,
    Caller(_ctx): Caller,
    Path(name): Path<String>,
) -> Result<Json<wire::PipelineInfo>, ApiError> {
    let p = service(&state).get(&name)?;
    Ok(Json(info(&p)))
}

/// Admits a run of pipeline `name` as one request under its billing model (see
/// [`PipelineService::billing_model`]): the input's size as the estimate; the run's usage
/// settles it. `subject` tags its inference-log row (so a subject's erasure finds it).
fn admit_run(
    state: &AppState,
    ctx: &atalaya_core::context::RequestContext,
    facts: &Facts,
    name: &str,
    chars: usize,
    subject: Option<String>,
    request: impl FnOnce() -> Value,
) -> Result<(), ApiError> {
    let estimate = atalaya_tenancy::Estimate {
        model: service(state).billing_model(name),
        prompt_tokens: estimate_tokens(chars),
        completion_tokens: state.tenancy.settings().limits.estimate_completion_tokens,
    };
    admit(state, ctx, facts, estimate, || atalaya_tenancy::Capture {
        subject,
        request: request(),
    })
}

fn note_run(facts: &Facts, name: &str, outcome: &RunOutcome) {
    facts.update(|f| {
        f.model = Some(format!("{MODEL_PREFIX}{name}"));
        // No usage: the run called no model (a skipped generation costs nothing).
        f.usage = Some(outcome.usage.unwrap_or_default());
    });
}

fn run_input(i: wire::RunInput) -> Result<RunInput, Error> {
    let mut input = match (&i.text, &i.messages) {
        (Some(t), _) => RunInput {
            text: t.clone(),
            fields: Map::new(),
        },
        (None, Some(m)) => input_from_messages(m),
        (None, None) => match &i.body {
            Some(b) => RunInput {
                text: match &i.subject {
                    Some(s) => format!("{s}\n\n{b}"),
                    None => b.clone(),
                },
                fields: Map::new(),
            },
            None => {
                return Err(Error::invalid(
                    "'input' needs 'text', 'messages' or 'body'",
                    Some("input"),
                ))
            }
        },
    };
    let f = &mut input.fields;
    let put = |f: &mut Map<String, Value>, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            f.insert(k.into(), json!(v));
        }
    };
    put(f, "subject", &i.subject);
    put(f, "body", &i.body);
    put(f, "customer_id", &i.customer_id);
    put(f, "channel", &i.channel);
    put(f, "language", &i.language);
    if let Some(m) = &i.messages {
        f.insert("messages".into(), Value::Array(m.clone()));
    }
    if let Some(t) = &i.thread {
        let text = t
            .iter()
            .map(|m| format!("{}: {}", m.author.as_deref().unwrap_or("customer"), m.text))
            .collect::<Vec<_>>()
            .join("\n");
        f.insert("thread".into(), serde_json::to_value(t).unwrap_or_default());
        f.insert("thread_text".into(), json!(text));
    }
    if let Some(m) = i.metadata {
        f.insert("metadata".into(), Value::Object(m));
    }
    Ok(input)
}

fn run_response(o: RunOutcome) -> wire::RunResponse {
    wire::RunResponse {
        object: "pipeline.run".into(),
        pipeline: o.pipeline,
        version: o.version,
        status: o.status,
        reason: o.reason,
        output: o.output,
        outputs: o.outputs,
        steps: o.steps,
        usage: o.usage,
        atalaya: json!({"trace": o.trace, "elapsed_ms": o.elapsed_ms}),
    }
}

/// `POST /v1/pipelines/{name}/run`.
pub async fn run_pipeline(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    ApiJson(wire): ApiJson<wire::RunRequest>,
) -> Result<Json<wire::RunResponse>, ApiError> {
    let svc = service(&state);
    svc.get(&name)?;
    let subject = subject(&headers, wire.input.customer_id.as_deref());
    let input = run_input(wire.input)?;
    admit_run(
        &state,
        &ctx,
        &facts,
        &name,
        input.text.len(),
        subject,
        || json!({"pipeline": name, "input": input.text}),
    )?;
    let outcome = svc.run(&ctx, &name, input).await?;
    note_run(&facts, &name, &outcome);
    Ok(Json(run_response(outcome)))
}

/// `/v1/chat/completions` with `"model": "pipeline:NAME"`: the conversation runs the
/// pipeline; its output is the assistant's message, the run in `atalaya`. With `stream`, a
/// pipeline whose last step is a `generate` streams that step's tokens as they come (see
/// [`PipelineService::run_streaming`]); any other pipeline's answer comes as one chunk when
/// the run ends. The last chunk carries the run (`atalaya`). A run that fails before any
/// text went out is an ordinary error response; after, an error event ends the stream.
pub async fn chat_pipeline(
    state: Arc<AppState>,
    facts: Facts,
    ctx: atalaya_core::context::RequestContext,
    wire: atalaya_api::ChatCompletionRequest,
    subject: Option<String>,
) -> Result<Response, ApiError> {
    let model = wire.model.clone();
    let name = model
        .strip_prefix(MODEL_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let svc = service(&state);
    svc.get(&name)
        .map_err(|_| Error::ModelNotFound(model.clone()))?;
    let messages: Vec<Value> = serde_json::to_value(&wire.messages)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default();
    let input = input_from_messages(&messages);
    if input.text.trim().is_empty() {
        return Err(Error::invalid(
            "a pipeline model needs a user message with text",
            Some("messages"),
        )
        .into());
    }
    admit_run(
        &state,
        &ctx,
        &facts,
        &name,
        input.text.len(),
        subject,
        || json!({"model": model, "messages": messages}),
    )?;
    let chunks = Chunks {
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        created: tickets::now(),
        model: model.clone(),
    };
    if wire.stream != Some(true) {
        let outcome = svc.run(&ctx, &name, input).await?;
        note_run(&facts, &name, &outcome);
        let usage = outcome.usage.unwrap_or_default();
        let body = json!({
            "id": chunks.id, "object": "chat.completion", "created": chunks.created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.output}, "finish_reason": "stop"}],
            "usage": usage,
            "atalaya": run_ext(&outcome),
        });
        if wants_answer(&facts) {
            record_answer(&facts, body.clone());
        }
        return Ok(Json(body).into_response());
    }
    let include_usage = wire.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true);
    // The run goes on in its own task and sends the streamed step's text through `rx`; the
    // sender is dropped when the run ends, so `None` means "the result is ready".
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    let task = {
        let (svc, ctx, name) = (Arc::clone(svc), ctx.clone(), name.clone());
        // Detached, but bound to the response: the body awaits the task's result, so a
        // graceful shutdown (which drains open responses) waits for it; a client that leaves
        // drops `rx`, which ends the run at its next token.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move { svc.run_streaming(&ctx, &name, input, tx).await })
    };
    let joined = |r: Result<Result<RunOutcome, Error>, tokio::task::JoinError>| {
        r.unwrap_or_else(|e| Err(Error::Internal(format!("pipeline run: {e}"))))
    };
    facts.update(|f| {
        f.model = Some(model.clone());
        f.stream = true;
    });
    let first = rx.recv().await;
    let role = chunks.item(json!({"role": "assistant", "content": ""}), Value::Null);
    let stream: GatewayStream = match first {
        // Nothing was streamed: the whole answer, or the error as a plain response.
        None => {
            let outcome = joined(task.await)?;
            let mut items = vec![Ok(role)];
            if !outcome.output.is_empty() {
                items.push(Ok(
                    chunks.item(json!({"content": outcome.output}), Value::Null)
                ));
            }
            items.extend(chunks.end(&outcome).into_iter().map(Ok));
            Box::pin(futures::stream::iter(items))
        }
        Some(text) => {
            let head = futures::stream::iter([
                Ok::<_, Error>(role),
                Ok(chunks.item(json!({"content": text}), Value::Null)),
            ]);
            let deltas = futures::stream::unfold(
                (rx, Some(task), chunks.clone()),
                move |(mut rx, task, chunks)| async move {
                    if let Some(text) = rx.recv().await {
                        let item = chunks.item(json!({"content": text}), Value::Null);
                        return Some((vec![Ok(item)], (rx, task, chunks)));
                    }
                    let task = task?;
                    let items = match joined(task.await) {
                        Ok(outcome) => chunks.end(&outcome).into_iter().map(Ok).collect(),
                        Err(e) => vec![Err::<StreamChunk, Error>(e)],
                    };
                    Some((items, (rx, None, chunks)))
                },
            )
            .flat_map(futures::stream::iter);
            Box::pin(head.chain(deltas))
        }
    };
    let stream = if wants_answer(&facts) {
        record_streamed_answer(stream, facts.clone())
    } else {
        stream
    };
    Ok(sse_response(stream, include_usage, facts))
}

/// The run as the `atalaya` extension object of a chat completion.
fn run_ext(outcome: &RunOutcome) -> Value {
    json!({
        "pipeline": {
            "name": outcome.pipeline, "version": outcome.version,
            "status": outcome.status, "reason": outcome.reason,
            "outputs": outcome.outputs,
        },
        "trace": outcome.trace,
    })
}

/// Chat-completion chunks of one pipeline stream.
#[derive(Clone)]
struct Chunks {
    id: String,
    created: i64,
    model: String,
}

impl Chunks {
    fn item(&self, delta: Value, finish: Value) -> StreamChunk {
        self.chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            None,
        )
    }

    /// A chunk's JSON with these `choices`.
    fn json(&self, choices: Value) -> Value {
        json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": choices,
        })
    }

    fn chunk(&self, choices: Value, ext: Option<Value>) -> StreamChunk {
        let mut v = self.json(choices);
        if let Some(ext) = ext {
            v["atalaya"] = ext;
        }
        StreamChunk {
            data: Bytes::from(v.to_string()),
            usage: None,
            usage_only: false,
        }
    }

    /// The finishing chunk (with the run in `atalaya`) and the usage chunk (sent only when
    /// the client asked for it; its usage is recorded either way).
    fn end(&self, outcome: &RunOutcome) -> [StreamChunk; 2] {
        let usage = outcome.usage.unwrap_or_default();
        let last = self.chunk(
            json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            Some(run_ext(outcome)),
        );
        let mut u = self.json(json!([]));
        u["usage"] = json!(usage);
        let usage_chunk = StreamChunk {
            data: Bytes::from(u.to_string()),
            usage: Some(usage),
            usage_only: true,
        };
        [last, usage_chunk]
    }
}

pub fn ticket_wire(t: Ticket, with_trace: bool) -> wire::Ticket {
    wire::Ticket {
        id: t.id,
        object: "ticket".into(),
        created_at: t.created_at,
        updated_at: t.updated_at,
        subject: t.subject,
        body: t.body,
        customer_id: t.customer_id,
        channel: t.channel,
        status: t.status,
        reason: t.reason,
        language: t.language,
        intent: t.intent,
        priority: t.priority,
        confidence: t.confidence,
        draft: t.draft,
        citations: t
            .citations
            .into_iter()
            .map(|c| wire::Citation {
                doc: c.doc,
                chunk: c.chunk,
                score: c.score,
            })
            .collect(),
        pipeline: t.pipeline,
        pipeline_version: t.pipeline_version,
        feedback: t
            .feedback
            .into_iter()
            .map(|f| wire::Feedback {
                verdict: f.verdict,
                final_text: f.final_text,
                resolution_seconds: f.resolution_seconds,
                agent: f.agent,
                comment: f.comment,
                created_at: f.created_at,
            })
            .collect(),
        trace: with_trace.then_some(t.trace),
    }
}

/// The service input of a ticket.
pub fn ticket_input(w: wire::CreateTicket) -> TicketInput {
    TicketInput {
        subject: w.subject,
        body: w.body,
        customer_id: w.customer_id,
        channel: w.channel,
        language: w.language,
        thread: w
            .thread
            .unwrap_or_default()
            .into_iter()
            .map(|m| (m.author, m.text))
            .collect(),
        metadata: w.metadata,
    }
}

/// `POST /v1/tickets`: triage, draft, store; 201 with the ticket.
pub async fn create_ticket(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: HeaderMap,
    ApiJson(w): ApiJson<wire::CreateTicket>,
) -> Result<Response, ApiError> {
    let svc = service(&state);
    svc.get(&svc.tickets_pipeline).map_err(|_| {
        Error::Unavailable(format!(
            "the tickets pipeline '{}' is not loaded (pipelines.tickets_pipeline)",
            svc.tickets_pipeline
        ))
    })?;
    let chars = w.body.len() + w.subject.as_ref().map_or(0, String::len);
    let data_subject = subject(&headers, w.customer_id.as_deref());
    admit_run(
        &state,
        &ctx,
        &facts,
        &svc.tickets_pipeline,
        chars,
        data_subject.clone(),
        || json!({"ticket": {"subject": w.subject, "body": w.body}}),
    )?;
    let (ticket, outcome) = svc
        .create_ticket(&ctx, ticket_input(w), data_subject)
        .await?;
    note_run(&facts, &outcome.pipeline, &outcome);
    Ok((StatusCode::CREATED, Json(ticket_wire(ticket, true))).into_response())
}

pub async fn get_ticket(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::Ticket>, ApiError> {
    let store = service(&state).tickets()?;
    let tenant = ctx.principal.tenant.clone();
    let t = knowledge::blocking(move || store.get(&tenant, &id).map_err(pipeline_error)).await?;
    Ok(Json(ticket_wire(t, true)))
}

/// `GET /v1/tickets?status=needs_human&limit=50&before=tkt_...`: newest first.
pub async fn list_tickets(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<wire::TicketList>, ApiError> {
    for k in q.keys() {
        if !["status", "limit", "before"].contains(&k.as_str()) {
            return Err(Error::invalid(
                format!("unknown query parameter '{k}' (status, limit, before)"),
                Some(k),
            )
            .into());
        }
    }
    let limit = match q.get("limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| Error::invalid("'limit' must be 1 to 500", Some("limit")))?,
    };
    let store = service(&state).tickets()?;
    let tenant = ctx.principal.tenant.clone();
    let (status, before) = (q.get("status").cloned(), q.get("before").cloned());
    let mut list = knowledge::blocking(move || {
        store
            .list(&tenant, status.as_deref(), limit + 1, before.as_deref())
            .map_err(pipeline_error)
    })
    .await?;
    let has_more = list.len() > limit;
    list.truncate(limit);
    Ok(Json(wire::TicketList {
        object: "list".into(),
        data: list.into_iter().map(|t| ticket_wire(t, false)).collect(),
        has_more,
    }))
}

/// `POST /v1/tickets/{id}/feedback`: what the agent did with the draft.
pub async fn ticket_feedback(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
    ApiJson(w): ApiJson<wire::CreateFeedback>,
) -> Result<Json<wire::Ticket>, ApiError> {
    let store = service(&state).tickets()?;
    let tenant = ctx.principal.tenant.clone();
    let f = Feedback {
        verdict: w.verdict,
        final_text: w.final_text,
        resolution_seconds: w.resolution_seconds,
        agent: w.agent,
        comment: w.comment,
        created_at: tickets::now(),
    };
    let t =
        knowledge::blocking(move || store.add_feedback(&tenant, &id, f).map_err(pipeline_error))
            .await?;
    Ok(Json(ticket_wire(t, false)))
}
