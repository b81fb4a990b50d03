//! Wire types of the knowledge API: `/v1/knowledge/...` (collections, documents, query,
//! answer), `/v1/tasks/...`, and the `atalaya` extension object of chat completions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChunkingParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_tokens: Option<usize>,
}

/// `POST /v1/knowledge`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateCollectionRequest {
    pub name: String,
    /// Default language of its documents (`en`, `es`, `pt`, ...).
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub chunking: Option<ChunkingParams>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkingObject {
    pub max_tokens: usize,
    pub overlap_tokens: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectionObject {
    pub object: String,
    pub name: String,
    pub embedding_model: String,
    pub language: Option<String>,
    pub chunking: ChunkingObject,
    pub documents: usize,
    pub chunks: i64,
    /// Unix seconds.
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct List<T> {
    pub object: String,
    pub data: Vec<T>,
}

impl<T> List<T> {
    pub fn new(data: Vec<T>) -> Self {
        List {
            object: "list".into(),
            data,
        }
    }
}

/// One document of a JSON upload: text in `content`, or any format's bytes in
/// `content_base64`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UploadDocument {
    /// Unique within the collection (a file name, a URI): uploading the same source again
    /// replaces the document, or does nothing when the content is unchanged.
    pub source: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub content_base64: Option<String>,
    /// `text`, `markdown`, `html`, `pdf`, `docx`, `csv`, `jsonl`, or an extension; default:
    /// from the source's extension.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub labels: Vec<String>,
}

/// `POST /v1/knowledge/{collection}/documents` with a JSON body.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub documents: Vec<UploadDocument>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DocumentObject {
    pub object: String,
    pub id: i64,
    pub source: String,
    pub title: Option<String>,
    pub format: String,
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub content_hash: String,
    pub version: i64,
    pub chunks: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskItemObject {
    pub source: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskProgress {
    pub total: i64,
    pub done: i64,
    pub failed: i64,
    pub chunks: i64,
    /// Since the task started (absent before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documents_per_second: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks_per_second: Option<f64>,
    /// Estimated time left while processing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
}

/// `GET /v1/tasks/{id}`; also the `202` answer to an upload or a deletion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskObject {
    pub object: String,
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub collection: String,
    /// `enqueued`, `processing`, `succeeded` (every item processed; see each item's status)
    /// or `failed`.
    pub status: String,
    pub progress: TaskProgress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix milliseconds.
    pub enqueued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub items: Vec<TaskItemObject>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilterParams {
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    /// Access labels the caller holds: a labelled chunk is returned only when it shares one.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// How to retrieve: the fields query, answer and the chat extension share.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetrievalParams {
    pub k: Option<usize>,
    pub mode: Option<String>,
    pub dense_weight: Option<f32>,
    pub bm25_weight: Option<f32>,
    pub filter: Option<FilterParams>,
    pub rerank: Option<bool>,
    pub language: Option<String>,
}

/// Declares a request type: its own fields, then the retrieval fields that query, answer and
/// the chat extension share, written here once (serde's `flatten` cannot be combined with
/// `deny_unknown_fields`, which every request keeps), and its `retrieval()`.
macro_rules! with_retrieval {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            #[serde(default)]
            pub k: Option<usize>,
            /// `hybrid` (default), `dense` or `bm25`.
            #[serde(default)]
            pub mode: Option<String>,
            #[serde(default)]
            pub dense_weight: Option<f32>,
            #[serde(default)]
            pub bm25_weight: Option<f32>,
            #[serde(default)]
            pub filter: Option<FilterParams>,
            /// Re-orders the candidates with the `knowledge.rerank_model` route (a
            /// cross-encoder).
            #[serde(default)]
            pub rerank: Option<bool>,
            /// The asker's language (`en`, `es`, `pt`): passages in it come first, other
            /// languages only when none in it is relevant. `"auto"` detects it from the query
            /// (the default of answers and chat); `"any"` searches all languages alike (the
            /// default of queries).
            #[serde(default)]
            pub language: Option<String>,
        }

        impl $name {
            pub fn retrieval(&self) -> RetrievalParams {
                RetrievalParams {
                    k: self.k,
                    mode: self.mode.clone(),
                    dense_weight: self.dense_weight,
                    bm25_weight: self.bm25_weight,
                    filter: self.filter.clone(),
                    rerank: self.rerank,
                    language: self.language.clone(),
                }
            }
        }
    };
}

with_retrieval! {
    /// `POST /v1/knowledge/{collection}/query`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct QueryRequest {
        pub query: String,
    }
}

/// A retrieved chunk with where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChunkResult {
    pub object: String,
    /// The source number an answer cites as `[n]` (answers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub chunk_id: i64,
    pub document_id: i64,
    pub source: String,
    pub title: Option<String>,
    pub heading_path: Vec<String>,
    /// Character offsets of the chunk in the document's extracted text.
    pub start: i64,
    pub end: i64,
    pub page: Option<i64>,
    pub score: f32,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryResponse {
    pub object: String,
    pub mode: String,
    /// The scores are the reranker's.
    pub reranked: bool,
    pub data: Vec<ChunkResult>,
}

with_retrieval! {
    /// `POST /v1/knowledge/{collection}/answer`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct AnswerRequest {
        pub query: String,
        /// The model route to generate with; default `knowledge.answer_model`. With neither (or
        /// with `extractive: true`) the answer is extractive.
        #[serde(default)]
        pub model: Option<String>,
        #[serde(default)]
        pub extractive: bool,
        #[serde(default)]
        pub max_tokens: Option<u32>,
        #[serde(default)]
        pub temperature: Option<f64>,
    }
}

/// A sentence of the answer that its sources do not support.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnsupportedClaim {
    pub text: String,
    /// `no_citation`, `unknown_source` or `not_in_sources`.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Citation {
    /// The `[n]` in the answer.
    pub index: usize,
    pub chunk_id: i64,
    pub document_id: i64,
    pub source: String,
    pub heading_path: Vec<String>,
    pub start: i64,
    pub end: i64,
    pub page: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AnswerResponse {
    pub object: String,
    pub answer: String,
    /// `generative` or `extractive`.
    pub mode: String,
    pub model: Option<String>,
    /// The sources the answer cites, in order of first citation.
    pub citations: Vec<Citation>,
    /// False when some claim is not supported by the sources (see `unsupported_claims`), or
    /// when nothing relevant was found.
    pub grounded: bool,
    pub unsupported_claims: Vec<UnsupportedClaim>,
    /// Every source given to the model, numbered as cited.
    pub sources: Vec<ChunkResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Value>,
    /// The guard's decisions on the generation (policy, input and output checks), when the
    /// tenant or the answer model's route has a guard policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guard: Option<Value>,
}

/// The `atalaya` object of a chat completion request.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChatExtension {
    #[serde(default)]
    pub knowledge: Option<KnowledgeExtension>,
}

with_retrieval! {
    /// Retrieval-augmented chat: the last user message is the query, the sources are given to the
    /// model in a system message, and the response carries `atalaya.citations`.
    #[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    pub struct KnowledgeExtension {
        pub collection: String,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_request_takes_the_shared_retrieval_fields_and_refuses_unknown_ones() {
        let shared = json!({
            "k": 3, "mode": "bm25", "dense_weight": 0.5, "bm25_weight": 2.0,
            "filter": {"tags": ["billing"]}, "rerank": true, "language": "es",
        });
        let with = |own: serde_json::Value| {
            let mut v = shared.clone();
            for (k, x) in own.as_object().into_iter().flatten() {
                v[k] = x.clone();
            }
            v
        };
        let want = RetrievalParams {
            k: Some(3),
            mode: Some("bm25".into()),
            dense_weight: Some(0.5),
            bm25_weight: Some(2.0),
            filter: Some(FilterParams {
                tags: vec!["billing".into()],
                ..FilterParams::default()
            }),
            rerank: Some(true),
            language: Some("es".into()),
        };
        let q: QueryRequest =
            serde_json::from_value(with(json!({"query": "¿reembolso?"}))).unwrap();
        assert_eq!(q.retrieval(), want);
        let a: AnswerRequest =
            serde_json::from_value(with(json!({"query": "x", "extractive": true}))).unwrap();
        assert_eq!(a.retrieval(), want);
        assert!(a.extractive);
        let c: KnowledgeExtension =
            serde_json::from_value(with(json!({"collection": "help"}))).unwrap();
        assert_eq!(c.retrieval(), want);
        // Unknown keys are still refused, by name, on every type.
        for bad in [
            serde_json::from_value::<QueryRequest>(with(json!({"query": "x", "top_k": 3}))).err(),
            serde_json::from_value::<AnswerRequest>(with(json!({"query": "x", "top_k": 3}))).err(),
            serde_json::from_value::<KnowledgeExtension>(with(
                json!({"collection": "h", "top_k": 3}),
            ))
            .err(),
        ] {
            let e = bad.expect("an unknown key is refused").to_string();
            assert!(e.contains("unknown field `top_k`"), "{e}");
        }
    }
}
