use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// Training or evaluation data that cannot be used, with the reason (file, line, column).
    #[error("{0}")]
    Data(String),
    /// Parameters that make no sense (named).
    #[error("invalid parameter: {0}")]
    Param(String),
    /// A saved classifier that cannot be read.
    #[error("classifier file {path}: {problem}")]
    Model { path: String, problem: String },
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
