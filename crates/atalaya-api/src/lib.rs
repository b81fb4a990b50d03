//! Wire types of Atalaya's HTTP API.
//!
//! This crate is the only one that knows the JSON shapes clients send and receive: the
//! OpenAI-compatible request and response bodies, and the error envelope
//! `{"error":{"message","type","code","param"}}` with Atalaya's stable error codes.
//! Domain types live in `atalaya-core`; conversions between the two are explicit.
//!
//! Unknown request fields are kept in `extra` maps (`#[serde(flatten)]`) so that a field an
//! upstream understands but Atalaya does not is passed through, never dropped.

pub mod admin;
mod chat;
pub mod classify;
mod embeddings;
mod error;
pub mod guard;
pub mod knowledge;
mod models;
pub mod pipeline;

pub use chat::{
    ChatCompletionRequest, ContentPart, Message, MessageContent, Stop, StreamOptions, Usage,
};
pub use embeddings::EmbeddingRequest;
pub use error::{ErrorBody, ErrorCode, ErrorObject};
pub use models::{ModelList, ModelObject};
