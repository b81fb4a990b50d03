//! Atalaya's HTTP server: the axum application over the service layer (`atalaya_service`).
//! Only this crate knows axum; it extracts, calls one service function, and maps.
//!
//! - [`app`]: `app(state) -> Router`, the routes and middleware, so tests can drive the
//!   service without a socket.
//! - [`state`]: [`AppState`], the services and the HTTP layer's own limits.
//! - [`handlers`]: one file per resource (chat, knowledge, pipelines, tickets, inspect,
//!   admin, ops).
//! - [`extract`]: the JSON body extractor (size limit, field-precise errors) and the caller
//!   extractors (authentication).
//! - [`respond`]: request headers the services need, and their results as responses.
//! - [`error`]: the one place where domain errors become HTTP responses (OpenAI error shape).
//! - [`observe`]: request ids, the access log line, request metrics, the concurrency limit.
//! - [`sse`]: framing a stream of chunks as Server-Sent Events.
//! - [`serve`]: the listener loop with graceful shutdown under a deadline.
//! - [`health`]: the active upstream health-check loops.
//! - [`server`]: [`Server`], the services and the listener assembled from a config; the
//!   binary and tests use it.

pub mod app;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod health;
pub mod observe;
pub mod respond;
pub mod serve;
pub mod server;
pub mod sse;
pub mod state;

pub use app::app;
pub use serve::{serve, ServerError, Shutdown};
pub use server::Server;
pub use state::AppState;
