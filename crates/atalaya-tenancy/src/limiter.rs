//! Rate limiting with GCRA (the generic cell rate algorithm, equivalent to a token bucket
//! that refills continuously): a quota of `rate` units per minute admits bursts of up to
//! `burst` units, and then one unit every `60 s / rate`. Over any window of length `w`, a
//! bucket admits at most `burst + w · rate / 60 s` units, whatever the pattern of requests.
//!
//! A request takes units from several buckets at once (the key's and the tenant's requests and
//! tokens per minute): all of them or none. Concurrency limits count requests in flight.
//!
//! [`Limiter`] is the trait (its conformance suite: [`crate::limiter_conformance`]);
//! [`crate::local_limiter::LocalLimiter`] keeps buckets in this process; `atalaya-redis`
//! makes the limits exact across replicas by running the same arithmetic in a script on the
//! server.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// A bucket's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Units per minute (sustained).
    pub per_minute: u64,
    /// Units admitted at once from a full bucket (at least 1).
    pub burst: u64,
}

impl Quota {
    pub fn per_minute(rate: u64) -> Self {
        Quota {
            per_minute: rate,
            burst: rate.max(1),
        }
    }

    /// Time per unit, in [`TICKS_PER_NS`] ticks (so that even a trillion units a minute has
    /// an interval of many ticks, never a rounded-down zero).
    pub(crate) fn interval(self) -> u128 {
        (60_000_000_000u128 * TICKS_PER_NS / u128::from(self.per_minute.max(1))).max(1)
    }
}

/// Buckets keep time in millionths of a nanosecond.
pub const TICKS_PER_NS: u128 = 1_000_000;

pub(crate) fn duration(ticks: u128) -> Duration {
    Duration::from_nanos(u64::try_from(ticks.div_ceil(TICKS_PER_NS)).unwrap_or(u64::MAX))
}

/// One bucket to take units from.
#[derive(Debug, Clone)]
pub struct Take {
    /// The bucket's name (shared: naming a bucket allocates nothing per request).
    pub bucket: Arc<str>,
    pub quota: Quota,
    pub cost: u64,
}

/// A bucket's state after a decision, for `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketState {
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again.
    pub reset: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every bucket admitted; their states, in the order asked.
    Admitted(Vec<BucketState>),
    /// The bucket at `index` refused; nothing was taken from any bucket.
    Refused {
        index: usize,
        retry_after: Duration,
        /// The cost can never fit (it exceeds the burst).
        never: bool,
    },
    /// A shared backend cannot be reached and is configured to refuse meanwhile.
    Unavailable(String),
}

/// The outcome of entering concurrency gates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Every gate was entered.
    Entered,
    /// A gate is full; none was entered.
    Full,
    /// A shared backend cannot be reached and is configured to refuse meanwhile.
    Unavailable(String),
}

/// Rate and concurrency limits. Taking and entering may ask a shared store (async);
/// adjustments and releases cannot fail and do not wait: a remote implementation queues them.
/// A `take` or `enter` whose future is dropped unfinished (the client left) must leave
/// nothing taken or entered: a remote implementation makes each one a single atomic step.
#[async_trait::async_trait]
pub trait Limiter: Send + Sync {
    /// Takes every bucket's cost or none.
    async fn take(&self, takes: &[Take]) -> Decision;
    /// Gives back (`delta < 0`) or charges more (`delta > 0`) units after the fact (token
    /// estimates reconciled with the upstream's usage). Never refused.
    fn adjust(&self, bucket: &str, quota: Quota, delta: i64);
    /// Enters every gate (`name`, `max` in flight) or none.
    async fn enter(&self, gates: &[(Arc<str>, u32)]) -> Entry;
    fn leave(&self, gates: &[Arc<str>]);
}

/// The pure GCRA step. `tat` is the bucket's theoretical arrival time (ticks); returns whether
/// `cost` units are admitted at `now` and the new `tat`.
pub fn gcra(tat: u128, now: u128, quota: Quota, cost: u64) -> (bool, u128) {
    let t = quota.interval();
    let base = tat.max(now);
    let new_tat = base + t * u128::from(cost);
    let capacity = t * u128::from(quota.burst.max(1));
    if new_tat - now <= capacity {
        (true, new_tat)
    } else {
        (false, tat)
    }
}

pub(crate) fn state(tat: u128, now: u128, quota: Quota) -> BucketState {
    let t = quota.interval();
    let used = tat.saturating_sub(now);
    let capacity = t * u128::from(quota.burst.max(1));
    let remaining = capacity.saturating_sub(used) / t.max(1);
    BucketState {
        limit: quota.burst.max(1),
        remaining: u64::try_from(remaining).unwrap_or(u64::MAX),
        reset: duration(used),
    }
}

/// The clock, injectable for tests: nanoseconds since an arbitrary origin.
pub type Clock = Arc<dyn Fn() -> u128 + Send + Sync>;

pub fn system_clock() -> Clock {
    let origin = Instant::now();
    Arc::new(move || origin.elapsed().as_nanos())
}
