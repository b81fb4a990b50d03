//! Chat completions and embeddings: admission, the guard, retrieval-augmented chat, the
//! gateway, output checks, citations and the inference-log capture, streamed or not. The
//! transport frames what [`chat`] returns.

use atalaya_api as api;
use atalaya_core::{
    domain::{ChatRequest, EmbeddingRequest, StreamChunk},
    Error,
};
use atalaya_knowledge::service::Hit;
use atalaya_tenancy::{Capture, Estimate};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::context::RequestContext;
use crate::{
    call::{
        admit, end_if_revoked, estimate_tokens, record_streamed_answer, ChatReply, Facts, Served,
    },
    guard::{atalaya_ext, FlaggedDocument, RequestGuard},
    pipeline::MODEL_PREFIX,
    wire, Services,
};

/// A chat call: the client's request and whose data it carries.
pub struct ChatCall {
    pub request: api::ChatCompletionRequest,
    /// The data subject (tags the inference-log row, for erasure).
    pub subject: Option<String>,
}

/// `/v1/chat/completions`: a pipeline model (`pipeline:NAME`) runs the pipeline; any other
/// goes through admission, retrieval (the `atalaya.knowledge` extension), the guard and the
/// gateway.
pub async fn chat(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    call: ChatCall,
) -> Result<ChatReply, Error> {
    let ChatCall {
        request: mut wire,
        subject,
    } = call;
    if wire.model.starts_with(MODEL_PREFIX) {
        return crate::runs::chat_pipeline(svc, ctx, facts, wire, subject).await;
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
            .unwrap_or(svc.tenancy.settings().limits.estimate_completion_tokens);
        let estimate = Estimate {
            model: Some(wire.model.clone()),
            prompt_tokens: estimate_tokens(chars),
            completion_tokens: completion,
        };
        // What the client sent, before retrieval and pseudonymization: the inference log is
        // the client's record, encrypted at rest.
        let capture = || Capture {
            subject,
            request: json!({"model": wire.model, "messages": wire.messages}),
        };
        admit(&svc.tenancy, ctx, facts, estimate, capture).await?;
    }
    let policy = svc
        .guard
        .policy_of(&svc.tenancy, &ctx.principal.tenant, &wire.model);
    // Retrieval-augmented chat (`"atalaya": {"knowledge": {...}}`): never sent upstream.
    let mut rag = match wire.extra.remove("atalaya") {
        None => None,
        Some(ext) => {
            let p = policy.as_deref().map(|p| &p.policy);
            augment(svc, ctx, &mut wire, ext, p).await?
        }
    };
    let mut req = ChatRequest::try_from(wire)?;
    facts.note_model(&req.model, req.stream);
    let mut guard = match policy {
        Some(policy) => {
            let (dropped, sources_at) = rag
                .as_mut()
                .map(|r| (std::mem::take(&mut r.dropped), Some(r.at)))
                .unwrap_or_default();
            Some(svc.guard.protect(policy, &mut req, dropped, sources_at)?)
        }
        None => None,
    };
    // The input stage's summary, known before the answer.
    let guard_summary = guard.as_ref().map(|g| g.header());
    if let Some(h) = &guard_summary {
        facts.update(|f| f.guard = Some(h.clone()));
    }
    if req.stream {
        let mut routed = svc.gateway.chat_stream(ctx, &req).await?;
        if let Some(g) = guard.take() {
            routed.value = g.wrap_stream(routed.value, req.model.clone());
        }
        if let Some(rag) = rag {
            // The sources go first, in a chunk without choices (as a usage chunk is).
            let first = json!({
                "object": "chat.completion.chunk",
                "model": req.model,
                "choices": [],
                "atalaya": {"sources": sources_json(rag.hits)},
            });
            let chunk = StreamChunk {
                data: Bytes::from(first.to_string()),
                usage: None,
                usage_only: false,
                content: Vec::new(),
            };
            routed.value =
                Box::pin(futures::stream::once(async move { Ok(chunk) }).chain(routed.value));
        }
        let ttfc = ctx.received_at.elapsed();
        svc.gateway.metrics().time_to_first_token(&req.model, ttfc);
        facts.note_routed(&routed, None);
        facts.update(|f| f.time_to_first_chunk = Some(ttfc));
        if facts.wants_answer() {
            routed.value = record_streamed_answer(routed.value, facts.clone());
        }
        let served = Served::from(&routed);
        let stream = end_if_revoked(routed.value, svc.tenancy.clone(), ctx.principal.clone());
        Ok(ChatReply::Stream {
            stream,
            include_usage: req.include_usage,
            served: Some(served),
            guard: guard_summary,
        })
    } else {
        let routed = svc.gateway.chat(ctx, &req).await?;
        facts.note_routed(&routed, routed.value.usage);
        let raw = &routed.value.body;
        // Parsed once for the guard, the citations and the inference log; with none of them,
        // forwarded as it came.
        let parsed = if guard.is_none() && rag.is_none() {
            None
        } else {
            match serde_json::from_slice::<Value>(raw) {
                Err(e) if guard.is_some() => return Err(RequestGuard::not_json(&e)),
                Err(_) => None,
                Ok(v) if guard.is_none() && !v.is_object() => Some(v),
                Ok(mut v) => {
                    if let Some(g) = guard.as_mut() {
                        g.finish(&mut v)?;
                    }
                    if let Some(rag) = rag {
                        add_citations(&mut v, rag.hits);
                    }
                    Some(v)
                }
            }
        };
        let body =
            match &parsed {
                Some(v) if guard.is_some() || v.is_object() => serde_json::to_vec(v)
                    .map(Bytes::from)
                    .map_err(|e| Error::Internal(e.to_string()))?,
                _ => raw.clone(),
            };
        if facts.wants_answer() {
            let answer = match parsed {
                Some(v) => v,
                None => serde_json::from_slice::<Value>(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())),
            };
            facts.record_answer(answer);
        }
        Ok(ChatReply::Json {
            body,
            served: Some(Served::from(&routed)),
            guard: guard_summary,
        })
    }
}

/// What retrieval added to a chat request.
struct Rag {
    hits: Vec<Hit>,
    /// Sources dropped by the indirect-injection check.
    dropped: Vec<FlaggedDocument>,
    /// Index of the system message that carries the sources.
    at: usize,
}

/// Reads the `atalaya` extension; with `knowledge`, retrieves for the last user message and
/// gives the sources to the model in a system message (after the client's own).
async fn augment(
    svc: &Services,
    ctx: &RequestContext,
    wire: &mut api::ChatCompletionRequest,
    ext: Value,
    policy: Option<&atalaya_guard::Policy>,
) -> Result<Option<Rag>, Error> {
    let ext: api::knowledge::ChatExtension = serde_json::from_value(ext)
        .map_err(|e| Error::invalid(format!("invalid 'atalaya' object: {e}"), Some("atalaya")))?;
    let Some(k) = ext.knowledge else {
        return Ok(None);
    };
    let kb = svc.knowledge()?;
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
            Error::invalid(
                "retrieval needs a user message with text (the query)",
                Some("messages"),
            )
        })?;
    let params = wire::search_params(k.retrieval(), kb.answer_sources, Some(query.as_str()))?;
    let rerank = k.rerank.unwrap_or(false);
    let mut hits = kb
        .retrieve(&svc.gateway, ctx, &k.collection, query, params, rerank)
        .await?;
    // Indirect injection: a retrieved chunk that carries instructions never reaches the model.
    let dropped = policy.map_or_else(Vec::new, |p| svc.guard.drop_flagged(p, &mut hits));
    let prompt = atalaya_knowledge::rag::sources_prompt(&hits);
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
fn sources_json(hits: Vec<Hit>) -> Value {
    json!(hits
        .into_iter()
        .enumerate()
        .map(|(i, h)| wire::chunk_result(h, Some(i + 1)))
        .collect::<Vec<_>>())
}

/// Adds `atalaya.citations` (the sources the answer cites) and `atalaya.sources` (all the
/// sources it was given) to a completion, merged into an `atalaya` object the guard may have
/// added.
fn add_citations(v: &mut Value, hits: Vec<Hit>) {
    let text = v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let cited: Vec<usize> = atalaya_knowledge::rag::cited(&text)
        .into_iter()
        .filter(|&n| n >= 1 && n <= hits.len())
        .collect();
    let citations = wire::citations(&cited, &hits);
    if let Some(ext) = atalaya_ext(v) {
        ext.insert("citations".into(), json!(citations));
        ext.insert("sources".into(), sources_json(hits));
    }
}

/// An embeddings call: the client's request and whose data it carries.
pub struct EmbedCall {
    pub request: api::EmbeddingRequest,
    pub subject: Option<String>,
}

/// `/v1/embeddings`: admission, then the gateway. The upstream's JSON, as it came.
pub async fn embeddings(
    svc: &Services,
    ctx: &RequestContext,
    facts: &Facts,
    call: EmbedCall,
) -> Result<(Bytes, Served), Error> {
    let EmbedCall {
        request: wire,
        subject,
    } = call;
    let chars = input_tokens(&wire.input);
    let input = wire.input.clone();
    let req = EmbeddingRequest::try_from(wire)?;
    facts.note_model(&req.model, false);
    let estimate = Estimate {
        model: Some(req.model.clone()),
        prompt_tokens: chars,
        completion_tokens: 0,
    };
    let capture = || Capture {
        subject,
        request: json!({"model": req.model, "input": input}),
    };
    admit(&svc.tenancy, ctx, facts, estimate, capture).await?;
    let routed = svc.gateway.embed(ctx, &req).await?;
    facts.note_routed(&routed, routed.value.usage);
    Ok((routed.value.body.clone(), Served::from(&routed)))
}

/// Estimated tokens of an embeddings input: strings by their length, token arrays by count.
fn input_tokens(input: &Value) -> u64 {
    match input {
        Value::String(s) => estimate_tokens(s.len()),
        Value::Array(items) => items.iter().map(input_tokens).sum(),
        Value::Number(_) => 1,
        _ => 0,
    }
}

/// `/v1/models`: the models the caller's tenant may use.
pub fn models(svc: &Services, ctx: &RequestContext) -> api::ModelList {
    let allowed = svc
        .tenancy
        .admission()
        .allowed_models(&ctx.principal.tenant);
    api::ModelList {
        object: "list".into(),
        data: svc
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
    }
}
