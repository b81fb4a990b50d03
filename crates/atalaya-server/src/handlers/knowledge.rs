//! Handlers of the knowledge API: `/v1/knowledge/...` and `/v1/tasks/...`. They extract the
//! input, convert wire types to domain ones, call [`KnowledgeService`] and convert back.

use std::{collections::HashMap, sync::Arc};

use atalaya_api::knowledge as wire;
use atalaya_core::Error;
use atalaya_knowledge::{
    chunk::ChunkConfig,
    doc::Format,
    service::DocumentMeta,
    tasks::{NewItem, Task, TaskStatus},
};
use axum::{
    extract::{Extension, Path, Query, Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use base64::Engine as _;

use atalaya_service::{
    answers,
    call::Facts,
    knowledge::{tenant, AnswerInput},
    wire as convert,
};

use crate::{
    error::ApiError,
    extract::{parse_json, read_body, ApiJson, Caller},
    respond::subject,
    state::AppState,
};

fn accepted(t: Task) -> Response {
    let location = format!("/v1/tasks/{}", t.id);
    let mut r = (StatusCode::ACCEPTED, Json(convert::task_object(t))).into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub async fn create_collection(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    ApiJson(req): ApiJson<wire::CreateCollectionRequest>,
) -> Result<Response, ApiError> {
    let svc = state.svc.knowledge()?;
    let defaults = ChunkConfig::default();
    let chunking = req.chunking.unwrap_or_default();
    let chunking = ChunkConfig {
        max_tokens: chunking.max_tokens.unwrap_or(defaults.max_tokens),
        overlap_tokens: chunking.overlap_tokens.unwrap_or(defaults.overlap_tokens),
    };
    let s = svc
        .create_collection(tenant(&ctx), req.name, req.language, chunking)
        .await?;
    Ok((StatusCode::CREATED, Json(convert::collection_object(s))).into_response())
}

pub async fn list_collections(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
) -> Result<Json<wire::List<wire::CollectionObject>>, ApiError> {
    let all = state.svc.knowledge()?.collections(tenant(&ctx)).await?;
    Ok(Json(wire::List::new(
        all.into_iter().map(convert::collection_object).collect(),
    )))
}

pub async fn get_collection(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Json<wire::CollectionObject>, ApiError> {
    let s = state
        .svc
        .knowledge()?
        .collection(tenant(&ctx), &name)
        .await?;
    Ok(Json(convert::collection_object(s)))
}

pub async fn delete_collection(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    state
        .svc
        .knowledge()?
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
    let svc = state.svc.knowledge()?;
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
        atalaya_service::knowledge::blocking(move || json_items(&body)).await?
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

pub async fn list_documents(
    State(state): State<Arc<AppState>>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Json<wire::List<wire::DocumentObject>>, ApiError> {
    let docs = state
        .svc
        .knowledge()?
        .documents(tenant(&ctx), &name)
        .await?;
    Ok(Json(wire::List::new(
        docs.into_iter().map(convert::document_object).collect(),
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
    let task = state
        .svc
        .knowledge()?
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
    let t = state.svc.knowledge()?.task(tenant(&ctx), id).await?;
    Ok(Json(convert::task_object(t)))
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
    let tasks = state
        .svc
        .knowledge()?
        .tasks(tenant(&ctx), status, limit)
        .await?;
    Ok(Json(wire::List::new(
        tasks.into_iter().map(convert::task_object).collect(),
    )))
}

pub async fn query(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<wire::QueryRequest>,
) -> Result<Json<wire::QueryResponse>, ApiError> {
    let params = convert::search_params(req.retrieval(), 10, None)?;
    let rerank = req.rerank.unwrap_or(false);
    let (hits, mode) =
        answers::query(&state.svc, &ctx, &facts, &name, req.query, params, rerank).await?;
    Ok(Json(wire::QueryResponse {
        object: "list".into(),
        reranked: rerank,
        mode: mode.as_str().into(),
        data: hits
            .into_iter()
            .map(|h| convert::chunk_result(h, None))
            .collect(),
    }))
}

pub async fn answer(
    State(state): State<Arc<AppState>>,
    Extension(facts): Extension<Facts>,
    Caller(ctx): Caller,
    headers: axum::http::HeaderMap,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<wire::AnswerRequest>,
) -> Result<Json<wire::AnswerResponse>, ApiError> {
    let sources = state.svc.knowledge()?.answer_sources;
    let params = convert::search_params(req.retrieval(), sources, Some(req.query.as_str()))?;
    let input = AnswerInput {
        query: req.query,
        model: req.model,
        extractive: req.extractive,
        max_tokens: req.max_tokens,
        temperature: req.temperature,
        params,
        rerank: req.rerank.unwrap_or(false),
    };
    let subject = subject(&headers, None);
    let response = answers::answer(&state.svc, &ctx, &facts, &name, input, subject).await?;
    Ok(Json(response))
}
