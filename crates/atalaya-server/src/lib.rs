//! Atalaya's HTTP server: the axum application, its middleware and handlers.
//!
//! - [`admin`]: the admin API's handlers (`/admin/v1/...`) over `atalaya_tenancy`.
//! - [`app`]: `app(state) -> Router`, so tests can drive the service without a socket.
//! - [`error`]: the one place where domain errors become HTTP responses (OpenAI error shape).
//! - [`extract`]: the JSON body extractor (size limit, field-precise errors) and the caller
//!   extractor (authentication).
//! - [`observe`]: request ids, the access log line, request metrics, the concurrency limit.
//! - [`handlers`]: thin handlers that convert wire types and call `atalaya_core::gateway`.
//! - [`kb_handlers`]: the knowledge API's handlers (`/v1/knowledge/...`, `/v1/tasks/...`).
//! - [`knowledge`]: the knowledge service they call (store, task worker, retrieval, answers).
//! - [`rag`]: grounded answers: the sources prompt, citations, the support check, extractive
//!   answers.
//! - [`guard`]: the guard stage (input checks and pseudonymization before a request leaves,
//!   output checks and restoration of its answer, streamed too) and the scan service of
//!   `/v1/guard/*` and `atalaya guard`.
//! - [`sse`]: framing a gateway stream as Server-Sent Events.
//! - [`serve`]: the listener loop with graceful shutdown under a deadline.
//! - [`health`]: the active upstream health-check loops.
//! - [`server`]: [`Server`], everything assembled from a config; the binary and tests use it.

pub mod admin;
pub mod app;
pub mod classify;
pub mod error;
pub mod extract;
pub mod guard;
pub mod handlers;
pub mod health;
pub mod kb_handlers;
pub mod knowledge;
pub mod observe;
pub mod outbound;
pub mod pipeline;
pub mod pipeline_handlers;
pub mod rag;
pub mod serve;
pub mod server;
pub mod sse;

pub use app::{app, AppState};
pub use serve::{serve, ServerError, Shutdown};
pub use server::Server;
