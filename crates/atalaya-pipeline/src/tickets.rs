//! The ticket store: each ticket with its triage (language, intent, priority, confidence),
//! draft, citations, status and the run's trace, and the agents' feedback on the draft — the
//! raw material of later evaluation and fine-tuning. One tenant's tickets are invisible to
//! another.
//!
//! [`TicketRecords`] is the contract every backend keeps (its conformance suite is
//! [`crate::ticket_conformance`]); the embedded backend is
//! [`crate::sqlite_tickets::SqliteTickets`] (`<data_dir>/tickets.db`, WAL).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::PipelineError;

/// Statuses: `drafted` (a draft waits for an agent's review), `needs_human` (escalated),
/// `answered` (an agent sent a final text).
pub const STATUSES: &[&str] = &["drafted", "needs_human", "answered"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The document's source name.
    pub doc: String,
    /// The chunk's id in the knowledge base.
    pub chunk: i64,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub tenant: String,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub subject: Option<String>,
    pub body: String,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    pub status: String,
    /// Why it needs a human.
    pub reason: Option<String>,
    pub language: Option<String>,
    pub intent: Option<String>,
    pub priority: Option<String>,
    pub confidence: Option<f64>,
    pub draft: Option<String>,
    pub citations: Vec<Citation>,
    pub pipeline: String,
    pub pipeline_version: u32,
    /// The run's step trace.
    pub trace: Value,
    pub feedback: Vec<Feedback>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// `accepted`, `edited` or `rejected`.
    pub verdict: String,
    /// The text the agent sent (the draft, edited or replaced).
    pub final_text: Option<String>,
    pub resolution_seconds: Option<f64>,
    pub agent: Option<String>,
    pub comment: Option<String>,
    pub created_at: i64,
}

pub const VERDICTS: &[&str] = &["accepted", "edited", "rejected"];

/// A status filter must name a status (every backend checks it the same way).
pub fn check_status(status: Option<&str>) -> Result<(), PipelineError> {
    match status {
        Some(s) if !STATUSES.contains(&s) => Err(PipelineError::invalid(
            format!("unknown status '{s}' (one of: {})", STATUSES.join(", ")),
            Some("status"),
        )),
        _ => Ok(()),
    }
}

/// What feedback must be: a known verdict, a final text for an edited draft, a sane time.
pub fn check_feedback(f: &Feedback) -> Result<(), PipelineError> {
    if !VERDICTS.contains(&f.verdict.as_str()) {
        return Err(PipelineError::invalid(
            format!(
                "'verdict' must be one of {}, got '{}'",
                VERDICTS.join(", "),
                f.verdict
            ),
            Some("verdict"),
        ));
    }
    if f.verdict == "edited" && f.final_text.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(PipelineError::invalid(
            "an edited draft needs 'final_text', the text the agent sent",
            Some("final_text"),
        ));
    }
    if let Some(s) = f.resolution_seconds {
        if !(s.is_finite() && s >= 0.0) {
            return Err(PipelineError::invalid(
                "'resolution_seconds' must be a non-negative number",
                Some("resolution_seconds"),
            ));
        }
    }
    Ok(())
}

/// The final text feedback leaves (accepted as drafted: the draft) and the ticket's new
/// status: a final text makes it `answered`; a rejected draft without one leaves it to a
/// human (`needs_human`).
pub fn feedback_outcome(f: &Feedback, draft: Option<String>) -> (Option<String>, &'static str) {
    let final_text = match (&f.final_text, f.verdict.as_str()) {
        (Some(t), _) => Some(t.clone()),
        (None, "accepted") => draft,
        (None, _) => None,
    };
    let status = if final_text.is_some() {
        "answered"
    } else {
        "needs_human"
    };
    (final_text, status)
}

/// A new ticket id: `tkt_` and 20 random base-32 characters (100 bits).
pub fn new_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut rng = rand::rng();
    let s: String = (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("tkt_{s}")
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What a tickets pipeline gives a ticket: its `outputs` named `language`, `intent`,
/// `priority` (strings), `confidence` (a number), `draft` (a string; blank is no draft) and
/// `citations` (objects with `doc`, `chunk`, `score`). A missing or mistyped output is absent,
/// never an error: a ticket without a triage field is still a ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Triage {
    pub language: Option<String>,
    pub intent: Option<String>,
    pub priority: Option<String>,
    pub confidence: Option<f64>,
    pub draft: Option<String>,
    pub citations: Vec<Citation>,
}

impl Triage {
    /// Reads a run's `outputs`.
    pub fn from_outputs(outputs: &serde_json::Map<String, Value>) -> Triage {
        let text = |k: &str| outputs.get(k).and_then(Value::as_str).map(str::to_owned);
        let citations = outputs
            .get("citations")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| Citation {
                        doc: c["doc"].as_str().unwrap_or_default().to_owned(),
                        chunk: c["chunk"].as_i64().unwrap_or_default(),
                        score: c["score"].as_f64().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Triage {
            language: text("language"),
            intent: text("intent"),
            priority: text("priority"),
            confidence: outputs.get("confidence").and_then(Value::as_f64),
            draft: text("draft").filter(|d| !d.trim().is_empty()),
            citations,
        }
    }
}

/// One earlier message of a ticket's thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadMessage {
    pub author: Option<String>,
    pub text: String,
}

/// A ticket as it comes in, before its triage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketInput {
    pub subject: Option<String>,
    pub body: String,
    pub customer_id: Option<String>,
    pub channel: Option<String>,
    /// The language the client declared, if any.
    pub language: Option<String>,
    /// Earlier messages, oldest first.
    pub thread: Vec<ThreadMessage>,
    pub metadata: Option<serde_json::Map<String, Value>>,
}

/// What a tickets pipeline reads from a ticket: the run's `input` fields
/// (`{{ input.subject }}`, `{{ input.thread_text }}`...).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TicketFields<'a> {
    #[serde(flatten)]
    pub ticket: &'a TicketInput,
    /// The thread as `author: text` lines, the ticket's own text last (`customer: ...`).
    pub thread_text: String,
}

impl TicketFields<'_> {
    /// The fields as the run's input object.
    pub fn into_map(self) -> serde_json::Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            // A struct of strings and JSON values always serialises to an object.
            _ => serde_json::Map::new(),
        }
    }
}

/// Tickets and their feedback, per tenant. Every call is one transaction.
#[async_trait]
pub trait TicketRecords: Send + Sync {
    /// Stores a new ticket, tagged with `data_subject` (when it is not the ticket's
    /// `customer_id`) in the same transaction, so the subject's erasure finds it.
    async fn insert(&self, t: Ticket, data_subject: Option<String>) -> Result<(), PipelineError>;
    /// One of `tenant`'s tickets, with its feedback; another tenant's is `NotFound`.
    async fn get(&self, tenant: &str, id: &str) -> Result<Ticket, PipelineError>;
    /// Newest first, optionally of one status, after the ticket `before` (keyset paging);
    /// without feedback. An unknown status or `before` is `Invalid`.
    async fn list(
        &self,
        tenant: &str,
        status: Option<&str>,
        limit: usize,
        before: Option<&str>,
    ) -> Result<Vec<Ticket>, PipelineError>;
    /// Adds feedback (verdict `accepted`, `edited` with a final text, or `rejected`) and moves
    /// the status; returns the ticket with all its feedback.
    async fn add_feedback(
        &self,
        tenant: &str,
        id: &str,
        f: Feedback,
    ) -> Result<Ticket, PipelineError>;
    /// Every ticket of a data subject (its `customer_id`, or tagged with it), in `tenant` or
    /// every tenant, oldest first, with feedback.
    async fn by_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<Vec<Ticket>, PipelineError>;
    /// Deletes them and their feedback; returns (tickets, feedback entries).
    async fn erase_subject(
        &self,
        tenant: Option<&str>,
        subject: &str,
    ) -> Result<(u64, u64), PipelineError>;
    /// Deletes every ticket of `tenant` and its feedback; returns the tickets deleted.
    async fn delete_tenant(&self, tenant: &str) -> Result<u64, PipelineError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_reads_typed_outputs_and_ignores_mistyped_ones() {
        let outputs = serde_json::json!({
            "language": "es", "intent": "refund", "priority": 3, "confidence": 0.71,
            "draft": "  ", "citations": [{"doc": "refunds.md", "chunk": 7, "score": 0.5}, "junk"],
        });
        let t = Triage::from_outputs(outputs.as_object().unwrap());
        assert_eq!(t.language.as_deref(), Some("es"));
        assert_eq!(t.intent.as_deref(), Some("refund"));
        assert_eq!(t.priority, None, "a number is not a priority");
        assert_eq!(t.confidence, Some(0.71));
        assert_eq!(t.draft, None, "a blank draft is no draft");
        assert_eq!(t.citations.len(), 2);
        assert_eq!(t.citations[0].doc, "refunds.md");
        assert_eq!(t.citations[1].doc, "");
        assert_eq!(
            Triage::from_outputs(&serde_json::Map::new()),
            Triage::default()
        );
    }

    #[test]
    fn ticket_fields_become_the_input_object() {
        let t = TicketInput {
            subject: None,
            body: "hola".into(),
            customer_id: Some("c-1".into()),
            channel: None,
            language: None,
            thread: vec![ThreadMessage {
                author: Some("agent".into()),
                text: "¿Algo más?".into(),
            }],
            metadata: None,
        };
        let m = TicketFields {
            ticket: &t,
            thread_text: "agent: ¿Algo más?\ncustomer: hola".into(),
        }
        .into_map();
        assert_eq!(m["thread_text"], "agent: ¿Algo más?\ncustomer: hola");
        assert_eq!(m["body"], "hola");
        assert_eq!(m["subject"], Value::Null);
        assert_eq!(m["thread"][0]["author"], "agent");
        assert_eq!(m["metadata"], Value::Null);
    }

    #[test]
    fn ids_are_distinct() {
        let a = new_id();
        assert!(a.starts_with("tkt_") && a.len() == 24);
        assert_ne!(a, new_id());
    }
}
