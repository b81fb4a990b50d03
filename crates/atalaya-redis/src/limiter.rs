//! [`RedisLimiter`]: GCRA buckets and concurrency gates in Redis, exact across replicas.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use atalaya_tenancy::{
    limiter::{system_clock, BucketState, Decision as Verdict, Entry, Quota, Take},
    local_limiter::LocalLimiter,
    Limiter,
};

use crate::{
    conn::{Arg, Item, Kind, OnUnavailable, Reply},
    Error, Redis,
};

/// Rate limits and gates shared through Redis (see the crate docs). While Redis is
/// unreachable, `fail_open` counts in an in-process limiter whose quotas are divided by the
/// expected number of replicas.
pub struct RedisLimiter {
    redis: Arc<Redis>,
    fallback: LocalLimiter,
    /// This process's slots, per gate (its lease on them renewed while it holds any).
    held: Mutex<HashMap<Arc<str>, u32>>,
    /// Entries into the fallback's gates, per gate (released there).
    local: Mutex<HashMap<Arc<str>, u32>>,
}

/// Microseconds per unit, as the scripts take it.
fn interval_us(q: Quota) -> Arg {
    #[allow(clippy::cast_precision_loss)] // quotas far below 2^52 per minute
    Arg::Float(60_000_000.0 / q.per_minute.max(1) as f64)
}

impl RedisLimiter {
    pub fn new(redis: Arc<Redis>) -> Arc<Self> {
        let l = Arc::new(RedisLimiter {
            redis,
            fallback: LocalLimiter::new(system_clock()),
            held: Mutex::new(HashMap::new()),
            local: Mutex::new(HashMap::new()),
        });
        // Detached: it holds a weak reference and ends with the limiter; it only queues.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(renew(Arc::downgrade(&l)));
        l
    }

    fn bucket(&self, name: &str) -> Arc<str> {
        self.redis.named("rl", name)
    }

    /// A gate's key. `slots:` since gates count per replica (a hash); the sorted sets of
    /// earlier versions lived under `gate:`, so that during a rolling upgrade the two formats
    /// never meet on one key (each version then counts its own replicas' slots).
    fn gate(&self, name: &str) -> Arc<str> {
        self.redis.named("slots", name)
    }

    fn lease_ms(&self) -> Arg {
        let ms = self.redis.settings().lease.as_millis().max(1);
        Arg::Int(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    fn replicas(&self) -> u64 {
        u64::from(self.redis.settings().expected_replicas.max(1))
    }

    /// This replica's share of a quota while Redis is unreachable.
    fn share(&self, q: Quota) -> Quota {
        Quota {
            per_minute: (q.per_minute / self.replicas()).max(1),
            burst: (q.burst / self.replicas()).max(1),
        }
    }

    fn unavailable(&self, e: &Error) -> Option<String> {
        match self.redis.settings().on_unavailable {
            OnUnavailable::FailOpen => {
                self.redis.fell_back();
                None
            }
            OnUnavailable::FailClosed => {
                self.redis.refused();
                Some(e.to_string())
            }
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse_take(reply: &Reply, takes: &[Take]) -> Result<Verdict, Error> {
    let bad = || Error::Protocol(format!("take returned {reply:?}"));
    let Reply::List(v) = reply else {
        return Err(bad());
    };
    let us = |x: i64| std::time::Duration::from_micros(u64::try_from(x).unwrap_or(0));
    match v.first() {
        Some(1) if v.len() == 1 + 2 * takes.len() => Ok(Verdict::Admitted(
            takes
                .iter()
                .enumerate()
                .map(|(i, t)| BucketState {
                    limit: t.quota.burst.max(1),
                    remaining: u64::try_from(v[1 + 2 * i]).unwrap_or(0),
                    reset: us(v[2 + 2 * i]),
                })
                .collect(),
        )),
        Some(0) if v.len() == 4 => Ok(Verdict::Refused {
            index: usize::try_from(v[1]).map_err(|_| bad())?,
            retry_after: us(v[2]),
            never: v[3] == 1,
        }),
        _ => Err(bad()),
    }
}

#[async_trait::async_trait]
impl Limiter for RedisLimiter {
    async fn take(&self, takes: &[Take]) -> Verdict {
        let mut keys = Vec::with_capacity(takes.len());
        let mut args = Vec::with_capacity(takes.len() * 3);
        for t in takes {
            keys.push(self.bucket(&t.bucket));
            args.push(interval_us(t.quota));
            args.push(Arg::from(t.quota.burst.max(1)));
            args.push(Arg::from(t.cost));
        }
        let r = self
            .redis
            .run(Item {
                kind: Kind::Take,
                keys,
                args,
            })
            .await
            .and_then(|v| parse_take(&v, takes));
        match r {
            Ok(d) => d,
            Err(e) => match self.unavailable(&e) {
                Some(m) => Verdict::Unavailable(m),
                None => {
                    let shares: Vec<Take> = takes
                        .iter()
                        .map(|t| Take {
                            bucket: t.bucket.clone(),
                            quota: self.share(t.quota),
                            cost: t.cost,
                        })
                        .collect();
                    self.fallback.take(&shares)
                }
            },
        }
    }

    fn adjust(&self, bucket: &str, quota: Quota, delta: i64) {
        self.redis.queue(Item {
            kind: Kind::Adjust,
            keys: vec![self.bucket(bucket)],
            args: vec![interval_us(quota), Arg::Int(delta)],
        });
        self.fallback.adjust(bucket, self.share(quota), delta);
    }

    async fn enter(&self, gates: &[(Arc<str>, u32)]) -> Entry {
        let mut args = vec![self.lease_ms()];
        args.extend(gates.iter().map(|(_, max)| Arg::from(*max)));
        let keys = gates.iter().map(|(g, _)| self.gate(g)).collect();
        match self
            .redis
            .run(Item {
                kind: Kind::Enter,
                keys,
                args,
            })
            .await
        {
            Ok(Reply::Int(1)) => {
                let mut held = Self::lock(&self.held);
                for (g, _) in gates {
                    *held.entry(g.clone()).or_default() += 1;
                }
                Entry::Entered
            }
            Ok(Reply::Int(_)) => Entry::Full,
            Ok(r @ Reply::List(_)) => {
                let e = Error::Protocol(format!("enter returned {r:?}"));
                match self.unavailable(&e) {
                    Some(m) => Entry::Unavailable(m),
                    None => Entry::Full,
                }
            }
            Err(e) => match self.unavailable(&e) {
                Some(m) => Entry::Unavailable(m),
                None => {
                    let r = self.replicas();
                    let shares: Vec<(Arc<str>, u32)> = gates
                        .iter()
                        .map(|(g, max)| {
                            let share = u64::from(*max) / r;
                            (g.clone(), u32::try_from(share.max(1)).unwrap_or(u32::MAX))
                        })
                        .collect();
                    if self.fallback.enter(&shares) {
                        let mut local = Self::lock(&self.local);
                        for (g, _) in gates {
                            *local.entry(g.clone()).or_default() += 1;
                        }
                        Entry::Entered
                    } else {
                        Entry::Full
                    }
                }
            },
        }
    }

    fn leave(&self, gates: &[Arc<str>]) {
        for g in gates {
            let in_redis = {
                let mut held = Self::lock(&self.held);
                match held.get_mut(g) {
                    Some(n) => {
                        *n -= 1;
                        if *n == 0 {
                            held.remove(g);
                        }
                        true
                    }
                    None => false,
                }
            };
            match in_redis {
                true => self.redis.queue(Item {
                    kind: Kind::Leave,
                    keys: vec![self.gate(g)],
                    args: vec![Arg::Int(1), self.lease_ms()],
                }),
                false => {
                    let mut local = Self::lock(&self.local);
                    if let Some(n) = local.get_mut(g) {
                        *n -= 1;
                        if *n == 0 {
                            local.remove(g);
                        }
                        self.fallback.leave(std::slice::from_ref(g));
                    }
                }
            }
        }
    }
}

/// Renews this process's lease on its slots three times per lease period, so that only a
/// holder that stopped (a crash) loses them. The renewal also tells Redis how many slots this
/// process holds: Redis keeps the larger of that and its own count (its own is larger while
/// entries or releases are in flight), which restores slots Redis dropped (an outage longer
/// than the lease, or a restart).
async fn renew(limiter: Weak<RedisLimiter>) {
    let period = match limiter.upgrade() {
        Some(l) => (l.redis.settings().lease / 3).max(std::time::Duration::from_millis(10)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(l) = limiter.upgrade() else { return };
        let lease_ms = l.lease_ms();
        let held: Vec<(Arc<str>, u32)> = RedisLimiter::lock(&l.held)
            .iter()
            .map(|(g, n)| (g.clone(), *n))
            .collect();
        for (g, n) in held {
            l.redis.queue(Item {
                kind: Kind::Renew,
                keys: vec![l.gate(&g)],
                args: vec![lease_ms.clone(), Arg::from(n)],
            });
        }
    }
}
