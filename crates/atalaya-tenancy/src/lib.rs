//! Tenancy: who may call Atalaya, how much, and the records that prove it.
//!
//! - [`access`]: [`Principal`] and [`Action`]: roles and tenant isolation, decided in one
//!   function.
//! - [`keys`]: API key format, generation and digests.
//! - [`service`]: [`Tenancy`], the state the three roles share: the cache, batching, upkeep.
//! - [`authn`]: authentication ([`Tenancy::authn`]).
//! - [`usage`]: admission ([`Tenancy::admission`]): a request admitted and settled through
//!   its [`Lease`]: budgets, token reconciliation, usage and the inference log.
//! - [`admin`]: administration ([`Tenancy::admin`]): tenants, keys, usage reports, audit
//!   verification and export, data-subject erasure and export, retention, encryption
//!   rotation; the admin API and the CLI both call these.
//! - [`limiter`]: GCRA rate limits and concurrency gates behind the [`Limiter`] trait;
//!   [`local_limiter`]: the in-process backend; [`limiter_conformance`]: the suite every
//!   backend passes.
//! - [`meter`]: budgets behind the [`meter::Budgets`] trait; [`local_budgets`]: the
//!   in-process backend; [`budget_conformance`]: the suite every backend passes.
//! - [`crypto`]: envelope encryption (AES-256-GCM) of the inference log, HMAC anchors.
//! - [`config`]: the configuration sections this crate owns, and their check.

pub mod access;
pub mod admin;
pub mod authn;
pub mod budget_conformance;
pub mod clock;
pub mod config;
pub mod crypto;
mod error;
mod events;
pub mod keys;
pub mod limiter;
pub mod limiter_conformance;
pub mod local_budgets;
pub mod local_limiter;
pub mod meter;
pub mod service;
mod shred;
pub mod usage;

pub use access::{Action, Principal, DEFAULT_TENANT, PLATFORM_TENANT};
pub use admin::Admin;
pub use atalaya_store::{Error as StoreError, Limits, Role};
pub use authn::Authn;
pub use error::{Error, Result};
pub use limiter::Limiter;
pub use service::Tenancy;
pub use usage::Admission;
pub use usage::{Capture, Estimate, Lease, Outcome};

/// The hash maps on the request path (keys, tenants, buckets, budgets): foldhash, seeded per
/// process, several times faster than SipHash on these short keys. Their keys are ids and
/// names this service makes, not values a client chooses.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
