//! `POST /v1/classify`: a tenant's trained classifier (`atalaya classify train`) applied to
//! one text or a list of texts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    /// The classifier's name (of the caller's tenant).
    pub classifier: String,
    pub input: ClassifyInput,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub enum ClassifyInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassifyResponse {
    /// Always `list`.
    pub object: String,
    pub classifier: String,
    pub data: Vec<ClassifyResult>,
}

/// One text's prediction, in input order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassifyResult {
    pub index: usize,
    /// The best label, or `out_of_scope` below the classifier's threshold.
    pub label: String,
    /// The best label whatever the threshold.
    pub best: String,
    pub confidence: f32,
    /// The best label's lead over the second.
    pub margin: f32,
    pub out_of_scope: bool,
    /// The three most probable labels.
    pub top: Vec<LabelScore>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LabelScore {
    pub label: String,
    pub score: f32,
}
