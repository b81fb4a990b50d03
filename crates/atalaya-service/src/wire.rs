//! Wire ↔ domain conversion, in one place: the HTTP API and the CLI print the same shapes
//! (`atalaya_api`), so both transports convert through here. Validation of wire input names
//! the field at fault.

use atalaya_api::admin::{AuditEntryObject, KeyObject, LimitsObject, TenantObject};
use atalaya_api::{knowledge as kwire, pipeline as wire};
use atalaya_core::Error;
use atalaya_knowledge::{
    index::{Filter, Lang},
    service::{Hit, Mode, SearchParams},
    store::DocumentInfo,
    tasks::{Task, TaskStatus},
};
use atalaya_pipeline::tickets::Ticket;
use atalaya_store::{AuditRecord, KeyRecord, Limits, Role, Tenant};
use atalaya_tenancy::admin::chrono_like;
use serde_json::{json, Map, Value};

use crate::{
    knowledge::{Answer, CollectionStats},
    pipeline::{input_from_messages, RunInput, RunOutcome, TicketInput, MODEL_PREFIX},
};

/// A pipeline as `/v1/pipelines` lists it.
pub fn info(p: &atalaya_pipeline::Pipeline) -> wire::PipelineInfo {
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

/// The service input of a pipeline run, validated.
pub fn run_input(i: wire::RunInput) -> Result<RunInput, Error> {
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

/// A run as `/v1/pipelines/{name}/run` answers it.
pub fn run_response(o: RunOutcome) -> wire::RunResponse {
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
            .map(|m| atalaya_pipeline::tickets::ThreadMessage {
                author: m.author,
                text: m.text,
            })
            .collect(),
        metadata: w.metadata,
    }
}

pub fn collection_object(s: CollectionStats) -> kwire::CollectionObject {
    kwire::CollectionObject {
        object: "knowledge.collection".into(),
        name: s.collection.name,
        embedding_model: s.collection.embedding_model,
        language: s.collection.language,
        chunking: kwire::ChunkingObject {
            max_tokens: s.collection.chunking.max_tokens,
            overlap_tokens: s.collection.chunking.overlap_tokens,
        },
        documents: s.documents,
        chunks: s.chunks,
        created_at: s.collection.created_at,
    }
}

pub fn task_object(t: Task) -> kwire::TaskObject {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let elapsed = t
        .started_at
        .map(|s| (t.finished_at.unwrap_or(now) - s).max(1) as f64 / 1000.0);
    let docs_rate = elapsed.map(|e| t.done as f64 / e);
    let eta = match (t.status, docs_rate) {
        (TaskStatus::Processing, Some(r)) if r > 0.0 => Some((t.total - t.done) as f64 / r),
        _ => None,
    };
    kwire::TaskObject {
        object: "knowledge.task".into(),
        id: t.id,
        kind: t.kind.as_str().into(),
        collection: t.collection,
        status: t.status.as_str().into(),
        progress: kwire::TaskProgress {
            total: t.total,
            done: t.done,
            failed: t.failed,
            chunks: t.chunks,
            documents_per_second: docs_rate,
            chunks_per_second: elapsed.map(|e| t.chunks as f64 / e),
            eta_seconds: eta,
        },
        error: t.error,
        enqueued_at: t.enqueued_at,
        started_at: t.started_at,
        finished_at: t.finished_at,
        items: t
            .items
            .into_iter()
            .map(|i| kwire::TaskItemObject {
                source: i.source,
                status: i.status.as_str().into(),
                document_id: i.document_id,
                chunks: i.chunks,
                error: i.error,
            })
            .collect(),
    }
}

pub fn chunk_result(h: Hit, index: Option<usize>) -> kwire::ChunkResult {
    kwire::ChunkResult {
        object: "knowledge.chunk".into(),
        index,
        chunk_id: h.chunk.id,
        document_id: h.chunk.document_id,
        source: h.chunk.source,
        title: h.chunk.title,
        heading_path: h.chunk.heading_path,
        start: h.chunk.start,
        end: h.chunk.end,
        page: h.chunk.page,
        score: h.score,
        text: h.chunk.text,
    }
}

/// Retrieval parameters, validated, naming the field at fault.
///
/// `auto_query`: the query whose language is detected when `language` is absent or
/// `"auto"` (answers and chat); `None` for plain queries, which then search all languages
/// alike unless a language is given.
pub fn search_params(
    r: kwire::RetrievalParams,
    default_k: usize,
    auto_query: Option<&str>,
) -> Result<SearchParams, Error> {
    let prefer_language = match r.language.as_deref().map(str::trim) {
        None | Some("auto") => auto_query.and_then(crate::knowledge::query_language),
        Some("any" | "") => None,
        Some(code) => match Lang::from_code(code) {
            Lang::Other => {
                return Err(Error::invalid(
                    format!("'language' must be \"en\", \"es\", \"pt\", \"auto\" or \"any\", not \"{code}\""),
                    Some("language"),
                ))
            }
            l => Some(l),
        },
    };
    let mode = match r.mode.as_deref() {
        None => Mode::Hybrid,
        Some(name) => {
            Mode::parse(name).map_err(|e| Error::invalid(format!("'mode' {e}"), Some("mode")))?
        }
    };
    let k = r.k.unwrap_or(default_k);
    if !(1..=100).contains(&k) {
        return Err(Error::invalid("'k' must be between 1 and 100", Some("k")));
    }
    for (name, w) in [
        ("dense_weight", r.dense_weight),
        ("bm25_weight", r.bm25_weight),
    ] {
        if w.is_some_and(|w| !w.is_finite() || w < 0.0) {
            return Err(Error::invalid(
                format!("'{name}' must be a number ≥ 0"),
                Some(name),
            ));
        }
    }
    let f = r.filter.unwrap_or_default();
    Ok(SearchParams {
        k,
        mode,
        dense_weight: r.dense_weight.unwrap_or(1.0),
        bm25_weight: r.bm25_weight.unwrap_or(1.0),
        filter: Filter {
            tags: f.tags,
            languages: f.languages.iter().map(|l| Lang::from_code(l)).collect(),
            labels: f.labels,
        },
        prefer_language,
        ..SearchParams::default()
    })
}

pub fn document_object(d: DocumentInfo) -> kwire::DocumentObject {
    kwire::DocumentObject {
        object: "knowledge.document".into(),
        id: d.id,
        source: d.source,
        title: d.title,
        format: d.format,
        language: d.language,
        tags: d.tags,
        labels: d.labels,
        content_hash: d.content_hash,
        version: d.version,
        chunks: d.chunks,
        updated_at: d.updated_at,
    }
}

/// Citations of an answer: the cited sources, numbered as in the answer.
pub fn citations(cited: &[usize], hits: &[Hit]) -> Vec<kwire::Citation> {
    cited
        .iter()
        .filter_map(|&n| {
            hits.get(n.wrapping_sub(1)).map(|h| kwire::Citation {
                index: n,
                chunk_id: h.chunk.id,
                document_id: h.chunk.document_id,
                source: h.chunk.source.clone(),
                heading_path: h.chunk.heading_path.clone(),
                start: h.chunk.start,
                end: h.chunk.end,
                page: h.chunk.page,
            })
        })
        .collect()
}

pub fn answer_response(a: Answer) -> kwire::AnswerResponse {
    kwire::AnswerResponse {
        object: "knowledge.answer".into(),
        citations: citations(&a.cited, &a.hits),
        mode: if a.model.is_some() {
            "generative"
        } else {
            "extractive"
        }
        .into(),
        answer: a.text,
        model: a.model,
        grounded: a.grounded,
        unsupported_claims: a
            .unsupported
            .into_iter()
            .map(|(text, why)| kwire::UnsupportedClaim {
                text,
                reason: why.as_str().into(),
            })
            .collect(),
        guard: a.guard.map(|g| g.report),
        sources: a
            .hits
            .into_iter()
            .enumerate()
            .map(|(i, h)| chunk_result(h, Some(i + 1)))
            .collect(),
        usage: a.usage,
    }
}

pub fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

pub fn limits_to_wire(l: &Limits) -> LimitsObject {
    LimitsObject {
        requests_per_minute: l.requests_per_minute,
        burst_requests: l.burst_requests,
        tokens_per_minute: l.tokens_per_minute,
        max_concurrent: l.max_concurrent,
        tokens_per_day: l.tokens_per_day,
        tokens_per_month: l.tokens_per_month,
        cost_per_day: l.cost_per_day,
        cost_per_month: l.cost_per_month,
    }
}

pub fn limits_from_wire(l: LimitsObject) -> Limits {
    Limits {
        requests_per_minute: l.requests_per_minute,
        burst_requests: l.burst_requests,
        tokens_per_minute: l.tokens_per_minute,
        max_concurrent: l.max_concurrent,
        tokens_per_day: l.tokens_per_day,
        tokens_per_month: l.tokens_per_month,
        cost_per_day: l.cost_per_day,
        cost_per_month: l.cost_per_month,
    }
}

pub fn tenant_to_wire(t: Tenant) -> TenantObject {
    TenantObject {
        object: "tenant",
        limits: limits_to_wire(&t.limits),
        id: t.id,
        name: t.name,
        models: t.models,
        log_inference: t.log_inference,
        retention_days: t.retention_days,
        guard_policy: t.guard_policy,
        created_at: secs(t.created_at),
        updated_at: secs(t.updated_at),
    }
}

pub fn key_to_wire(k: KeyRecord, secret: Option<String>) -> KeyObject {
    KeyObject {
        object: "api_key",
        limits: limits_to_wire(&k.limits),
        id: k.id,
        tenant: k.tenant_id,
        name: k.name,
        role: k.role.as_str().to_owned(),
        prefix: k.prefix,
        created_at: secs(k.created_at),
        expires_at: k.expires_at.map(secs),
        revoked_at: k.revoked_at.map(secs),
        last_used_at: k.last_used_at.map(secs),
        rotated_from: k.rotated_from,
        key: secret,
    }
}

pub fn audit_to_wire(r: AuditRecord) -> AuditEntryObject {
    AuditEntryObject {
        seq: r.seq,
        timestamp: chrono_like(r.event.ts),
        actor: r.event.actor,
        action: r.event.action,
        tenant: r.event.tenant_id,
        target: r.event.target,
        outcome: r.event.outcome,
        source_ip: r.event.source_ip,
        details: r.event.details,
        hash: hex_of(&r.hash),
    }
}

pub fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn parse_role(role: Option<&str>) -> Result<Role, Error> {
    match role {
        None => Ok(Role::Member),
        Some(r) => Role::parse(r).ok_or_else(|| {
            Error::invalid(
                format!("unknown role '{r}': use admin, member or viewer"),
                Some("role"),
            )
        }),
    }
}

/// Predictions as `/v1/classify` answers them.
pub fn classify_response(
    classifier: String,
    predictions: Vec<atalaya_classify::Prediction>,
) -> atalaya_api::classify::ClassifyResponse {
    use atalaya_api::classify as cwire;
    let data = predictions
        .into_iter()
        .enumerate()
        .map(|(index, p)| cwire::ClassifyResult {
            index,
            label: p.label,
            best: p.best,
            confidence: p.confidence,
            margin: p.margin,
            out_of_scope: p.out_of_scope,
            top: p
                .top
                .into_iter()
                .map(|(label, score)| cwire::LabelScore { label, score })
                .collect(),
        })
        .collect();
    cwire::ClassifyResponse {
        object: "list".into(),
        classifier,
        data,
    }
}
