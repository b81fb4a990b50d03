//! Pipeline runs and tickets as the transports call them: admission under the pipeline's
//! billing model, the run, and what the call's record notes. `"model": "pipeline:NAME"` on
//! chat completions comes here too.

use std::sync::Arc;

use atalaya_core::{domain::StreamChunk, gateway::GatewayStream, Error};
use atalaya_pipeline::tickets::{self, Feedback, Ticket};
use atalaya_tenancy::{Capture, Estimate};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::context::RequestContext;
use crate::{
    call::{admit, estimate_tokens, record_streamed_answer, ChatReply, Facts},
    pipeline::{input_from_messages, RunInput, RunOutcome, TicketInput, MODEL_PREFIX},
    Services,
};

/// Admits a run of pipeline `name` as one request under its billing model (see
/// [`crate::pipeline::PipelineService::billing_model`]): the input's size as the estimate;
/// the run's usage settles it. `subject` tags its inference-log row (so a subject's erasure
/// finds it).
async fn admit_run(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    name: &str,
    chars: usize,
    subject: Option<String>,
    request: impl FnOnce() -> Value + Send,
) -> Result<(), Error> {
    let estimate = Estimate {
        model: svc.pipelines.billing_model(name),
        prompt_tokens: estimate_tokens(chars),
        completion_tokens: svc.tenancy.settings().limits.estimate_completion_tokens,
    };
    admit(&svc.tenancy, ctx, facts, estimate, || Capture {
        subject,
        request: request(),
    })
    .await
}

fn note_run(facts: &Facts, name: &str, outcome: &RunOutcome) {
    facts.update(|f| {
        f.model = Some(format!("{MODEL_PREFIX}{name}"));
        // No usage: the run called no model (a skipped generation costs nothing).
        f.usage = Some(outcome.usage.unwrap_or_default());
    });
}

/// `POST /v1/pipelines/{name}/run`: `subject` is the run's data subject.
pub async fn run(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    name: &str,
    input: RunInput,
    subject: Option<String>,
) -> Result<RunOutcome, Error> {
    svc.pipelines.get(name)?;
    admit_run(
        svc,
        ctx,
        facts,
        name,
        input.text.len(),
        subject,
        || json!({"pipeline": name, "input": input.text}),
    )
    .await?;
    let outcome = svc.pipelines.run(ctx, name, input).await?;
    note_run(facts, name, &outcome);
    Ok(outcome)
}

/// `/v1/chat/completions` with `"model": "pipeline:NAME"`: the conversation runs the
/// pipeline; its output is the assistant's message, the run in `atalaya`. With `stream`, a
/// pipeline whose last step is a `generate` streams that step's tokens as they come (see
/// [`PipelineService::run_streaming`]); any other pipeline's answer comes as one chunk when
/// the run ends. The last chunk carries the run (`atalaya`). A run that fails before any
/// text went out is an ordinary error response; after, an error event ends the stream.
pub(crate) async fn chat_pipeline(
    services: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    wire: atalaya_api::ChatCompletionRequest,
    subject: Option<String>,
) -> Result<ChatReply, Error> {
    let model = wire.model.clone();
    let name = model
        .strip_prefix(MODEL_PREFIX)
        .unwrap_or_default()
        .to_owned();
    let pipelines = &services.pipelines;
    pipelines
        .get(&name)
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
        ));
    }
    admit_run(
        services,
        ctx,
        facts,
        &name,
        input.text.len(),
        subject,
        || json!({"model": model, "messages": messages}),
    )
    .await?;
    let chunks = Chunks {
        id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        created: tickets::now(),
        model: model.clone(),
    };
    if wire.stream != Some(true) {
        let outcome = pipelines.run(ctx, &name, input).await?;
        note_run(facts, &name, &outcome);
        let usage = outcome.usage.unwrap_or_default();
        let body = json!({
            "id": chunks.id, "object": "chat.completion", "created": chunks.created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": outcome.output}, "finish_reason": "stop"}],
            "usage": usage,
            "atalaya": run_ext(&outcome),
        });
        if facts.wants_answer() {
            facts.record_answer(body.clone());
        }
        return Ok(ChatReply::Json {
            body: Bytes::from(body.to_string()),
            served: None,
            guard: None,
        });
    }
    let include_usage = wire.stream_options.as_ref().and_then(|o| o.include_usage) == Some(true);
    // The run goes on in its own task and sends the streamed step's text through `rx`; the
    // sender is dropped when the run ends, so `None` means "the result is ready".
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    let task = {
        let (pipelines, ctx, name) = (Arc::clone(pipelines), ctx.clone(), name.clone());
        // Detached, but bound to the response: the body awaits the task's result, so a
        // graceful shutdown (which drains open responses) waits for it; a client that leaves
        // drops `rx`, which ends the run at its next token.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(async move { pipelines.run_streaming(&ctx, &name, input, tx).await })
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
    let stream = if facts.wants_answer() {
        record_streamed_answer(stream, facts.clone())
    } else {
        stream
    };
    Ok(ChatReply::Stream {
        stream,
        include_usage,
        served: None,
        guard: None,
    })
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
        StreamChunk::with_choices(Bytes::from(v.to_string()), &v["choices"])
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
            content: Vec::new(),
        };
        [last, usage_chunk]
    }
}

/// `POST /v1/tickets`: triage, draft, store. `data_subject` is the customer the ticket is
/// about (its erasure removes it).
pub async fn create_ticket(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    input: TicketInput,
    data_subject: Option<String>,
) -> Result<Ticket, Error> {
    let p = &svc.pipelines;
    p.get(&p.tickets_pipeline).map_err(|_| {
        Error::Unavailable(format!(
            "the tickets pipeline '{}' is not loaded (pipelines.tickets_pipeline)",
            p.tickets_pipeline
        ))
    })?;
    let chars = input.body.len() + input.subject.as_ref().map_or(0, String::len);
    admit_run(
        svc,
        ctx,
        facts,
        &p.tickets_pipeline,
        chars,
        data_subject.clone(),
        || json!({"ticket": {"subject": input.subject, "body": input.body}}),
    )
    .await?;
    let (ticket, outcome) = p.create_ticket(ctx, input, data_subject).await?;
    note_run(facts, &outcome.pipeline, &outcome);
    Ok(ticket)
}

/// One of the caller's tenant's tickets.
pub async fn ticket(svc: &Services, ctx: &RequestContext, id: String) -> Result<Ticket, Error> {
    let store = svc.pipelines.tickets()?;
    let tenant = ctx.principal.tenant.clone();
    store
        .get(&tenant, &id)
        .await
        .map_err(atalaya_core::Error::from)
}

/// A page of the caller's tenant's tickets, newest first: the page, and whether more follow.
pub async fn tickets(
    svc: &Services,
    ctx: &RequestContext,
    status: Option<String>,
    limit: usize,
    before: Option<String>,
) -> Result<(Vec<Ticket>, bool), Error> {
    let store = svc.pipelines.tickets()?;
    let tenant = ctx.principal.tenant.clone();
    let mut list = store
        .list(&tenant, status.as_deref(), limit + 1, before.as_deref())
        .await?;
    let has_more = list.len() > limit;
    list.truncate(limit);
    Ok((list, has_more))
}

/// What the agent did with a ticket's draft.
pub async fn feedback(
    svc: &Services,
    ctx: &RequestContext,
    id: String,
    mut f: Feedback,
) -> Result<Ticket, Error> {
    let store = svc.pipelines.tickets()?;
    let tenant = ctx.principal.tenant.clone();
    f.created_at = tickets::now();
    store
        .add_feedback(&tenant, &id, f)
        .await
        .map_err(atalaya_core::Error::from)
}
