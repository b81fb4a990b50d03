/// Errors of the knowledge base. Ingestion reports them per file, so one bad file never
/// aborts a batch.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file's type is not one the parsers read.
    #[error("unsupported file type {0} (supported: .txt .md .html .pdf .docx .csv .jsonl)")]
    Unsupported(String),

    /// The file is of a supported type but cannot be read as such.
    #[error("not a valid {format} file: {reason}")]
    Parse {
        format: &'static str,
        reason: String,
    },

    /// Parsing the file went past a limit (time, memory, nesting) or crashed the parser: the
    /// file is hostile or far outside what the parsers handle.
    #[error("the {format} file could not be parsed safely: {reason}")]
    Limit {
        format: &'static str,
        reason: String,
    },

    /// The knowledge database failed (I/O, corruption, a newer schema).
    #[error("knowledge store: {0}")]
    Store(String),

    /// The disk is full: the write was rolled back.
    #[error("knowledge store: disk full: {0}")]
    Full(String),

    /// No such collection or document (of this tenant).
    #[error("{0} not found")]
    NotFound(String),

    /// A request the knowledge base cannot serve as given.
    #[error("{0}")]
    Invalid(String),

    /// The embedding model failed.
    #[error("embedding failed: {0}")]
    Embedding(String),

    /// A name is already taken.
    #[error("{0}")]
    Conflict(String),

    /// An index could not be opened, written or searched.
    #[error("index: {0}")]
    Index(String),

    /// Parsing worked but found no text (e.g. a scanned PDF without a text layer).
    #[error("no text found in the {format} file{hint}")]
    Empty {
        format: &'static str,
        hint: &'static str,
    },
}

impl Error {
    /// An index error, or [`Error::Full`] when the disk is full (tantivy and usearch wrap
    /// the I/O error in their own; its text, `os error 28`, survives the wrapping).
    pub(crate) fn index(message: String) -> Error {
        if message.contains("(os error 28)") {
            Error::Full(message)
        } else {
            Error::Index(message)
        }
    }

    /// The storage (database or disk), not the document, is failing: a task leaves its items
    /// pending and tries again later.
    pub fn is_storage(&self) -> bool {
        matches!(self, Error::Store(_) | Error::Full(_))
    }

    pub(crate) fn parse(format: &'static str, reason: impl std::fmt::Display) -> Error {
        Error::Parse {
            format,
            reason: reason.to_string(),
        }
    }
}

/// A knowledge-base error as the platform's API error (its status and stable code).
impl From<Error> for atalaya_core::Error {
    fn from(e: Error) -> Self {
        use atalaya_core::Error as E;
        match e {
            Error::Unsupported(_) => E::UnsupportedMediaType(e.to_string()),
            Error::Parse { .. } | Error::Limit { .. } | Error::Empty { .. } | Error::Invalid(_) => {
                E::invalid(e.to_string(), None)
            }
            Error::NotFound(what) => E::NotFound(what),
            Error::Conflict(m) => E::Conflict(m),
            Error::Embedding(detail) => E::Upstream {
                target: "embedding model".into(),
                detail,
            },
            Error::Store(_) | Error::Index(_) => E::Internal(e.to_string()),
            Error::Full(_) => E::StorageFull(e.to_string()),
        }
    }
}
