//! [`LocalLimiter`]: the in-process backend of [`Limiter`]: GCRA buckets and concurrency
//! gates in this process's memory (exact for one replica).

use std::sync::{Arc, Mutex};

use crate::limiter::{
    duration, gcra, state, Clock, Decision, Entry, Limiter, Quota, Take, TICKS_PER_NS,
};

#[derive(Default)]
struct Buckets {
    tat: crate::FastMap<Arc<str>, u128>,
    in_flight: crate::FastMap<Arc<str>, u32>,
}

/// In-process buckets and gates.
pub struct LocalLimiter {
    inner: Mutex<Buckets>,
    clock: Clock,
}

impl LocalLimiter {
    pub fn new(clock: Clock) -> Self {
        LocalLimiter {
            inner: Mutex::new(Buckets::default()),
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buckets> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets buckets that are full again (they hold no information).
    pub fn prune(&self) {
        let mut b = self.lock();
        let now = (self.clock)() * TICKS_PER_NS;
        b.tat.retain(|_, tat| *tat > now);
    }
}

impl LocalLimiter {
    /// [`Limiter::take`], without waiting (the buckets are in this process).
    pub fn take(&self, takes: &[Take]) -> Decision {
        let mut b = self.lock();
        // The clock is read under the lock: decisions see time in the order they are made
        // (read before it, a request could see a bucket already moved past its own `now`).
        let now = (self.clock)() * TICKS_PER_NS;
        // New TATs, visible to later takes from the same bucket in this request.
        let mut next: Vec<u128> = Vec::with_capacity(takes.len());
        for (index, t) in takes.iter().enumerate() {
            let tat = (0..index)
                .rev()
                .find(|&i| takes[i].bucket == t.bucket)
                .map(|i| next[i])
                .unwrap_or_else(|| b.tat.get(&t.bucket).copied().unwrap_or(0));
            let (ok, new_tat) = gcra(tat, now, t.quota, t.cost);
            if !ok {
                let interval = t.quota.interval();
                let capacity = interval * u128::from(t.quota.burst.max(1));
                let never = t.cost > t.quota.burst.max(1);
                let wait = if never {
                    capacity
                } else {
                    (tat.max(now) + interval * u128::from(t.cost)).saturating_sub(now + capacity)
                };
                return Decision::Refused {
                    index,
                    retry_after: duration(wait),
                    never,
                };
            }
            next.push(new_tat);
        }
        let mut states = Vec::with_capacity(takes.len());
        for (t, tat) in takes.iter().zip(next) {
            b.tat.insert(t.bucket.clone(), tat);
            states.push(state(tat, now, t.quota));
        }
        Decision::Admitted(states)
    }

    /// [`Limiter::adjust`].
    pub fn adjust(&self, bucket: &str, quota: Quota, delta: i64) {
        let t = quota.interval();
        let mut b = self.lock();
        let now = (self.clock)() * TICKS_PER_NS;
        let tat = match b.tat.get_mut(bucket) {
            Some(tat) => tat,
            None => b.tat.entry(bucket.into()).or_insert(now),
        };
        let shift = t * u128::from(delta.unsigned_abs());
        *tat = if delta >= 0 {
            (*tat).max(now) + shift
        } else {
            // Giving back never fills the bucket beyond full.
            (*tat).saturating_sub(shift).max(now)
        };
    }

    /// [`Limiter::enter`], without waiting.
    pub fn enter(&self, gates: &[(Arc<str>, u32)]) -> bool {
        let mut b = self.lock();
        if gates
            .iter()
            .any(|(g, max)| b.in_flight.get(g).copied().unwrap_or(0) >= *max)
        {
            return false;
        }
        for (g, _) in gates {
            *b.in_flight.entry(g.clone()).or_insert(0) += 1;
        }
        true
    }

    /// [`Limiter::leave`].
    pub fn leave(&self, gates: &[Arc<str>]) {
        let mut b = self.lock();
        for g in gates {
            if let Some(n) = b.in_flight.get_mut(g) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    b.in_flight.remove(g);
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Limiter for LocalLimiter {
    async fn take(&self, takes: &[Take]) -> Decision {
        LocalLimiter::take(self, takes)
    }

    fn adjust(&self, bucket: &str, quota: Quota, delta: i64) {
        LocalLimiter::adjust(self, bucket, quota, delta)
    }

    async fn enter(&self, gates: &[(Arc<str>, u32)]) -> Entry {
        if LocalLimiter::enter(self, gates) {
            Entry::Entered
        } else {
            Entry::Full
        }
    }

    fn leave(&self, gates: &[Arc<str>]) {
        LocalLimiter::leave(self, gates)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use proptest::prelude::*;

    use super::*;
    use std::time::Duration;

    use crate::limiter::system_clock;

    fn manual() -> (Arc<AtomicU64>, LocalLimiter) {
        let now = Arc::new(AtomicU64::new(1_000_000_000));
        let n = now.clone();
        let l = LocalLimiter::new(Arc::new(move || u128::from(n.load(Ordering::SeqCst))));
        (now, l)
    }

    fn take(bucket: &str, quota: Quota, cost: u64) -> Take {
        Take {
            bucket: bucket.into(),
            quota,
            cost,
        }
    }

    proptest! {
        /// Over any window, a bucket admits at most `burst + window · rate` units.
        #[test]
        fn never_admits_more_than_the_quota_over_any_window(
            rate in 1u64..600,
            burst in 1u64..50,
            steps in proptest::collection::vec((0u64..3_000_000_000, 1u64..5), 1..300),
        ) {
            let quota = Quota { per_minute: rate, burst };
            let interval = quota.interval();
            let mut tat = 0u128;
            let mut now = 10_000_000_000u128 * TICKS_PER_NS;
            let mut admitted: Vec<(u128, u64)> = Vec::new();
            for (dt, cost) in steps {
                now += u128::from(dt) * TICKS_PER_NS;
                let (ok, t) = gcra(tat, now, quota, cost);
                if ok {
                    tat = t;
                    admitted.push((now, cost));
                }
            }
            for i in 0..admitted.len() {
                let mut sum = 0u128;
                for j in i..admitted.len() {
                    sum += u128::from(admitted[j].1);
                    let window = admitted[j].0 - admitted[i].0;
                    prop_assert!(
                        sum <= u128::from(burst) + window / interval,
                        "{sum} units in {window} ns (burst {burst}, interval {interval})"
                    );
                }
            }
        }

        /// A drained bucket refills at the rate: after k intervals, k more units fit (up to
        /// the burst), and not k + 1.
        #[test]
        fn refills_at_the_rate(rate in 1u64..1000, burst in 1u64..40, k in 0u64..60) {
            let quota = Quota { per_minute: rate, burst };
            let (now, l) = manual();
            let b = "k";
            for _ in 0..burst {
                prop_assert!(matches!(l.take(&[take(b, quota, 1)]), Decision::Admitted(_)));
            }
            prop_assert!(matches!(l.take(&[take(b, quota, 1)]), Decision::Refused { .. }), "refused");
            // k intervals, rounded up to whole nanoseconds (less than one more interval).
            let wait = u64::try_from((quota.interval() * u128::from(k)).div_ceil(TICKS_PER_NS)).unwrap();
            now.fetch_add(wait, Ordering::SeqCst);
            let fits = k.min(burst);
            for _ in 0..fits {
                prop_assert!(matches!(l.take(&[take(b, quota, 1)]), Decision::Admitted(_)));
            }
            prop_assert!(matches!(l.take(&[take(b, quota, 1)]), Decision::Refused { .. }), "refused");
        }
    }

    #[tokio::test]
    async fn local_limiter_conforms() {
        let failures =
            crate::limiter_conformance::run_all(|| LocalLimiter::new(system_clock())).await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn all_or_nothing_across_buckets() {
        let (_, l) = manual();
        let small = Quota::per_minute(1);
        let big = Quota::per_minute(100);
        assert!(matches!(
            l.take(&[take("t", small, 1)]),
            Decision::Admitted(_)
        ));
        // The key bucket would admit, the tenant bucket refuses: the key loses nothing.
        let d = l.take(&[take("k", big, 1), take("t", small, 1)]);
        assert!(
            matches!(
                d,
                Decision::Refused {
                    index: 1,
                    never: false,
                    ..
                }
            ),
            "{d:?}"
        );
        match l.take(&[take("k", big, 1)]) {
            Decision::Admitted(s) => assert_eq!(s[0].remaining, 99),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_and_never() {
        let (now, l) = manual();
        let q = Quota::per_minute(60); // one per second, burst 60
        assert!(matches!(l.take(&[take("k", q, 60)]), Decision::Admitted(_)));
        match l.take(&[take("k", q, 2)]) {
            Decision::Refused {
                retry_after, never, ..
            } => {
                assert!(!never);
                assert_eq!(retry_after, Duration::from_secs(2));
            }
            other => panic!("{other:?}"),
        }
        now.fetch_add(2_000_000_000, Ordering::SeqCst);
        assert!(matches!(l.take(&[take("k", q, 2)]), Decision::Admitted(_)));
        assert!(matches!(
            l.take(&[take("other", q, 61)]),
            Decision::Refused { never: true, .. }
        ));
    }

    #[test]
    fn adjust_gives_back_and_charges() {
        let (_, l) = manual();
        let q = Quota::per_minute(100);
        assert!(matches!(
            l.take(&[take("k", q, 100)]),
            Decision::Admitted(_)
        ));
        assert!(matches!(
            l.take(&[take("k", q, 1)]),
            Decision::Refused { .. }
        ));
        l.adjust("k", q, -30);
        match l.take(&[take("k", q, 30)]) {
            Decision::Admitted(s) => assert_eq!(s[0].remaining, 0),
            other => panic!("{other:?}"),
        }
        // Giving back more than was taken leaves a full bucket, not a larger one.
        l.adjust("k", q, -1000);
        assert!(matches!(
            l.take(&[take("k", q, 101)]),
            Decision::Refused { never: true, .. }
        ));
        l.adjust("k", q, 50);
        match l.take(&[take("k", q, 1)]) {
            Decision::Admitted(s) => assert_eq!(s[0].remaining, 49),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn huge_quotas_never_refuse() {
        // A trillion tokens a minute: 0.06 ns a token, which whole nanoseconds round to 0.
        let (now, l) = manual();
        let q = Quota::per_minute(1_000_000_000_000);
        for i in 0..1000u64 {
            now.fetch_add(i % 3, Ordering::SeqCst);
            assert!(matches!(
                l.take(&[take("k", q, 300)]),
                Decision::Admitted(_)
            ));
            l.adjust("k", q, -100);
        }
    }

    #[test]
    fn concurrent_takes_under_a_huge_quota_are_all_admitted() {
        // Found by the gateway benchmark: with the clock read before the lock, a request could
        // find the bucket already moved past its own `now` and be refused under any quota.
        let l = Arc::new(LocalLimiter::new(system_clock()));
        let q = Quota::per_minute(1_000_000_000_000);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    (0..20_000)
                        .filter(|_| !matches!(l.take(&[take("k", q, 300)]), Decision::Admitted(_)))
                        .count()
                })
            })
            .collect();
        let refused: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(refused, 0);
    }

    #[test]
    fn gates_count_in_flight() {
        let (_, l) = manual();
        let gates = vec![("key".into(), 2), ("tenant".into(), 3)];
        assert!(l.enter(&gates));
        assert!(l.enter(&gates));
        assert!(!l.enter(&gates));
        assert!(l.enter(&[("other".into(), 5), ("tenant".into(), 3)]));
        assert!(!l.enter(&[("other".into(), 5), ("tenant".into(), 3)]));
        l.leave(&["key".into(), "tenant".into()]);
        assert!(l.enter(&gates));
    }
}
