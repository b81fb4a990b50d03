//! Handlers of the knowledge API: `/v1/knowledge/...` and `/v1/tasks/...`. They extract the
//! input, convert wire types to domain ones, call [`KnowledgeService`] and convert back.

use std::{collections::HashMap, sync::Arc};

use atalaya_api::knowledge as wire;
use atalaya_core::Error;
use atalaya_knowledge::{
    chunk::ChunkConfig,
    doc::Format,
    index::{Filter, Lang},
    service::{DocumentMeta, Hit, Mode, SearchParams},
    store::DocumentInfo,
    tasks::{NewItem, Task, TaskStatus},
};
use axum::{
    extract::{Extension, Path, Query, Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::Engine as _;

use crate::{
    app::AppState,
    error::ApiError,
    extract::{parse_json, read_body, ApiJson, Caller},
    knowledge::{tenant, Answer, AnswerInput, CollectionStats, KnowledgeService},
    observe::Facts,
};

fn service(state: &AppState) -> Result<&Arc<KnowledgeService>, ApiError> {
    state.knowledge.as_ref().ok_or_else(|| {
        ApiError(Error::Unavailable(
            "the knowledge base is disabled (knowledge.enabled = false)".into(),
        ))
    })
}

fn collection_object(s: CollectionStats) -> wire::CollectionObject {
    wire::CollectionObject {
        object: "knowledge.collection".into(),
        name: s.collection.name,
        embedding_model: s.collection.embedding_model,
        language: s.collection.language,
        chunking: wire::ChunkingObject {
            max_tokens: s.collection.chunking.max_tokens,
            overlap_tokens: s.collection.chunking.overlap_tokens,
        },
        documents: s.documents,
        chunks: s.chunks,
        created_at: s.collection.created_at,
    }
}

fn task_object(t: Task) -> wire::TaskObject {
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
    wire::TaskObject {
        object: "knowledge.task".into(),
        id: t.id,
        kind: t.kind.as_str().into(),
        collection: t.collection,
        status: t.status.as_str().into(),
        progress: wire::TaskProgress {
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
            .map(|i| wire::TaskItemObject {
                source: i.source,
                status: i.status.as_str().into(),
                document_id: i.document_id,
                chunks: i.chunks,
                error: i.error,
            })
            .collect(),
    }
}

fn accepted(t: Task) -> Response {
    let location = format!("/v1/tasks/{}", t.id);
    let mut r = (StatusCode::ACCEPTED, Json(task_object(t))).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub fn chunk_result(h: Hit, index: Option<usize>) -> wire::ChunkResult {
    wire::ChunkResult {
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
    r: wire::RetrievalParams,
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

pub async fn create_collection(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    ApiJson(req): ApiJson<wire::CreateCollectionRequest>,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    let defaults = ChunkConfig::default();
    let chunking = req.chunking.unwrap_or_default();
    let chunking = ChunkConfig {
        max_tokens: chunking.max_tokens.unwrap_or(defaults.max_tokens),
        overlap_tokens: chunking.overlap_tokens.unwrap_or(defaults.overlap_tokens),
    };
    let s = svc
        .create_collection(tenant(&ctx), req.name, req.language, chunking)
        .await?;
    Ok((StatusCode::CREATED, Json(collection_object(s))).into_response())
}

pub async fn list_collections(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> Result<Json<wire::List<wire::CollectionObject>>, ApiError> {
    let all = service(&state)?.collections(tenant(&ctx)).await?;
    Ok(Json(wire::List::new(
        all.into_iter().map(collection_object).collect(),
    )))
}

pub async fn get_collection(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Json<wire::CollectionObject>, ApiError> {
    let s = service(&state)?.collection(tenant(&ctx), &name).await?;
    Ok(Json(collection_object(s)))
}

pub async fn delete_collection(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    service(&state)?
        .delete_collection(tenant(&ctx), &name)
        .await?;
    Ok(Json(serde_json::json!({"object": "knowledge.collection.deleted", "name": name, "deleted": true})).into_response())
}

/// The format of an upload: named, else from its MIME type, else from its source's
/// extension. An unknown one is recorded as the item's failure (415 for a single raw upload).
fn format_of(named: Option<&str>, mime: Option<&str>, source: &str) -> Result<Format, String> {
    if let Some(n) = named {
        return Format::from_name(n).ok_or_else(|| {
            format!(
                "unsupported format '{n}' (supported: text, markdown, html, pdf, docx, csv, jsonl)"
            )
        });
    }
    mime.filter(|m| !m.starts_with("application/octet-stream"))
        .and_then(Format::from_mime)
        .or_else(|| Format::from_path(std::path::Path::new(source)))
        .ok_or_else(|| {
            atalaya_knowledge::Error::Unsupported(format!(
                "'{source}'{}",
                mime.map(|m| format!(" ({m})")).unwrap_or_default()
            ))
            .to_string()
        })
}

fn item(
    source: String,
    format: Result<Format, String>,
    body: Vec<u8>,
    meta: DocumentMeta,
) -> NewItem {
    match format {
        Ok(f) => NewItem {
            source,
            format: Some(f),
            meta,
            body: Some(body),
            error: None,
        },
        Err(e) => NewItem {
            source,
            meta,
            error: Some(e),
            ..NewItem::default()
        },
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn validate_source(source: &str, param: &str) -> Result<(), Error> {
    if source.trim().is_empty() || source.len() > 1024 {
        return Err(Error::invalid(
            format!("'{param}' must be a non-empty name of at most 1024 bytes"),
            Some(param),
        ));
    }
    Ok(())
}

/// `POST /v1/knowledge/{collection}/documents`: a JSON body (`{"documents":[...]}`), a
/// `multipart/form-data` form (files, with optional `tags`, `labels`, `language` fields), or
/// one raw document (`?source=NAME`, format from `Content-Type` or the name). Answers `202`
/// with the task once it is durably enqueued.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let svc = service(&state)?;
    // A few uploads at a time: each holds its body (and a parsed copy) in memory.
    let _turn = svc.uploads.slot(tenant(&ctx)).await?;
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(req, svc.max_upload_bytes).await?;
    let query_meta = DocumentMeta {
        language: q.get("language").cloned(),
        tags: q.get("tags").map(|t| split_list(t)).unwrap_or_default(),
        labels: q.get("labels").map(|t| split_list(t)).unwrap_or_default(),
    };
    let base = mime
        .as_deref()
        .and_then(|m| m.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let items: Vec<NewItem> = if base == "application/json" {
        // Parsing and decoding a large body is CPU work: off the async threads.
        crate::knowledge::blocking(move || json_items(&body)).await?
    } else if base == "multipart/form-data" {
        multipart_items(mime.as_deref().unwrap_or_default(), body, query_meta).await?
    } else {
        let source = q.get("source").cloned().ok_or_else(|| {
            Error::invalid(
                "a raw upload needs '?source=NAME' (or send JSON or multipart/form-data)",
                Some("source"),
            )
        })?;
        validate_source(&source, "source")?;
        let format = format_of(
            q.get("format").map(String::as_str),
            mime.as_deref(),
            &source,
        )
        .map_err(Error::UnsupportedMediaType)?;
        vec![item(source, Ok(format), body.to_vec(), query_meta)]
    };
    let task = svc.enqueue(tenant(&ctx), &name, items).await?;
    Ok(accepted(task))
}

/// The documents of a JSON upload.
fn json_items(body: &[u8]) -> Result<Vec<NewItem>, Error> {
    let up: wire::UploadRequest = parse_json(body)?;
    if up.documents.is_empty() {
        return Err(Error::invalid(
            "'documents' must contain at least one document",
            Some("documents"),
        ));
    }
    let mut items = Vec::with_capacity(up.documents.len());
    for (i, d) in up.documents.into_iter().enumerate() {
        validate_source(&d.source, &format!("documents[{i}].source"))?;
        let bytes = match (d.content, d.content_base64) {
            (Some(text), None) => text.into_bytes(),
            (None, Some(b64)) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| {
                    let p = format!("documents[{i}].content_base64");
                    Error::invalid(format!("'{p}' is not valid base64: {e}"), Some(&p))
                })?,
            _ => {
                let p = format!("documents[{i}]");
                return Err(Error::invalid(
                    format!("'{p}' needs exactly one of 'content' and 'content_base64'"),
                    Some(&p),
                ));
            }
        };
        let format = format_of(d.format.as_deref(), None, &d.source);
        let meta = DocumentMeta {
            language: d.language,
            tags: d.tags,
            labels: d.labels,
        };
        items.push(item(d.source, format, bytes, meta));
    }
    Ok(items)
}

async fn multipart_items(
    content_type: &str,
    body: bytes::Bytes,
    mut meta: DocumentMeta,
) -> Result<Vec<NewItem>, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        Error::invalid(
            format!("multipart/form-data without a valid boundary: {e}"),
            None,
        )
    })?;
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| Error::invalid(format!("malformed multipart body: {e}"), None);
    let mut files: Vec<(String, Option<String>, Vec<u8>)> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let field_name = field.name().unwrap_or_default().to_owned();
        match (field.file_name().map(str::to_owned), field_name.as_str()) {
            (Some(file), _) => {
                let mime = field.content_type().map(|m| m.to_string());
                let bytes = field.bytes().await.map_err(bad)?;
                files.push((file, mime, bytes.to_vec()));
            }
            (None, "tags") => meta
                .tags
                .extend(split_list(&field.text().await.map_err(bad)?)),
            (None, "labels") => meta
                .labels
                .extend(split_list(&field.text().await.map_err(bad)?)),
            (None, "language") => meta.language = Some(field.text().await.map_err(bad)?),
            (None, other) => {
                return Err(ApiError(Error::invalid(
                    format!(
                    "unknown form field '{other}' (expected files, 'tags', 'labels', 'language')"
                ),
                    Some(other),
                )))
            }
        }
    }
    if files.is_empty() {
        return Err(ApiError(Error::invalid(
            "the form has no file; send each document as a file field",
            None,
        )));
    }
    files
        .into_iter()
        .map(|(source, mime, bytes)| {
            validate_source(&source, "filename")?;
            let format = format_of(None, mime.as_deref(), &source);
            Ok(item(source, format, bytes, meta.clone()))
        })
        .collect()
}

fn document_object(d: DocumentInfo) -> wire::DocumentObject {
    wire::DocumentObject {
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

pub async fn list_documents(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Json<wire::List<wire::DocumentObject>>, ApiError> {
    let docs = service(&state)?.documents(tenant(&ctx), &name).await?;
    Ok(Json(wire::List::new(
        docs.into_iter().map(document_object).collect(),
    )))
}

fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .map_err(|_| ApiError(Error::NotFound(format!("{what} '{raw}'"))))
}

pub async fn delete_document(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "document")?;
    let task = service(&state)?
        .delete_document(tenant(&ctx), &name, id)
        .await?;
    Ok(accepted(task))
}

pub async fn get_task(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Json<wire::TaskObject>, ApiError> {
    let id = parse_id(&id, "task")?;
    let t = service(&state)?.task(tenant(&ctx), id).await?;
    Ok(Json(task_object(t)))
}

pub async fn list_tasks(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<wire::List<wire::TaskObject>>, ApiError> {
    let status = match q.get("status").map(String::as_str) {
        None => None,
        Some("enqueued") => Some(TaskStatus::Enqueued),
        Some("processing") => Some(TaskStatus::Processing),
        Some("succeeded") => Some(TaskStatus::Succeeded),
        Some("failed") => Some(TaskStatus::Failed),
        Some(other) => {
            return Err(ApiError(Error::invalid(
                format!(
                    "'status' must be enqueued, processing, succeeded or failed, not '{other}'"
                ),
                Some("status"),
            )))
        }
    };
    let limit = match q.get("limit") {
        None => 20,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| Error::invalid("'limit' must be between 1 and 1000", Some("limit")))?,
    };
    let tasks = service(&state)?.tasks(tenant(&ctx), status, limit).await?;
    Ok(Json(wire::List::new(
        tasks.into_iter().map(task_object).collect(),
    )))
}

/// Admits a knowledge request: a model call (reranker, answer model) counts against the
/// tenant's models and budgets; otherwise only the request limits apply.
fn admit_knowledge(
    state: &AppState,
    ctx: &atalaya_core::context::RequestContext,
    facts: &Facts,
    model: Option<String>,
    prompt_chars: usize,
    completion_tokens: u64,
    capture: impl FnOnce() -> atalaya_tenancy::Capture,
) -> Result<(), ApiError> {
    let estimate = atalaya_tenancy::Estimate {
        prompt_tokens: if model.is_some() {
            crate::handlers::estimate_tokens(prompt_chars)
        } else {
            0
        },
        completion_tokens: if model.is_some() {
            completion_tokens
        } else {
            0
        },
        model,
    };
    crate::handlers::admit(state, ctx, facts, estimate, capture)
}

/// Requests that call no model are not written to the inference log.
fn no_capture() -> atalaya_tenancy::Capture {
    atalaya_tenancy::Capture {
        subject: None,
        request: serde_json::Value::Null,
    }
}

pub async fn query(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<wire::QueryRequest>,
) -> Result<Json<wire::QueryResponse>, ApiError> {
    let params = search_params(req.retrieval(), 10, None)?;
    let mode = params.mode;
    let rerank = req.rerank.unwrap_or(false);
    // A reranked query calls the reranker with every candidate.
    let reranker = rerank
        .then(|| {
            state
                .knowledge
                .as_ref()
                .and_then(|k| k.rerank_model.clone())
        })
        .flatten();
    let candidates = state.knowledge.as_ref().map_or(0, |k| k.rerank_candidates);
    admit_knowledge(
        &state,
        &ctx,
        &facts,
        reranker,
        req.query.len() * candidates.max(1) + candidates * 800,
        0,
        no_capture,
    )?;
    let hits = service(&state)?
        .retrieve(&state.gateway, &ctx, &name, req.query, params, rerank)
        .await?;
    Ok(Json(wire::QueryResponse {
        object: "list".into(),
        reranked: rerank,
        mode: mode.as_str().into(),
        data: hits.into_iter().map(|h| chunk_result(h, None)).collect(),
    }))
}

/// Citations of an answer: the cited sources, numbered as in the answer.
pub fn citations(cited: &[usize], hits: &[Hit]) -> Vec<wire::Citation> {
    cited
        .iter()
        .filter_map(|&n| {
            hits.get(n.wrapping_sub(1)).map(|h| wire::Citation {
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

fn answer_response(a: Answer) -> wire::AnswerResponse {
    wire::AnswerResponse {
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
            .map(|(text, why)| wire::UnsupportedClaim {
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

pub async fn answer(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: axum::http::HeaderMap,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<wire::AnswerRequest>,
) -> Result<Json<wire::AnswerResponse>, ApiError> {
    let svc = service(&state)?;
    let params = search_params(
        req.retrieval(),
        svc.answer_sources,
        Some(req.query.as_str()),
    )?;
    // The generating model, when the answer is generated: the tenant must be allowed it and
    // have budget; sources (about 200 tokens each) are in the estimate.
    let model = (!req.extractive)
        .then(|| req.model.clone().or_else(|| svc.answer_model.clone()))
        .flatten();
    let completion = req
        .max_tokens
        .map(u64::from)
        .unwrap_or(state.tenancy.settings().limits.estimate_completion_tokens);
    // A generated answer is a model call: logged as one (the question as the client sent
    // it, and the answer it got), and guarded by the tenant's or the model route's policy.
    let policy = model.as_deref().and_then(|m| {
        state
            .guard
            .policy_of(&state.tenancy, &ctx.principal.tenant, m)
    });
    let logged = model.is_some();
    let request = serde_json::json!({"collection": name, "query": req.query, "model": model});
    admit_knowledge(
        &state,
        &ctx,
        &facts,
        model,
        req.query.len() + svc.answer_sources * 800,
        completion,
        || match logged {
            true => atalaya_tenancy::Capture {
                subject: crate::handlers::subject(&headers, None),
                request,
            },
            false => no_capture(),
        },
    )?;
    let input = AnswerInput {
        query: req.query,
        model: req.model,
        extractive: req.extractive,
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        params,
        rerank: req.rerank.unwrap_or(false),
    };
    let guard = policy.map(|p| (state.guard.as_ref(), p));
    let a = svc
        .answer(&state.gateway, &ctx, &name, input, guard)
        .await?;
    // The generation's usage settles the admission.
    if let Some(u) = a
        .usage
        .as_ref()
        .and_then(|u| serde_json::from_value::<atalaya_api::Usage>(u.clone()).ok())
    {
        facts.update(|f| f.usage = Some(u));
    }
    if let Some(g) = &a.guard {
        facts.update(|f| f.guard = Some(g.header.clone()));
    }
    let response = answer_response(a);
    if logged {
        if let Ok(v) = serde_json::to_value(&response) {
            crate::handlers::record_answer(&facts, v);
        }
    }
    Ok(Json(response))
}
