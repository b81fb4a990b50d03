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
    /// The shared store (Postgres) failed.
    #[error("classifier store: {0}")]
    Store(String),
    #[error("I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A classifier error as the platform's API error: a bad name is the caller's, anything else
/// the store's.
impl From<Error> for atalaya_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Param(m) => {
                let param = m
                    .starts_with("invalid classifier name")
                    .then_some("classifier");
                atalaya_core::Error::invalid(m, param)
            }
            other => atalaya_core::Error::Internal(format!("classifier store: {other}")),
        }
    }
}
