//! Pipelines and tickets: `POST /v1/pipelines/{name}/run`, `GET /v1/pipelines`,
//! `/v1/tickets`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /v1/pipelines/{name}/run`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    pub input: RunInput,
}

/// What a run reads as `input`: `text`, or `messages` (the last user message is the text).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunInput {
    pub text: Option<String>,
    /// OpenAI-style chat messages.
    pub messages: Option<Vec<Value>>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    /// ISO 639-1; wins over detection when the pipeline serves it.
    pub language: Option<String>,
    /// Earlier messages of the thread, oldest first.
    pub thread: Option<Vec<ThreadMessage>>,
    /// Anything else the templates may read as `input.metadata`.
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThreadMessage {
    /// `customer` or `agent` (free text).
    pub author: Option<String>,
    pub text: String,
}

/// The result of a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResponse {
    /// Always `pipeline.run`.
    pub object: String,
    pub pipeline: String,
    pub version: u32,
    /// `ok` or `needs_human`.
    pub status: String,
    pub reason: Option<String>,
    pub output: String,
    pub outputs: Map<String, Value>,
    pub steps: Map<String, Value>,
    pub usage: Option<crate::Usage>,
    /// `{"trace": [...], "elapsed_ms": ...}`.
    pub atalaya: Value,
}

/// `GET /v1/pipelines`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineList {
    pub object: String,
    pub data: Vec<PipelineInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PipelineInfo {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// `built-in` or the file it came from.
    pub source: String,
    pub steps: Vec<StepInfo>,
    /// The chat-completions model name that runs it.
    pub model: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StepInfo {
    pub id: String,
    pub kind: String,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
}

/// `POST /v1/tickets`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub subject: Option<String>,
    pub body: String,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    pub language: Option<String>,
    pub thread: Option<Vec<ThreadMessage>>,
    pub metadata: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Citation {
    pub doc: String,
    pub chunk: i64,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ticket {
    pub id: String,
    /// Always `ticket`.
    pub object: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub subject: Option<String>,
    pub body: String,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    /// `drafted`, `needs_human` or `answered`.
    pub status: String,
    pub reason: Option<String>,
    pub language: Option<String>,
    pub intent: Option<String>,
    pub priority: Option<String>,
    pub confidence: Option<f64>,
    pub draft: Option<String>,
    pub citations: Vec<Citation>,
    pub pipeline: String,
    pub pipeline_version: u32,
    pub feedback: Vec<Feedback>,
    /// The run's trace (`GET /v1/tickets/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Feedback {
    pub verdict: String,
    pub final_text: Option<String>,
    pub resolution_seconds: Option<f64>,
    pub agent: Option<String>,
    pub comment: Option<String>,
    pub created_at: i64,
}

/// `POST /v1/tickets/{id}/feedback`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CreateFeedback {
    /// `accepted`, `edited` or `rejected`.
    pub verdict: String,
    /// The text the agent sent; for `accepted` it defaults to the draft.
    pub final_text: Option<String>,
    pub resolution_seconds: Option<f64>,
    pub agent: Option<String>,
    pub comment: Option<String>,
}

/// `GET /v1/tickets?status=&limit=&before=`: newest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TicketList {
    pub object: String,
    pub data: Vec<Ticket>,
    pub has_more: bool,
}
