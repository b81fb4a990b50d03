//! Declarative pipelines (issue 7): a pipeline is a named, versioned list of typed steps,
//! read from TOML or YAML and validated when it is loaded, with errors that name the
//! pipeline, the step and the key, and run step by step.
//!
//! - [`spec`]: the pipeline file and its cross-step checks;
//! - [`steps`]: one module per step kind, each with its keys, its validation and its `run`
//!   (Vector's components are the model);
//! - [`run`]: the executor (conditions, jumps, `on_error`, the trace, outputs);
//! - [`host`]: the [`host::Host`] trait through which a step calls a model, the knowledge
//!   base, a classifier, the guard or an HTTP API; the service crate implements it
//!   (`atalaya-service/src/pipeline.rs`), the step tests fake it;
//! - [`expr`] (minijinja templates and conditions), [`lang`] (language detection),
//!   [`confidence`], [`schema`] (the JSON Schema check of `extract` steps);
//! - [`tickets`]: the `TicketRecords` trait, its SQLite backend ([`sqlite_tickets`]), its
//!   Postgres backend ([`pg_tickets`]), and [`ticket_conformance`], the suite both pass.

pub mod confidence;
pub mod config;
pub mod expr;
pub mod host;
pub mod lang;
pub mod pg_tickets;
pub mod run;
pub mod schema;
pub mod spec;
pub mod sqlite_tickets;
pub mod state;
pub mod steps;
#[cfg(test)]
mod testing;
pub mod ticket_conformance;
pub mod tickets;
pub mod values;

pub use host::{Host, HostError};
pub use run::{RunInput, RunOutcome, StreamSink};
pub use spec::{Pipeline, Step, StepKind};

/// The one error type of this crate.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A pipeline file that cannot be used; the message names the pipeline, step and key.
    #[error("{0}")]
    Spec(String),
    /// The ticket store failed.
    #[error("ticket store: {0}")]
    Store(String),
    /// The disk is full: the write was rolled back.
    #[error("ticket store: disk full: {0}")]
    Full(String),
    /// No such ticket (for this tenant).
    #[error("ticket '{0}' not found")]
    NotFound(String),
    /// A request the store refuses (bad status, bad feedback), or a value a step cannot use
    /// (a template that does not render, a threshold out of range).
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<&'static str>,
    },
    /// A step cannot run here (no model, the knowledge base disabled, a secret unset).
    #[error("{0}")]
    Unavailable(String),
    /// A step met a bug or an impossible state.
    #[error("{0}")]
    Internal(String),
    /// A model or API answered unusably (an answer off its schema, a non-2xx status).
    #[error("{target}: {detail}")]
    Upstream { target: String, detail: String },
    /// An API did not answer in time.
    #[error("{target}: {detail}")]
    Timeout { target: String, detail: String },
    /// A call the configuration does not allow (an `http` step's host).
    #[error("{0}")]
    Denied(String),
    /// A `guard` step with `on_block = "fail"` blocked the text.
    #[error("{0}")]
    Guardrail(String),
}

impl PipelineError {
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        PipelineError::Invalid {
            message: message.into(),
            param,
        }
    }
}

/// A pipeline error as the platform's API error (its status and stable code).
impl From<PipelineError> for atalaya_core::Error {
    fn from(e: PipelineError) -> Self {
        use atalaya_core::Error;
        match e {
            PipelineError::NotFound(id) => Error::NotFound(format!("ticket '{id}'")),
            PipelineError::Invalid { message, param } => Error::invalid(message, param),
            PipelineError::Spec(m) => Error::ConfigSource(m),
            PipelineError::Store(m) => Error::Internal(format!("ticket store: {m}")),
            PipelineError::Full(m) => Error::StorageFull(format!("ticket store: {m}")),
            PipelineError::Unavailable(m) => Error::Unavailable(m),
            PipelineError::Internal(m) => Error::Internal(m),
            PipelineError::Upstream { target, detail } => Error::Upstream { target, detail },
            PipelineError::Timeout { target, detail } => Error::UpstreamTimeout { target, detail },
            PipelineError::Denied(m) => Error::PermissionDenied(m),
            PipelineError::Guardrail(message) => Error::Guardrail {
                detector: "pipeline_guard".into(),
                message,
                param: None,
            },
        }
    }
}
