//! Coordination shared by every replica through Redis (`[coordination] redis_url`): the rate
//! limits, concurrency gates and budgets of `atalaya-tenancy` ([`Limiter`], [`Budgets`]), so
//! that N replicas enforce one limit, not N.
//!
//! - [`RedisLimiter`]: a request's GCRA buckets (key and tenant, requests and tokens) are
//!   taken in one Lua script, all or none, against Redis's own clock; a concurrency gate
//!   counts each replica's slots under a lease with an expiry that the replica renews, so a
//!   crashed replica's slots come back on their own.
//! - [`RedisBudgets`]: per scope, day and month counters, reserved in one script (all or
//!   none) and settled when the answer's usage is known. They are seeded from the durable
//!   usage store, which stays the record of truth; Redis holds the live totals, in-flight
//!   reservations included.
//!
//! Every key carries one hash tag (`{prefix}`), so a script's keys are in one slot and Redis
//! Cluster runs them. Adjustments, releases and settlements (which the traits make
//! infallible and synchronous) are queued and sent inside this process's next call, and at
//! least every 100 ms, merged per key and direction. The decisions of concurrent requests
//! are batched: while one call is in flight, the next one gathers what arrives, and the
//! script reads each key once and writes it once per call. A decision whose caller left
//! before the reply (the client hung up) is undone, as the traits require.
//!
//! While Redis is unreachable ([`Redis::call`] fails or times out), `on_unavailable` decides:
//! `fail_open` counts in this process (limits divided by the expected number of replicas,
//! budgets from the last totals seen), with a warning and a metric; `fail_closed` refuses
//! with `coordination_unavailable` (503). Recovery is automatic: the next call that reaches
//! Redis ends the fallback, and queued operations are replayed.
//!
//! [`Limiter`]: atalaya_tenancy::Limiter
//! [`Budgets`]: atalaya_tenancy::meter::Budgets

mod budgets;
mod conn;
mod limiter;
mod scripts;
#[cfg(feature = "testing")]
pub mod testing;

pub use budgets::RedisBudgets;
pub use conn::{OnUnavailable, Redis, Settings, Status};
pub use limiter::RedisLimiter;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A setting that cannot be used; the message names the key.
    #[error("{0}")]
    Config(String),
    /// Redis cannot be reached, or did not answer in time.
    #[error("redis: {0}")]
    Unavailable(String),
    /// Redis answered something a script does not return (a bug, or another program's keys
    /// under the prefix).
    #[error("redis: unexpected reply: {0}")]
    Protocol(String),
}
