use crate::pii::EntityType;

/// The guard crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// A policy asked to block this entity type and the text contains one. The value is never
    /// part of the message.
    #[error("the input contains personal data of type {0}, which this route's policy blocks")]
    BlockedEntity(EntityType),

    /// The injection detector scored the text at or above the blocking threshold.
    #[error("possible prompt injection detected ({reasons}; score {score:.2})")]
    Injection { score: f32, reasons: String },

    /// An output check with action `block` fired.
    #[error("the model's answer was blocked by the output check '{check}'")]
    OutputBlocked { check: &'static str },

    /// Bad policy (unknown entity type, threshold out of range...): the message names the key.
    #[error("invalid guard policy: {0}")]
    Policy(String),

    /// A committed model file is damaged.
    #[error("injection model '{name}' is invalid: {reason}")]
    Model { name: String, reason: String },
}

impl GuardError {
    /// The detector that produced a blocking decision, for error bodies and metrics.
    pub fn detector(&self) -> &'static str {
        match self {
            GuardError::BlockedEntity(_) => "pii",
            GuardError::Injection { .. } => "injection",
            GuardError::OutputBlocked { check } => check,
            GuardError::Policy(_) | GuardError::Model { .. } => "config",
        }
    }
}
