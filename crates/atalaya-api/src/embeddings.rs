use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/embeddings` request. `input` is a string, an array of strings, or token arrays;
/// Atalaya checks its shape and passes it on unchanged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
