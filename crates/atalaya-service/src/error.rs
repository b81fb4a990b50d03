//! Library errors in the service layer's one error type, [`atalaya_core::Error`], which the
//! transports map to responses.

use atalaya_core::Error;

/// Knowledge-base errors in the gateway's terms (and so, through [`ApiError`], to HTTP).
pub fn knowledge_error(e: atalaya_knowledge::Error) -> Error {
    use atalaya_knowledge::Error as K;
    match e {
        K::Unsupported(_) => Error::UnsupportedMediaType(e.to_string()),
        K::Parse { .. } | K::Limit { .. } | K::Empty { .. } | K::Invalid(_) => {
            Error::invalid(e.to_string(), None)
        }
        K::NotFound(what) => Error::NotFound(what),
        K::Conflict(m) => Error::Conflict(m),
        K::Embedding(detail) => Error::Upstream {
            target: "embedding model".into(),
            detail,
        },
        K::Store(_) | K::Index(_) => Error::Internal(e.to_string()),
        K::Full(_) => Error::StorageFull(e.to_string()),
    }
}
