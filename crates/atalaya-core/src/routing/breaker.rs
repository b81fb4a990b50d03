//! Per-target circuit breaker. Closed → (N consecutive failures) → Open → (cooldown) →
//! Half-open: exactly one probe request goes through; its success closes the circuit, its
//! failure opens it again. A probe that is abandoned (client gone) frees the probe slot.

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

pub struct CircuitBreaker {
    target: String,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

impl CircuitBreaker {
    pub fn new(target: String, threshold: u32, cooldown: Duration, metrics: Arc<Metrics>) -> Self {
        CircuitBreaker {
            target,
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state inconsistent (each update
        // is one assignment), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn transition(&self, state: &mut State, next: State) {
        let new = public(&next);
        if public(state) != new {
            let (label, value) = new.label();
            self.metrics.circuit(&self.target, label, value);
            tracing::warn!(target_name = %self.target, state = label, "circuit breaker transition");
        }
        *state = next;
    }

    /// Asks to send a request. `None` means the target is ejected right now.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut st = self.lock();
        match *st {
            State::Closed { .. } => Some(Permit::new(self.clone(), false)),
            State::Open { until } if Instant::now() >= until => {
                self.transition(&mut st, State::HalfOpen);
                Some(Permit::new(self.clone(), true))
            }
            State::Open { .. } | State::HalfOpen => None,
        }
    }

    pub fn state(&self) -> CircuitState {
        public(&self.lock())
    }

    /// Whether a request could be sent now (closed, or open with the cooldown over).
    pub fn available(&self) -> bool {
        match *self.lock() {
            State::Closed { .. } => true,
            State::Open { until } => Instant::now() >= until,
            State::HalfOpen => false,
        }
    }

    /// Time until an ejected target may be probed again.
    pub fn retry_in(&self) -> Duration {
        match *self.lock() {
            State::Open { until } => until.saturating_duration_since(Instant::now()),
            _ => Duration::ZERO,
        }
    }

    fn on_success(&self) {
        let mut st = self.lock();
        self.transition(&mut st, State::Closed { failures: 0 });
    }

    fn on_failure(&self) {
        let mut st = self.lock();
        let next = match *st {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            _ => State::Open {
                until: Instant::now() + self.cooldown,
            },
        };
        self.transition(&mut st, next);
    }

    fn on_abandoned_probe(&self) {
        let mut st = self.lock();
        if matches!(*st, State::HalfOpen) {
            // Let the next request probe at once.
            self.transition(
                &mut st,
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

/// Permission to send one request; report its outcome with `success` or `failure`.
pub struct Permit {
    breaker: Arc<CircuitBreaker>,
    probe: bool,
    settled: bool,
}

impl Permit {
    fn new(breaker: Arc<CircuitBreaker>, probe: bool) -> Self {
        Permit {
            breaker,
            probe,
            settled: false,
        }
    }

    pub fn success(mut self) {
        self.settled = true;
        self.breaker.on_success();
    }

    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.on_failure();
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled && self.probe {
            self.breaker.on_abandoned_probe();
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

    #[tokio::test]
    async fn success_resets_the_count() {
        let b = breaker(2);
        b.try_acquire().unwrap().failure();
        b.try_acquire().unwrap().success();
        b.try_acquire().unwrap().failure();
        assert_eq!(b.state(), CircuitState::Closed);
    }
}
