//! [`RedisLimiter`]: GCRA buckets and concurrency gates in Redis, exact across replicas.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, Weak,
    },
};

use atalaya_tenancy::{
    limiter::{system_clock, BucketState, Decision as Verdict, Entry, Quota, Take},
    local_limiter::LocalLimiter,
    Limiter,
};

use crate::{
    conn::{Decision, OnUnavailable, Op},
    Error, Redis,
};

/// Rate limits and gates shared through Redis (see the crate docs). While Redis is
/// unreachable, `fail_open` counts in an in-process limiter whose quotas are divided by the
/// expected number of replicas.
pub struct RedisLimiter {
    redis: Arc<Redis>,
    fallback: LocalLimiter,
    /// This process's leases, per gate (renewed while held).
    held: Mutex<HashMap<Arc<str>, Vec<String>>>,
    /// Entries into the fallback's gates, per gate (released there).
    local: Mutex<HashMap<Arc<str>, u32>>,
    instance: String,
    next_lease: AtomicU64,
}

/// Microseconds per unit, as the scripts take it.
fn interval_us(q: Quota) -> String {
    format!("{:.6}", 60_000_000.0 / q.per_minute.max(1) as f64)
}

impl RedisLimiter {
    pub fn new(redis: Arc<Redis>) -> Arc<Self> {
        let l = Arc::new(RedisLimiter {
            redis,
            fallback: LocalLimiter::new(system_clock()),
            held: Mutex::new(HashMap::new()),
            local: Mutex::new(HashMap::new()),
            instance: format!("{}-{:x}", std::process::id(), rand::random::<u64>()),
            next_lease: AtomicU64::new(0),
        });
        // Detached: it holds a weak reference and ends with the limiter; it only queues.
        #[allow(clippy::disallowed_methods)]
        tokio::spawn(renew(Arc::downgrade(&l)));
        l
    }

    fn bucket(&self, name: &str) -> String {
        self.redis.key(&format!("rl:{name}"))
    }

    fn gate(&self, name: &str) -> String {
        self.redis.key(&format!("gate:{name}"))
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

fn parse_take(v: &[i64], takes: &[Take]) -> Result<Verdict, Error> {
    let bad = || Error::Protocol(format!("take returned {v:?}"));
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
            args.push(t.quota.burst.max(1).to_string());
            args.push(t.cost.to_string());
        }
        let r = self
            .redis
            .run::<Vec<i64>>(Decision {
                kind: "take",
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
        self.redis.queue(Op {
            kind: "adjust",
            keys: vec![self.bucket(bucket)],
            args: vec![interval_us(quota), delta.to_string()],
        });
        self.fallback.adjust(bucket, self.share(quota), delta);
    }

    async fn enter(&self, gates: &[(Arc<str>, u32)]) -> Entry {
        let lease = format!(
            "{}-{}",
            self.instance,
            self.next_lease.fetch_add(1, Ordering::Relaxed)
        );
        let lease_ms = self.redis.settings().lease.as_millis().max(1);
        let mut args = vec![lease.clone(), lease_ms.to_string()];
        args.extend(gates.iter().map(|(_, max)| max.to_string()));
        let keys = gates.iter().map(|(g, _)| self.gate(g)).collect();
        match self
            .redis
            .run::<i64>(Decision {
                kind: "enter",
                keys,
                args,
            })
            .await
        {
            Ok(1) => {
                let mut held = Self::lock(&self.held);
                for (g, _) in gates {
                    held.entry(g.clone()).or_default().push(lease.clone());
                }
                Entry::Entered
            }
            Ok(_) => Entry::Full,
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
            let lease = {
                let mut held = Self::lock(&self.held);
                let lease = held.get_mut(g).and_then(Vec::pop);
                if held.get(g).is_some_and(Vec::is_empty) {
                    held.remove(g);
                }
                lease
            };
            match lease {
                Some(id) => self.redis.queue(Op {
                    kind: "leave",
                    keys: vec![self.gate(g)],
                    args: vec![id],
                }),
                None => {
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

/// Renews this process's leases three times per lease period, so that only a holder that
/// stopped (a crash) loses its slots.
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
        let lease_ms = l.redis.settings().lease.as_millis().to_string();
        let held: Vec<(Arc<str>, Vec<String>)> = RedisLimiter::lock(&l.held)
            .iter()
            .map(|(g, ids)| (g.clone(), ids.clone()))
            .collect();
        for (g, ids) in held {
            for id in ids {
                l.redis.queue(Op {
                    kind: "renew",
                    keys: vec![l.gate(&g)],
                    args: vec![id, lease_ms.clone()],
                });
            }
        }
    }
}
