//! `POST /v1/guard/scan` and `/v1/guard/redact`, and the JSON Lines of `atalaya guard scan`:
//! the same shapes. Offsets are Unicode scalar indices (Python `str` indices), end exclusive.

use serde::{Deserialize, Serialize};

/// One text to scan. `source` is `user` (default) or `document` (retrieved text, tool output:
/// scored by the indirect-injection model).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScanItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// The HTTP body: one item, or `{"input": [items]}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(
    untagged,
    expecting = "an object with 'text', or with 'input': [{\"id\",\"text\"}]"
)]
pub enum ScanRequest {
    Batch { input: Vec<ScanItem> },
    One(ScanItem),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PiiSpan {
    #[serde(rename = "type")]
    pub kind: String,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InjectionResult {
    pub score: f32,
    pub flagged: bool,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScanResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    pub pii: Vec<PiiSpan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub injection: Option<InjectionResult>,
    /// `redact` only: the text with the policy applied (placeholders, masks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

/// `{"data": [results]}` for a batch request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScanList {
    pub object: String,
    pub data: Vec<ScanResult>,
}
