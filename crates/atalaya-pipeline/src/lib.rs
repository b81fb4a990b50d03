//! Declarative pipelines (issue 7): a pipeline is a named, versioned list of typed steps,
//! read from TOML or YAML and validated when it is loaded, with errors that name the
//! pipeline, the step and the key. This crate is pure: the specification ([`spec`]), the
//! templates and conditions steps are written in ([`expr`], minijinja), language detection
//! ([`lang`], whatlang), the confidence of an answer ([`confidence`]), the JSON Schema check of
//! `extract` steps ([`schema`]) and the ticket store ([`tickets`]: the `TicketRecords` trait,
//! its SQLite backend, and [`ticket_conformance`], the suite every backend passes). The
//! service crate runs the steps against its services (`atalaya-service/src/pipeline.rs`).

pub mod confidence;
pub mod expr;
pub mod lang;
pub mod schema;
pub mod spec;
pub mod ticket_conformance;
pub mod tickets;

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
    /// A request the store refuses (bad status, bad feedback).
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<&'static str>,
    },
}

impl PipelineError {
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        PipelineError::Invalid {
            message: message.into(),
            param,
        }
    }
}
