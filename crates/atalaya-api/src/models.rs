use serde::{Deserialize, Serialize};

/// `GET /v1/models` response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelList {
    pub object: String,
    pub data: Vec<ModelObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelObject {
    pub id: String,
    pub object: String,
    pub created: u64,
    pub owned_by: String,
    /// Atalaya's extension: details of local models (architecture, parameters, context...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atalaya: Option<serde_json::Value>,
}
