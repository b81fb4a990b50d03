//! Per-target circuit breaker. Closed → (N consecutive failures) → Open → (cooldown) →
//! Half-open: exactly one probe request goes through; its success closes the circuit, its
//! failure opens it again. A probe that is abandoned (client gone) frees the probe slot.
//!
//! Every state change bumps a generation number, and a permit only reports into the
//! generation it was issued in: a slow request that started before the circuit opened can
//! neither close it without a probe nor keep pushing its cooldown forward.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::{Duration, Instant};

use crate::metrics::Metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    HalfOpen,
    Open,
}

impl CircuitState {
    fn label(self) -> (&'static str, i64) {
        match self {
            CircuitState::Closed => ("closed", 0),
            CircuitState::HalfOpen => ("half_open", 1),
            CircuitState::Open => ("open", 2),
        }
    }
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// A probe is in flight.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    state: State,
    generation: u64,
}

pub struct CircuitBreaker {
    target: String,
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
}

impl CircuitBreaker {
    pub fn new(target: String, threshold: u32, cooldown: Duration, metrics: Arc<Metrics>) -> Self {
        metrics.circuit_init(&target);
        CircuitBreaker {
            target,
            threshold,
            cooldown,
            inner: Mutex::new(Inner {
                state: State::Closed { failures: 0 },
                generation: 0,
            }),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each update is a plain assignment, so a poisoned lock still holds a valid state.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn transition(&self, inner: &mut Inner, next: State) {
        let new = public(&next);
        if public(&inner.state) != new {
            inner.generation += 1;
            let (label, value) = new.label();
            self.metrics.circuit(&self.target, label, value);
            tracing::warn!(target_name = %self.target, state = label, "circuit breaker transition");
        }
        inner.state = next;
    }

    /// Asks to send a request. `None` means the target is ejected right now.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed { .. } => Some(Permit::new(self.clone(), false, inner.generation)),
            State::Open { until } if Instant::now() >= until => {
                self.transition(&mut inner, State::HalfOpen);
                Some(Permit::new(self.clone(), true, inner.generation))
            }
            State::Open { .. } | State::HalfOpen => None,
        }
    }

    pub fn state(&self) -> CircuitState {
        public(&self.lock().state)
    }

    /// Whether a request could be sent now (closed, or open with the cooldown over).
    pub fn available(&self) -> bool {
        match self.lock().state {
            State::Closed { .. } => true,
            State::Open { until } => Instant::now() >= until,
            State::HalfOpen => false,
        }
    }

    /// Time until an ejected target may be probed again.
    pub fn retry_in(&self) -> Duration {
        match self.lock().state {
            State::Open { until } => until.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        }
    }

    /// A failure noticed after the permit was settled (a stream that broke midway).
    pub fn report_failure(&self) {
        let mut inner = self.lock();
        let generation = inner.generation;
        self.fail(&mut inner, generation);
    }

    fn succeed(&self, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation {
            self.transition(&mut inner, State::Closed { failures: 0 });
        }
    }

    fn fail(&self, inner: &mut Inner, generation: u64) {
        if inner.generation != generation {
            return;
        }
        let next = match inner.state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            State::Open { .. } => return,
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
        self.transition(inner, next);
    }

    fn abandon_probe(&self, generation: u64) {
        let mut inner = self.lock();
        if inner.generation == generation && matches!(inner.state, State::HalfOpen) {
            // Let the next request probe at once.
            self.transition(
                &mut inner,
                State::Open {
                    until: Instant::now(),
                },
            );
        }
    }
}

fn public(s: &State) -> CircuitState {
    match s {
        State::Closed { .. } => CircuitState::Closed,
        State::Open { .. } => CircuitState::Open,
        State::HalfOpen => CircuitState::HalfOpen,
    }
}

/// Permission to send one request; settle it with `success`, `failure` or `neutral`.
pub struct Permit {
    breaker: Arc<CircuitBreaker>,
    probe: bool,
    generation: u64,
    settled: bool,
}

impl Permit {
    fn new(breaker: Arc<CircuitBreaker>, probe: bool, generation: u64) -> Self {
        Permit {
            breaker,
            probe,
            generation,
            settled: false,
        }
    }

    pub fn success(mut self) {
        self.settled = true;
        self.breaker.succeed(self.generation);
    }

    pub fn failure(mut self) {
        self.settled = true;
        let mut inner = self.breaker.lock();
        self.breaker.fail(&mut inner, self.generation);
    }

    /// The outcome says nothing about the target (e.g. the request ran out of its own time).
    pub fn neutral(self) {
        drop(self);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.abandon_probe(self.generation);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32) -> Arc<CircuitBreaker> {
        Arc::new(CircuitBreaker::new(
            "t".into(),
            threshold,
            Duration::from_secs(10),
            Arc::new(Metrics::new()),
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_and_recovers_through_one_probe() {
        let b = breaker(3);
        for _ in 0..2 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!(b.state(), CircuitState::Closed);
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.try_acquire().is_none());
        tokio::time::advance(Duration::from_secs(10)).await;
        let probe = b.try_acquire().unwrap();
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(b.try_acquire().is_none(), "only one probe at a time");
        probe.success();
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens_and_abandoned_probe_frees_the_slot() {
        let b = breaker(1);
        b.try_acquire().unwrap().failure();
        tokio::time::advance(Duration::from_secs(10)).await;
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.retry_in() > Duration::from_secs(9));
        tokio::time::advance(Duration::from_secs(10)).await;
        drop(b.try_acquire().unwrap());
        assert!(
            b.try_acquire().is_some(),
            "abandoned probe must not wedge the breaker"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn late_results_from_before_the_opening_are_ignored() {
        let b = breaker(1);
        let slow_ok = b.try_acquire().unwrap();
        let slow_fail = b.try_acquire().unwrap();
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Open);
        let until = b.retry_in();
        slow_ok.success();
        assert_eq!(
            b.state(),
            CircuitState::Open,
            "a late success must not close it"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        slow_fail.failure();
        assert!(
            b.retry_in() < until,
            "a late failure must not extend the cooldown"
        );
    }

    #[tokio::test]
    async fn success_resets_the_count_and_reported_failures_count() {
        let b = breaker(2);
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().success();
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Closed);
        b.report_failure();
        assert_eq!(b.state(), CircuitState::Open);
    }
}
