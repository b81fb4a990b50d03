//! The domain of the Atalaya gateway.
//!
//! - [`config`]: the gateway's sections of the configuration (upstreams, local models, model
//!   routes) and their checks; the root configuration is the `atalaya-config` crate.
//! - [`domain`]: the gateway's own request/response types and their explicit conversion from
//!   the wire types of `atalaya-api`.
//! - [`provider`]: the [`provider::Provider`] trait every backend implements (`infer`,
//!   `infer_stream`, `embed`), and [`provider::UpstreamFailure`], the outcome of a failed attempt.
//! - [`routing`]: model routes, weighted load balancing, retries with backoff and `Retry-After`,
//!   fallback, circuit breakers, deadlines.
//! - [`metrics`]: typed Prometheus metrics.
//! - [`gateway`]: the service functions that HTTP handlers and the CLI both call.
//!
//! This crate knows no HTTP framework: `atalaya-server` maps [`Error`] to HTTP in one place.

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
