//! Atalaya's local inference: GGUF chat models with continuous batching and prefix caching on
//! llama.cpp (via `llama-cpp-2`), and sentence embeddings with micro-batching on ONNX Runtime
//! (via `ort`, `.onnx` files) or llama.cpp (GGUF files), behind the gateway's `Provider` trait so
//! routes can mix local and remote targets.
//!
//! - [`gguf`]: a safe GGUF metadata reader (inspection, pre-load validation, memory estimate).
//! - [`inspect`]: `atalaya models list|inspect`.
//! - [`chat`]: the generation engine and its scheduler thread.
//! - [`embed`]: the embedding engine (micro-batching, both backends).
//! - `onnx`: the ONNX Runtime backend of embeddings.
//! - [`template`]: Jinja chat templates.
//! - [`text`]: incremental UTF-8 decoding and stop strings.
//! - [`provider`]: the `Provider` adapters and their construction from the configuration.

use std::sync::{mpsc, OnceLock};

use llama_cpp_2::{
    context::{params::LlamaContextParams, LlamaContext},
    llama_backend::LlamaBackend,
    model::LlamaModel,
};

pub mod chat;
pub mod embed;
mod error;
pub mod gguf;
pub mod inspect;
mod onnx;
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

/// The threads a model runs on: `threads`, or every core the process may use when 0.
pub(crate) fn model_threads(threads: u32) -> u32 {
    match threads {
        0 => std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(1))
            .unwrap_or(1),
        n => n,
    }
}

/// The engine thread's start-up report: `load` waits for it.
pub(crate) struct Ready(mpsc::SyncSender<Result<(), Error>>);

impl Ready {
    pub(crate) fn ok(self) {
        let _ = self.0.send(Ok(()));
    }

    pub(crate) fn fail(self, e: Error) {
        let _ = self.0.send(Err(e));
    }
}

/// Starts an engine thread and waits for its report. `body` runs on the thread: it creates
/// the llama context there (a context never leaves its thread), reports, then serves.
pub(crate) fn spawn_engine(
    thread_name: String,
    model: &str,
    body: impl FnOnce(Ready) + Send + 'static,
) -> Result<(), Error> {
    let failed = |problem: String| Error::Load {
        model: model.to_owned(),
        problem,
    };
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || body(Ready(tx)))
        .map_err(|e| failed(format!("cannot start the engine thread: {e}")))?;
    match rx.recv() {
        Ok(result) => result,
        Err(_) => Err(failed("the engine thread ended while starting".into())),
    }
}

/// A llama context on `model`, named for errors.
pub(crate) fn new_context<'m>(
    model: &'m LlamaModel,
    name: &str,
    params: LlamaContextParams,
) -> Result<LlamaContext<'m>, Error> {
    model
        .new_context(backend()?, params)
        .map_err(|e| Error::Load {
            model: name.to_owned(),
            problem: format!(
                "cannot create the context (KV cache or batch too large for memory?): {e}"
            ),
        })
}
