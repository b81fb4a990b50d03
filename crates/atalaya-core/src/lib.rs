//! The domain of the Atalaya gateway.
//!
//! - [`config`]: the layered configuration (TOML file < `ATALAYA__SECTION__KEY` environment
//!   variables < CLI flags), validated at start-up with errors that name the key.
//! - [`domain`]: the gateway's own request/response types and their explicit conversion from
//!   the wire types of `atalaya-api`.
//! - [`provider`]: the [`provider::Provider`] trait every backend implements (`infer`,
//!   `infer_stream`, `embed`), and [`provider::UpstreamFailure`], the outcome of a failed attempt.
//! - [`routing`]: model routes, weighted load balancing, retries with backoff and `Retry-After`,
//!   fallback, circuit breakers, deadlines.
//! - [`auth`]: API-key verification against SHA-256 hashes, in constant time.
//! - [`metrics`]: typed Prometheus metrics.
//! - [`gateway`]: the service functions that HTTP handlers and the CLI both call.
//!
//! This crate knows no HTTP framework: `atalaya-server` maps [`Error`] to HTTP in one place.

pub mod auth;
pub mod config;
pub mod context;
pub mod domain;
mod error;
pub mod gateway;
pub mod metrics;
pub mod provider;
pub mod proxy;
pub mod routing;
pub mod secret;

pub use error::{ConfigIssue, Error};
