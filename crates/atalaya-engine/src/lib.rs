//! Atalaya's local inference: GGUF chat models with continuous batching and prefix caching,
//! and sentence embeddings with micro-batching, both on llama.cpp (via `llama-cpp-2`), behind
//! the gateway's `Provider` trait so routes can mix local and remote targets.
//!
//! - [`gguf`]: a safe GGUF metadata reader (inspection, pre-load validation, memory estimate).
//! - [`inspect`]: `atalaya models list|inspect`.
//! - [`chat`]: the generation engine and its scheduler thread.
//! - [`embed`]: the embedding engine.
//! - [`template`]: Jinja chat templates.
//! - [`text`]: incremental UTF-8 decoding and stop strings.
//! - [`provider`]: the `Provider` adapters and their construction from the configuration.

use std::sync::OnceLock;

use llama_cpp_2::llama_backend::LlamaBackend;

pub mod chat;
pub mod embed;
mod error;
pub mod gguf;
pub mod inspect;
pub mod provider;
pub mod template;
pub mod text;

pub use error::Error;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// llama.cpp's process-wide backend, initialized once; its own logging goes to `tracing`
/// (at debug level: it is verbose).
pub(crate) fn backend() -> Result<&'static LlamaBackend, Error> {
    let b = BACKEND.get_or_init(|| {
        llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
        LlamaBackend::init().map_err(|e| e.to_string())
    });
    b.as_ref().map_err(|e| Error::Load {
        model: "(backend)".into(),
        problem: e.clone(),
    })
}
