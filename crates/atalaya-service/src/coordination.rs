//! The one place `[coordination]` chooses where limits and budgets are counted: in each
//! process (no `redis_url`), or in Redis, shared by every replica.

use std::{sync::Arc, time::Duration};

use atalaya_config::Config;
use atalaya_core::{metrics::Metrics, Error};
use atalaya_redis::{Redis, RedisBudgets, RedisLimiter};
use atalaya_store::Store;
use atalaya_tenancy::{meter::Budgets, Limiter};

/// Limits and budgets backed by Redis.
pub struct Shared {
    pub redis: Arc<Redis>,
    pub limiter: Arc<dyn Limiter>,
    pub budgets: Arc<dyn Budgets>,
}

fn redis_error(e: atalaya_redis::Error) -> Error {
    match e {
        atalaya_redis::Error::Config(m) => Error::config("coordination.redis_url", m),
        atalaya_redis::Error::Unavailable(m) => Error::config(
            "coordination.redis_url",
            format!("{m}; Redis must be reachable when the server starts"),
        ),
        atalaya_redis::Error::Protocol(m) => Error::Internal(format!("coordination: {m}")),
    }
}

/// Connects to Redis when `[coordination] redis_url` is set (and seeds the budgets from
/// `store`'s usage); `None` otherwise.
pub async fn open(
    config: &Config,
    lookup: &dyn Fn(&str) -> Option<String>,
    store: Arc<dyn Store>,
) -> Result<Option<Shared>, Error> {
    let Some(settings) = config.coordination.redis(lookup)? else {
        return Ok(None);
    };
    let redis = Redis::connect(settings).await.map_err(redis_error)?;
    let budgets = RedisBudgets::open(redis.clone(), store)
        .await
        .map_err(redis_error)?;
    tracing::info!("coordination: limits and budgets are shared through Redis");
    Ok(Some(Shared {
        limiter: RedisLimiter::new(redis.clone()),
        budgets,
        redis,
    }))
}

/// Copies the coordination's health into the metrics every second, while `redis` lives.
pub fn report(redis: &Arc<Redis>, metrics: Arc<Metrics>) {
    let weak = Arc::downgrade(redis);
    // Detached: it holds a weak reference, ends with the connection, and writes nothing.
    #[allow(clippy::disallowed_methods)]
    tokio::spawn(async move {
        let mut last = atalaya_redis::Status::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(r) = weak.upgrade() else { return };
            let s = r.status();
            metrics.coordination(
                s.up,
                s.fallbacks.saturating_sub(last.fallbacks),
                s.refusals.saturating_sub(last.refusals),
            );
            last = s;
        }
    });
}
