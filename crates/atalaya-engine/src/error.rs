/// Errors of the local engine. The provider adapter turns them into the gateway's
/// `UpstreamFailure`s, so clients see the usual stable codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model file is missing, unreadable, truncated or not GGUF.
    #[error("model file {path}: {problem}")]
    ModelFile { path: String, problem: String },

    /// llama.cpp could not load the model or create its context.
    #[error("cannot load model '{model}': {problem}")]
    Load { model: String, problem: String },

    #[error("chat template: {0}")]
    Template(String),

    /// The request cannot be served as given (unsupported parameter, template rejection).
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },

    #[error("{0}")]
    ContextLengthExceeded(String),

    /// The admission queue is full.
    #[error("local model '{model}' is busy: {waiting} requests already waiting")]
    QueueFull {
        model: String,
        waiting: usize,
        retry_after: std::time::Duration,
    },

    /// The engine thread has stopped (shutdown, or a fatal llama.cpp error).
    #[error("local model '{0}' is not running")]
    Stopped(String),

    /// A forward pass failed.
    #[error("local model '{model}' failed: {problem}")]
    Decode { model: String, problem: String },
}
