//! Atalaya's service layer: the functions that compose the libraries, shared by the HTTP
//! server and the CLI. Nothing here knows HTTP; transports extract their input, call one
//! function here and map its result (errors are [`atalaya_core::Error`], which the HTTP
//! crate maps to responses in one place).
//!
//! - [`services`]: [`Services`], everything assembled from a configuration.
//! - [`context`]: [`context::RequestContext`], the call and its principal.
//! - [`call`]: one call's record ([`call::Facts`]): admission, usage, the inference-log
//!   capture.
//! - [`chat`]: chat completions (retrieval-augmented, guarded, streamed or not) and
//!   embeddings.
//! - [`answers`]: knowledge queries and grounded answers.
//! - [`runs`]: pipeline runs, pipeline models on chat, tickets.
//! - [`inspect`]: guard scans and classifiers.
//! - [`subjects`]: deleting a tenant, exporting and erasing a data subject across stores.
//! - [`knowledge`]: the knowledge service (store, task worker, retrieval, answers).
//! - [`guard`]: the guard stage (input checks and pseudonymization before a request leaves,
//!   output checks and restoration of its answer, streamed too) and scans.
//! - [`pipeline`]: the pipeline runner and the ticket workflow.
//! - [`classify`]: tenants' trained classifiers.
//! - [`outbound`]: which hosts a pipeline's `http` step may reach.
//! - [`storage`]: the storage backend chosen from `[storage]`, and the Postgres schemas.
//! - [`wire`]: wire ↔ domain conversion, for both transports.

pub mod answers;
pub mod call;
pub mod chat;
pub mod classify;
pub mod context;
pub mod coordination;
pub mod guard;
pub mod inspect;
pub mod knowledge;
pub mod outbound;
pub mod pipeline;
pub mod runs;
pub mod sealed_tickets;
pub mod services;
pub mod storage;
pub mod subjects;
pub mod wire;

pub use services::{open_tenancy, Services};
